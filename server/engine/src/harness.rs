//! Steps a [`Simulation`] in memory with no sockets and no clock: clients join, send inputs
//! and read what the simulation would send them. Stands in for the network side as well:
//! each client is sent the delta from the last state it was sent, through the real encoder
//! and decoder, and holds the decoded world in a [`ClientState`]. Used by tests, benchmarks
//! and tools.
//!
//! Above `sim` and `record`, not inside `sim`: it can hand each step to a recording's
//! [`Recorder`], which the simulation never sees.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use shared::snapshot::{ClientState, Frame, Snapshot};
use shared::{ClientMessage, EntityState, GameInput, InputFrame, MapData, PROTOCOL_VERSION, ServerMessage, codec};

use crate::bridge::{ClientId, ToNet, ToSim};
use crate::record::writer::{Recorder, Writer, header_for};
use crate::sim::Simulation;
use crate::sim::game::{Game, GameError};
use crate::sim::resources::SimSettings;

/// A simulation plus per-client mailboxes of decoded server messages.
pub struct Harness {
    /// The simulation under test.
    pub sim: Simulation,
    mail: BTreeMap<ClientId, Vec<ServerMessage>>,
    closed: BTreeMap<ClientId, shared::DisconnectReason>,
    subscribed: BTreeSet<ClientId>,
    views: BTreeMap<ClientId, (Option<Arc<Frame>>, ClientState)>,
    last_frame: Option<Arc<Frame>>,
    recorder: Option<Recorder>,
    /// The file [`Harness::record_to`] writes.
    writer: Option<Writer>,
    /// What the router does with the simulation's changes.
    framer: crate::bridge::Framer,
}

impl Harness {
    /// A fresh simulation of `game`.
    pub fn new<G: Game>(game: G, settings: SimSettings, map: MapData) -> Result<Self, GameError> {
        Ok(Self::of(Simulation::new(game, settings, map)?))
    }

    /// A harness around `sim`.
    pub fn of(sim: Simulation) -> Self {
        Harness {
            sim,
            mail: BTreeMap::new(),
            closed: BTreeMap::new(),
            subscribed: BTreeSet::new(),
            views: BTreeMap::new(),
            last_frame: None,
            framer: crate::bridge::Framer::default(),
            recorder: None,
            writer: None,
        }
    }

    /// Records every later step through `recorder` (see `record::writer`).
    pub fn record(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// Records every later step into a new file at `path`, with a checksum every
    /// `checksum_interval` ticks; [`Harness::finish_recording`] completes it.
    pub fn record_to(&mut self, path: &Path, checksum_interval: u32) -> std::io::Result<()> {
        let (writer, tx) = Writer::create(path, &header_for(&self.sim, checksum_interval, 0))?;
        let recorder = Recorder::attach(&mut self.sim, tx, checksum_interval);
        self.record(recorder);
        self.writer = Some(writer);
        Ok(())
    }

    /// Ends the recording, marking it complete; for [`Harness::record_to`]'s, waits until
    /// its file is written.
    pub fn finish_recording(&mut self) -> std::io::Result<()> {
        if let Some(recorder) = self.recorder.take() {
            recorder.finish(&self.sim);
        }
        match self.writer.take() {
            Some(writer) => writer.join().map(drop),
            None => Ok(()),
        }
    }

    /// Connects `client` and sends its `Hello`; the join takes effect on the next step.
    pub fn connect(&mut self, client: u32, name: &str) -> ClientId {
        self.hello(client, name, false)
    }

    /// Connects `client` as a spectator.
    pub fn spectate(&mut self, client: u32, name: &str) -> ClientId {
        self.hello(client, name, true)
    }

    fn hello(&mut self, client: u32, name: &str, spectate: bool) -> ClientId {
        let client = ClientId(client);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        self.sim.push(ToSim::Connected { client, addr });
        let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.into(), spectate };
        self.sim.push(ToSim::Message { client, message: hello });
        client
    }

    /// Queues a chat line for the next step.
    pub fn chat(&mut self, client: ClientId, text: &str) {
        self.sim.push(ToSim::Message { client, message: ClientMessage::Chat { text: text.into() } });
    }

    /// Queues a server announcement for the next step.
    pub fn announce(&mut self, text: &str) {
        self.sim.push(ToSim::Announce { text: text.into() });
    }

