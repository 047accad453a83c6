//! The simulation thread: a [`FixedClock`] paces [`Simulation::step`], events come in from
//! the network and frames go out to it over the bridge's crossbeam channels. It never waits
//! on a socket: receiving is `try_iter`, sending is to an unbounded channel.
//!
//! It stands above `sim`, `record` and `metrics`, since it hands each step to the recorder and
//! the tick timings to the metrics: the simulation itself knows neither.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::bridge::{ToNet, ToSim};
use crate::clock::{FixedClock, MAX_CATCH_UP_TICKS, Poll};
use crate::metrics::Metrics;
use crate::record::writer::Recorder;
use crate::sim::Simulation;
use crate::sim::stats::TickStats;

/// How often tick timings are logged.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// The running simulation thread.
pub struct SimThread {
    handle: JoinHandle<Simulation>,
    stop: Arc<AtomicBool>,
}

impl SimThread {
    /// Starts stepping `sim` at `tick_rate` on a new thread, recording it if `recorder` is set
    /// and publishing tick timings to `shared_stats` and `metrics`.
    pub fn spawn(
        sim: Simulation,
        tick_rate: u16,
        from_net: Receiver<ToSim>,
        to_net: Sender<ToNet>,
        recorder: Option<Recorder>,
        shared_stats: Arc<TickStats>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<SimThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::Builder::new()
            .name("simulation".into())
            .spawn(move || run(sim, tick_rate, &from_net, &to_net, recorder, &shared_stats, &metrics, &flag))?;
        Ok(SimThread { handle, stop })
    }

    /// Asks the thread to stop after the current tick and waits for it; returns the world.
    pub fn stop(self) -> thread::Result<Simulation> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join()
    }
}

#[allow(clippy::too_many_arguments, reason = "the thread's whole world, passed once at spawn")]
fn run(
    mut sim: Simulation,
    tick_rate: u16,
    from_net: &Receiver<ToSim>,
    to_net: &Sender<ToNet>,
    recorder: Option<Recorder>,
    shared_stats: &TickStats,
    metrics: &Metrics,
    stop: &AtomicBool,
) -> Simulation {
    let mut clock = FixedClock::new(u32::from(tick_rate), MAX_CATCH_UP_TICKS);
    let mut stats = TickReport::new(clock.dt());
    let start = Instant::now();
    tracing::info!(tick_rate, "simulation started");
    while !stop.load(Ordering::Relaxed) {
        match clock.poll(start.elapsed()) {
            Poll::Wait(wait) => thread::sleep(wait),
            Poll::Run { ticks, dropped } => {
                if dropped > 0 {
                    tracing::warn!(dropped, "simulation fell behind; dropped ticks to catch up");
                    metrics.ticks_dropped(dropped);
                }
                for _ in 0..ticks {
                    for event in from_net.try_iter() {
                        sim.push(event);
                    }
                    let began = Instant::now();
                    sim.step();
                    let took = began.elapsed();
                    stats.record(sim.tick(), took);
                    shared_stats.record(sim.tick(), took);
                    shared_stats.set_player_slots_free(sim.player_slots_free());
                    metrics.tick(took, clock.dt());
                    if let Some(recorder) = &recorder {
                        recorder.after_step(&mut sim);
                    }
                    for out in sim.take_outbound() {
                        // Fails only when the network side is gone, i.e. during shutdown.
                        let _ = to_net.send(out);
                    }
                    if sim.tick().is_multiple_of(u64::from(tick_rate.max(1))) {
                        metrics.sample(&mut sim, recorder.as_ref());
                    }
                }
                stats.maybe_report();
            }
        }
    }
    tracing::info!(tick = sim.tick(), overruns = stats.overruns_total, "simulation stopped");
    if let Some(recorder) = recorder {
        recorder.finish(&sim);
    }
    sim
}

/// Tick durations over a reporting window, and overruns (ticks longer than `dt`).
struct TickReport {
    dt: Duration,
    window: Vec<Duration>,
    since: Instant,
    overruns_total: u64,
    overruns_window: u64,
}

impl TickReport {
    fn new(dt: Duration) -> Self {
        TickReport { dt, window: Vec::new(), since: Instant::now(), overruns_total: 0, overruns_window: 0 }
    }

    fn record(&mut self, tick: u64, took: Duration) {
        if took > self.dt {
            self.overruns_total += 1;
            self.overruns_window += 1;
            // Logged at debug per tick, summarized at info in `maybe_report`.
            tracing::debug!(tick, took_us = took.as_micros() as u64, "tick overran its budget");
        }
        self.window.push(took);
    }

    fn maybe_report(&mut self) {
        if self.since.elapsed() < REPORT_EVERY || self.window.is_empty() {
            return;
        }
        self.window.sort_unstable();
        let at = |q: f64| self.window[((self.window.len() - 1) as f64 * q) as usize].as_micros() as u64;
        let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
        let ticks = self.window.len();
        if self.overruns_window > 0 {
            tracing::warn!(
                ticks,
                p50_us = p50,
                p99_us = p99,
                max_us = max,
                overruns = self.overruns_window,
                "tick timings"
            );
        } else {
            tracing::info!(ticks, p50_us = p50, p99_us = p99, max_us = max, "tick timings");
        }
        self.window.clear();
        self.overruns_window = 0;
        self.since = Instant::now();
    }
}
