//! Serving a replay to browsers: a thread that plays a recording at real time (or 0.5× to
//! 4×), takes the place of the simulation thread behind the same network layer, and sends
//! every connected client, as a spectator, the snapshots of the replayed world through the
//! same framing and send queues as a live game.
//!
//! Spectators get `Welcome` with client and entity id 0 (the recorded players own the real
//! ids), then a `ReplayStatus` and a `Snapshot` at the snapshot rate while playing, and both
//! at once after any `ReplayControl` (the snapshot only if the shown tick changed: a client
//! that has a tick's state is not sent it again). Snapshots are deltas as in a live game; a
//! seek starts a new replication epoch, so the first snapshot after it is a keyframe. All
//! spectators share one playback, like a watch party: anyone's controls apply to everyone. At the end playback pauses; Play from there restarts.
//! Seeking goes back to the replayer's nearest keyframe and re-simulates from there (at most one
//! keyframe interval: a few milliseconds).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use shared::snapshot::{Frame, Replicator};
use shared::{ClientMessage, ReplayCommand, ServerMessage, Welcome, codec};

use super::reader::Recording;
use super::replay::Replayer;
use crate::bridge::{ClientId, Delivery, OutFrame, StateUpdate, ToNet, ToSim};
use crate::clock::{FixedClock, MAX_CATCH_UP_TICKS, Poll};
use crate::sim::game::Catalog;
use crate::sim::journal::JournalEntry;
use crate::sim::systems::chat::chat_frame;
use crate::sim::systems::snapshot::ScoreboardSync;

/// How long the thread waits for network events while nothing is due.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// The running replay thread.
pub struct ReplayThread {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl ReplayThread {
    /// Starts serving `recording` to the clients the network layer reports.
    pub fn spawn(
        recording: Recording,
        catalog: Catalog,
        from_net: Receiver<ToSim>,
        to_net: Sender<ToNet>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::Builder::new().name("replay".into()).spawn(move || {
            if let Err(e) = Playback::run(&recording, &catalog, &from_net, &to_net, &flag) {
                tracing::error!("{e}");
            }
        })?;
        Ok(ReplayThread { handle, stop })
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) -> thread::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join()
    }
}

struct Playback<'r> {
    replayer: Replayer<'r>,
    /// Connected clients, and whether each has been welcomed.
    spectators: BTreeMap<ClientId, bool>,
    paused: bool,
    speed_percent: u16,
    clock: FixedClock,
    clock_start: Instant,
    last_snapshot: Option<Instant>,
    reported_divergence: bool,
    /// The last seek asked for in the current batch of events: a seek re-simulates from a
    /// keyframe, so a burst of seeks costs one re-simulation, not one each.
    pending_seek: Option<u64>,
    replicator: Replicator,
    /// The frame of the tick shown now, once made.
    frame: Option<Arc<Frame>>,
    scoreboard: ScoreboardSync,
    out: Vec<ToNet>,
}

