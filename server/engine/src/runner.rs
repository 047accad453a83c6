//! The simulation threads: a fixed pool (`--sim-threads`) that steps every room of the
//! process. Each room lives on one thread for its whole life, so its ticks are serial and
//! deterministic; each has its own [`FixedClock`], so no room waits for another's schedule.
//! A thread steps whichever of its rooms is due, hands the frames to its router lane
//! ([`RouterPool::lane`]) and sleeps until the next room is due or a room arrives. It never
//! waits on a socket: receiving is `try_iter`, sending is to an unbounded channel.
//!
//! It stands above `sim`, `record` and `metrics`, since it hands each step to the recorder and
//! the tick timings to the metrics: the simulation itself knows neither.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::bridge::ToSim;
use crate::clock::{FixedClock, MAX_CATCH_UP_TICKS, Poll};
use crate::metrics::Metrics;
use crate::net::replication::router::{Batch, Route, RouterPool};
use crate::record::writer::Recorder;
use crate::sim::Simulation;
use crate::sim::stats::TickStats;

/// How often tick timings are logged.
const REPORT_EVERY: Duration = Duration::from_secs(30);
/// The longest a thread sleeps with nothing due (it wakes at once for a new room).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// A room's key in the pool.
pub type RoomKey = u64;

/// What a simulation thread needs of one room.
pub struct RoomSim {
    /// The world.
    pub sim: Simulation,
    /// Events from the room's sessions.
    pub from_net: Receiver<ToSim>,
    /// Where its frames go.
    pub route: Arc<Route>,
    /// Its recording, if recorded.
    pub recorder: Option<Recorder>,
    /// Its tick statistics (`/stats`, readiness, the room list).
    pub stats: Arc<TickStats>,
    /// Whether its entity counts are the process's entity gauges. One room's only: the gauges
    /// have no room label, which would be a series per room.
    pub sampled: bool,
}

enum Control {
    Add(RoomKey, Box<RoomSim>),
    Remove(RoomKey, Sender<Simulation>),
}

struct Worker {
    control: Sender<Control>,
    rooms: Arc<AtomicUsize>,
    handle: JoinHandle<()>,
}

/// The pool of simulation threads.
pub struct SimPool {
    workers: Vec<Worker>,
    /// Which thread holds each room.
    placed: Mutex<HashMap<RoomKey, usize>>,
}

impl SimPool {
    /// Starts `threads` simulation threads (at least one), thread `n` routing on lane `n` of
    /// `routers`, with tick timings published to `metrics`.
    pub fn spawn(threads: usize, routers: &RouterPool, metrics: Arc<Metrics>) -> std::io::Result<SimPool> {
        let mut workers = Vec::new();
        for n in 0..threads.max(1) {
            let (control, inbox) = crossbeam_channel::unbounded();
            let rooms = Arc::new(AtomicUsize::new(0));
            let (lane, metrics, count) = (routers.lane(n), metrics.clone(), rooms.clone());
            let handle = thread::Builder::new()
                .name(format!("simulation-{n}"))
                .spawn(move || run(n, &inbox, &lane, &metrics, &count))?;
            workers.push(Worker { control, rooms, handle });
        }
        Ok(SimPool { workers, placed: Mutex::default() })
    }

    /// Starts stepping `room` on the thread with the fewest rooms; its first tick is due now.
    pub fn add(&self, key: RoomKey, room: RoomSim) {
        let mut placed = self.placed.lock().unwrap_or_else(PoisonError::into_inner);
        let least = self.workers.iter().enumerate().min_by_key(|(_, w)| w.rooms.load(Ordering::Relaxed));
        // `spawn` starts at least one thread.
        let Some((n, worker)) = least else { return };
        worker.rooms.fetch_add(1, Ordering::Relaxed);
        placed.insert(key, n);
        // Fails only if the thread died, which `stop` reports.
        let _ = worker.control.send(Control::Add(key, Box::new(room)));
    }

    /// Stops stepping a room after its current tick, finishes its recording, and returns its
    /// world; `None` if the pool does not hold it (or its thread died).
    pub fn remove(&self, key: RoomKey) -> Option<Simulation> {
        let n = self.placed.lock().unwrap_or_else(PoisonError::into_inner).remove(&key)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.workers[n].control.send(Control::Remove(key, tx)).ok()?;
        rx.recv().ok()
    }

    /// Stops every thread after its current tick, finishing every room's recording; false if a
    /// thread panicked.
    pub fn stop(self) -> bool {
        let handles: Vec<_> = self.workers.into_iter().map(|w| w.handle).collect();
        // Every thread is joined, even after one that panicked.
        let mut ok = true;
        for handle in handles {
            ok &= handle.join().is_ok();
        }
        ok
    }
}

/// One room on its thread.
struct Running {
    key: RoomKey,
    room: RoomSim,
    clock: FixedClock,
    started: Instant,
}