    /// Queues an input frame for the next step.
    pub fn input(&mut self, client: ClientId, frame: InputFrame) {
        self.sim.push(ToSim::Message { client, message: ClientMessage::Input(frame) });
    }

    /// Queues the game input `input` as input number `seq` (view tick unknown) for the next
    /// step.
    pub fn play<I: GameInput>(&mut self, client: ClientId, seq: u32, input: &I) {
        self.input(client, InputFrame::new(seq, 0, input));
    }

    /// Disconnects a client.
    pub fn disconnect(&mut self, client: ClientId) {
        self.sim.push(ToSim::Disconnected { client });
        self.subscribed.remove(&client);
        self.views.remove(&client);
    }

    /// Runs `ticks` steps, decoding everything sent into the mailboxes.
    pub fn step(&mut self, ticks: u32) {
        for _ in 0..ticks {
            self.sim.step();
            if let Some(recorder) = &self.recorder {
                recorder.after_step(&mut self.sim);
            }
            for out in self.sim.take_outbound() {
                self.deliver(out);
            }
        }
    }

    /// What the network side would do with one message from the simulation.
    fn deliver(&mut self, out: ToNet) {
        match out {
            ToNet::Send { client, frame } => {
                if let Ok(msg) = codec::decode_server(&frame.bytes) {
                    self.mail.entry(client).or_default().push(msg);
                }
            }
            ToNet::Broadcast { frame } => {
                if let Ok(msg) = codec::decode_server(&frame.bytes) {
                    for client in &self.subscribed {
                        self.mail.entry(*client).or_default().push(msg.clone());
                    }
                }
            }
            ToNet::Subscribe { client } => {
                self.subscribed.insert(client);
            }
            ToNet::Changes(update) => {
                let state = self.framer.frame(update);
                self.deliver(ToNet::State(state));
            }
            ToNet::State(update) => {
                let rate = self.sim.settings().tick_rate;
                let schema = self.sim.schema();
                for &client in self.subscribed.iter().filter(|c| update.only.is_none_or(|only| only == **c)) {
                    let (baseline, state) =
                        self.views.entry(client).or_insert_with(|| (None, ClientState::new(schema.clone(), rate)));
                    let base = baseline.as_deref().filter(|b| b.can_base(&update.frame));
                    let mut bytes = codec::snapshot_head(update.ack(client));
                    Snapshot::between(base, &update.frame).write_body(&mut bytes);
                    if let Ok(ServerMessage::Snapshot(snapshot)) = codec::decode_server_with(&bytes, &schema) {
                        if let Err(e) = state.apply(&snapshot) {
                            tracing::error!(%client, "snapshot does not apply: {e}");
                        }
                        self.mail.entry(client).or_default().push(ServerMessage::Snapshot(snapshot));
                    }
                    *baseline = Some(update.frame.clone());
                }
                self.last_frame = Some(update.frame);
            }
            ToNet::Close { client, reason, .. } => {
                self.closed.insert(client, reason);
                self.subscribed.remove(&client);
            }
        }
    }

    /// The world as `client` decoded it from its snapshots.
    pub fn client_state(&self, client: ClientId) -> Option<&ClientState> {
        self.views.get(&client).map(|(_, state)| state)
    }

    /// The last frame sent to the subscribers.
    pub fn last_frame(&self) -> Option<&Frame> {
        self.last_frame.as_deref()
    }

    /// Takes the messages sent to `client` so far.
    pub fn take_mail(&mut self, client: ClientId) -> Vec<ServerMessage> {
        self.mail.remove(&client).unwrap_or_default()
    }

    /// Why the simulation closed `client`, if it did.
    pub fn closed(&self, client: ClientId) -> Option<shared::DisconnectReason> {
        self.closed.get(&client).copied()
    }

    /// The replicated state of every entity now, in id order.
    pub fn entities(&mut self) -> Vec<EntityState> {
        self.sim.state().0
    }

    /// The player entity of `client`, if it has one.
    pub fn player(&mut self, client: ClientId) -> Option<EntityState> {
        let schema = self.sim.schema();
        let avatar = |kind| schema.kind(kind).is_some_and(|k| k.avatar);
        self.entities().into_iter().find(|e| avatar(e.kind) && e.owner == client.0)
    }
}