impl<'r> Playback<'r> {
    fn run(
        recording: &'r Recording,
        catalog: &Catalog,
        from_net: &Receiver<ToSim>,
        to_net: &Sender<ToNet>,
        stop: &AtomicBool,
    ) -> Result<(), super::replay::ReplayError> {
        let replayer = Replayer::new(recording, true, catalog)?;
        let schema = replayer.schema();
        let rate = u32::from(recording.header.tick_rate);
        let mut playback = Playback {
            replayer,
            spectators: BTreeMap::new(),
            paused: false,
            speed_percent: 100,
            clock: FixedClock::new(rate, MAX_CATCH_UP_TICKS),
            clock_start: Instant::now(),
            last_snapshot: None,
            reported_divergence: false,
            pending_seek: None,
            replicator: Replicator::new(schema, recording.header.tick_rate),
            frame: None,
            scoreboard: ScoreboardSync::default(),
            out: Vec::new(),
        };
        tracing::info!(end_tick = playback.replayer.end_tick(), "replay ready");
        while !stop.load(Ordering::Relaxed) {
            let wait = if playback.playing() {
                playback.clock.next_deadline().saturating_sub(playback.clock_start.elapsed()).min(IDLE_WAIT)
            } else {
                IDLE_WAIT
            };
            match from_net.recv_timeout(wait) {
                Ok(event) => {
                    playback.on_event(event);
                    for event in from_net.try_iter() {
                        playback.on_event(event);
                    }
                    playback.apply_seek();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            playback.advance();
            for message in playback.out.drain(..) {
                let _ = to_net.send(message);
            }
        }
        Ok(())
    }

    fn playing(&self) -> bool {
        !self.paused && self.replayer.tick() < self.replayer.end_tick()
    }

    fn restart_clock(&mut self) {
        let rate = u32::from(self.replayer.recording().header.tick_rate) * u32::from(self.speed_percent) / 100;
        self.clock = FixedClock::new(rate.max(1), MAX_CATCH_UP_TICKS);
        self.clock_start = Instant::now();
    }

    /// Runs the ticks that are due, and sends the state at the snapshot rate.
    fn advance(&mut self) {
        if !self.playing() {
            return;
        }
        if let Poll::Run { ticks, .. } = self.clock.poll(self.clock_start.elapsed()) {
            for _ in 0..ticks {
                if let Err(divergence) = self.replayer.step()
                    && !self.reported_divergence
                {
                    tracing::warn!("{divergence}");
                    self.reported_divergence = true;
                }
                self.play_chat();
                if self.replayer.tick() >= self.replayer.end_tick() {
                    self.paused = true;
                    self.broadcast_state();
                    return;
                }
            }
        }
        let rate = f64::from(self.replayer.recording().header.snapshot_rate.max(1));
        let due = self.last_snapshot.is_none_or(|at| at.elapsed().as_secs_f64() >= 1.0 / rate);
        if due {
            self.broadcast_state();
        }
    }

    /// Broadcasts the chat lines recorded at the tick just played. Seeks skip the lines they
    /// pass over.
    fn play_chat(&mut self) {
        let tick = self.replayer.tick();
        let Some(entries) = self.replayer.recording().ticks.get(&tick) else { return };
        for entry in entries {
            if let JournalEntry::Chat { client, name, text } = entry {
                self.out.push(chat_frame(*client, name.clone(), tick, text.clone()));
            }
        }
    }

    fn on_event(&mut self, event: ToSim) {
        match event {
            ToSim::Connected { client, .. } => {
                self.spectators.insert(client, false);
            }
            ToSim::Disconnected { client } => {
                self.spectators.remove(&client);
            }
            ToSim::Message { client, message: ClientMessage::Hello { .. } } => self.welcome(client),
            ToSim::Message { message: ClientMessage::ReplayControl(command), .. } => {
                self.control(command);
                if self.pending_seek.is_none() {
                    self.broadcast_state();
                }
            }
            // Spectators do not play; pings are answered by the network layer.
            // Viewers' chat is answered by the network layer ("chat is off in replays").
            ToSim::Message {
                message: ClientMessage::Input(_) | ClientMessage::Ping { .. } | ClientMessage::Chat { .. },
                ..
            } => {}
            // Announcements are refused before they reach a replay (404).
            ToSim::Announce { .. } => {}
        }
    }

    fn control(&mut self, command: ReplayCommand) {
        match command {
            ReplayCommand::Play => {
                if self.replayer.tick() >= self.replayer.end_tick() {
                    self.replayer.seek(0);
                    self.replicator.restart();
                }
                self.paused = false;
            }
            ReplayCommand::Pause => self.paused = true,
            ReplayCommand::Speed(percent) => self.speed_percent = percent,
            ReplayCommand::Seek(tick) => self.pending_seek = Some(tick.min(self.replayer.end_tick())),
        }
        self.restart_clock();
    }

    /// Performs the last seek of the batch, if any, and shows its result.
    fn apply_seek(&mut self) {
        if let Some(tick) = self.pending_seek.take() {
            self.replayer.seek(tick);
            self.replicator.restart();
            self.restart_clock();
            self.broadcast_state();
        }
    }

    fn welcome(&mut self, client: ClientId) {
        let Some(welcomed) = self.spectators.get_mut(&client) else { return };
        *welcomed = true;
        let header = &self.replayer.recording().header;
        let welcome = ServerMessage::Welcome(Welcome {
            client_id: 0,
            entity_id: 0,
            tick_rate: header.tick_rate,
            snapshot_rate: header.snapshot_rate,
            schema: self.replicator.schema().clone(),
            map: header.map.clone(),
        });
        if let Ok(bytes) = codec::encode(&welcome) {
            self.out.push(ToNet::Send { client, frame: OutFrame::reliable(bytes) });
            self.out.push(ToNet::Subscribe { client });
        }
        self.scoreboard.newcomers.push(client);
        self.send_state(Some(client));
    }

    /// Queues the status and the current tick's state for every welcomed spectator.
    fn broadcast_state(&mut self) {
        self.last_snapshot = Some(Instant::now());
        self.send_state(None);
    }

    /// Queues the status, the scoreboard where due, and the current tick's state for `only`
    /// or every welcomed spectator. The state is replicated once per shown tick, and a seek
    /// (which restarts the replicator) always makes a new one.
    fn send_state(&mut self, only: Option<ClientId>) {
        let welcomed: Vec<ClientId> = match only {
            Some(client) => vec![client],
            None => self.spectators.iter().filter(|(_, w)| **w).map(|(c, _)| *c).collect(),
        };
        if welcomed.is_empty() {
            return;
        }
        let tick = self.replayer.tick();
        let status = ServerMessage::ReplayStatus {
            tick,
            end_tick: self.replayer.end_tick(),
            paused: !self.playing(),
            speed_percent: self.speed_percent,
        };
        if let Ok(bytes) = codec::encode(&status) {
            let frame = OutFrame { bytes: bytes.into(), delivery: Delivery::LatestStatus };
            for client in &welcomed {
                self.out.push(ToNet::Send { client: *client, frame: frame.clone() });
            }
        }
        let (entities, scores) = self.replayer.state();
        self.scoreboard.sync(&scores, &mut self.out);
        let frame = match &self.frame {
            Some(frame) if frame.tick == tick && frame.epoch == self.replicator.epoch() => frame.clone(),
            _ => self.replicator.update(tick, &entities),
        };
        self.frame = Some(frame.clone());
        self.out.push(ToNet::State(StateUpdate { frame, only, acks: Vec::new() }));
    }
}