impl Running {
    /// Runs the ticks due, if any; returns how long until the next is due (zero after running,
    /// so the thread sees to its other rooms before catching this one up further).
    fn advance(&mut self, lane: &Sender<Batch>, metrics: &Metrics, report: &mut TickReport) -> Duration {
        let (ticks, dropped) = match self.clock.poll(self.started.elapsed()) {
            Poll::Wait(wait) => return wait,
            Poll::Run { ticks, dropped } => (ticks, dropped),
        };
        if dropped > 0 {
            tracing::warn!(room = self.key, dropped, "simulation fell behind; dropped ticks to catch up");
            metrics.ticks_dropped(dropped);
        }
        let room = &mut self.room;
        let tick_rate = u64::from(room.sim.settings().tick_rate.max(1));
        for _ in 0..ticks {
            for event in room.from_net.try_iter() {
                room.sim.push(event);
            }
            let began = Instant::now();
            room.sim.step();
            let took = began.elapsed();
            report.record(room.sim.tick(), took, self.clock.dt());
            room.stats.record(room.sim.tick(), took);
            room.stats.set_player_slots_free(room.sim.player_slots_free());
            metrics.tick(took, self.clock.dt());
            if let Some(recorder) = &room.recorder {
                recorder.after_step(&mut room.sim);
            }
            let out = room.sim.take_outbound();
            if !out.is_empty() {
                // Fails only when the router is gone, i.e. during shutdown.
                let _ = lane.send((room.route.clone(), out));
            }
            if room.sampled && room.sim.tick().is_multiple_of(tick_rate) {
                metrics.sample(&mut room.sim, room.recorder.as_ref());
            }
        }
        Duration::ZERO
    }

    fn finish(self) -> Simulation {
        let Running { key, room, .. } = self;
        tracing::info!(room = key, tick = room.sim.tick(), "simulation stopped");
        if let Some(recorder) = room.recorder {
            recorder.finish(&room.sim);
        }
        room.sim
    }
}

fn run(n: usize, inbox: &Receiver<Control>, lane: &Sender<Batch>, metrics: &Metrics, count: &AtomicUsize) {
    let mut rooms: Vec<Running> = Vec::new();
    let mut report = TickReport::new(n);
    loop {
        let mut wait = IDLE_WAIT;
        for room in &mut rooms {
            wait = wait.min(room.advance(lane, metrics, &mut report));
        }
        report.maybe_report(rooms.len());
        match inbox.recv_timeout(wait) {
            Ok(Control::Add(key, room)) => {
                let tick_rate = room.sim.settings().tick_rate;
                tracing::info!(room = key, tick_rate, thread = n, "simulation started");
                let clock = FixedClock::new(u32::from(tick_rate), MAX_CATCH_UP_TICKS);
                rooms.push(Running { key, room: *room, clock, started: Instant::now() });
            }
            Ok(Control::Remove(key, reply)) => {
                if let Some(at) = rooms.iter().position(|r| r.key == key) {
                    count.fetch_sub(1, Ordering::Relaxed);
                    let _ = reply.send(rooms.swap_remove(at).finish());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    tracing::info!(thread = n, overruns = report.overruns_total, "simulation thread stopped");
    for room in rooms {
        room.finish();
    }
}

/// One thread's tick durations over a reporting window (every room it steps), and overruns
/// (ticks longer than their `dt`).
struct TickReport {
    thread: usize,
    window: Vec<Duration>,
    since: Instant,
    overruns_total: u64,
    overruns_window: u64,
}

impl TickReport {
    fn new(thread: usize) -> Self {
        TickReport { thread, window: Vec::new(), since: Instant::now(), overruns_total: 0, overruns_window: 0 }
    }

    fn record(&mut self, tick: u64, took: Duration, dt: Duration) {
        if took > dt {
            self.overruns_total += 1;
            self.overruns_window += 1;
            // Logged at debug per tick, summarized at info in `maybe_report`.
            tracing::debug!(tick, took_us = took.as_micros() as u64, "tick overran its budget");
        }
        self.window.push(took);
    }

    fn maybe_report(&mut self, rooms: usize) {
        if self.since.elapsed() < REPORT_EVERY || self.window.is_empty() {
            return;
        }
        self.window.sort_unstable();
        let at = |q: f64| self.window[((self.window.len() - 1) as f64 * q) as usize].as_micros() as u64;
        let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
        let (ticks, thread) = (self.window.len(), self.thread);
        if self.overruns_window > 0 {
            tracing::warn!(
                thread,
                rooms,
                ticks,
                p50_us = p50,
                p99_us = p99,
                max_us = max,
                overruns = self.overruns_window,
                "tick timings"
            );
        } else {
            tracing::info!(thread, rooms, ticks, p50_us = p50, p99_us = p99, max_us = max, "tick timings");
        }
        self.window.clear();
        self.overruns_window = 0;
        self.since = Instant::now();
    }
}
