//! Tick-duration benchmark: the W1 crowd stepped in memory, with clients joined so that
//! snapshots are gathered and replicated as in a live server. What the network side does
//! with each snapshot tick's changes is timed too, outside the timed step, as it runs on other
//! threads in a live server: the framer (the replication models, on the router thread) per
//! frame, and the delta encoding per (baseline, target) pair. As in a live server, frames are held only as
//! long as a delta needs them (the previous one) and dropped outside the tick: holding every
//! frame of the run would time the machine's memory, not the tick. Prints figures; run with `cargo bench -p server --bench tick`
//! (optionally `-- NPCS...`).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "benchmark: a panic is the failure report")]

use std::time::{Duration, Instant};

use engine::bridge::{Framer, ToNet};
use engine::games::arena::Arena;
use engine::harness::Harness;
use engine::map;
use engine::sim::resources::SimSettings;
use shared::Snapshot;
use shared::snapshot::Frame;

const WARM_UP_TICKS: u32 = 180;
const MEASURED_TICKS: u32 = 3600;

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6
}

fn bench(npcs: u32, clients: u32) {
    let settings = SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 1000, seed: 1 };
    let arena = Arena { npcs, ..Arena::default() };
    let mut h = Harness::new(arena, settings, map::load(None).expect("built-in map")).expect("the arena");
    let ids: Vec<_> = (1..=clients).map(|c| h.connect(c, "bench")).collect();
    h.step(WARM_UP_TICKS);
    // The bench's own framer starts from a whole report, as the router's does, made during
    // a few more warm-up ticks.
    h.sim.set_snapshots(false);
    h.sim.set_snapshots(true);
    let mut framer = Framer::default();
    for _ in 0..6 {
        h.sim.step();
        for out in h.sim.take_outbound() {
            if let ToNet::Changes(update) = out {
                framer.frame(update);
            }
        }
    }
    let mut framing = Vec::new();
    let mut durations = Vec::with_capacity(MEASURED_TICKS as usize);
    let mut snapshot_ticks = Vec::new();
    let encode = |base: Option<&Frame>, target: &Frame| {
        let mut body = Vec::new();
        Snapshot::between(base, target).write_body(&mut body);
        body.len()
    };
    let mut last: Option<std::sync::Arc<Frame>> = None;
    let (mut delta_bytes, mut deltas, mut encoding) = (0, 0u32, Duration::ZERO);
    for _ in 0..MEASURED_TICKS {
        let began = Instant::now();
        h.sim.step();
        let out = h.sim.take_outbound();
        let took = began.elapsed();
        durations.push(took);
        if out.iter().any(|m| matches!(m, ToNet::Changes(_))) {
            snapshot_ticks.push(took);
        }
        for update in out.into_iter().filter_map(|m| match m {
            ToNet::Changes(update) => Some(update),
            _ => None,
        }) {
            let began = Instant::now();
            let frame = framer.frame(update).frame;
            framing.push(began.elapsed());
            let began = Instant::now();
            if let Some(previous) = &last {
                delta_bytes += encode(Some(previous), &frame);
                deltas += 1;
            }
            encoding += began.elapsed();
            last = Some(frame);
        }
    }
    let keyframe = last.as_deref().map_or(0, |f| encode(None, f));
    durations.sort_unstable();
    framing.sort_unstable();
    snapshot_ticks.sort_unstable();
    let mean = durations.iter().sum::<Duration>().as_secs_f64() * 1e6 / durations.len() as f64;
    let per_delta = encoding.as_secs_f64() * 1e6 / f64::from(deltas.max(1));
    let per_second = delta_bytes as f64 / (MEASURED_TICKS as f64 / 60.0);
    println!(
        "npcs {npcs:>6}  clients {clients:>4}  tick p50 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us  mean {:>8.1} us  \
         keyframe {keyframe} B  deltas {per_second:.0} B/s ({per_delta:.1} us to encode each)\n\
         {:>20}snapshot ticks alone p50 {:>8.1} us  p99 {:>8.1} us; \
         framer (router thread) per frame p50 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us",
        percentile(&durations, 0.5),
        percentile(&durations, 0.99),
        percentile(&durations, 1.0),
        mean,
        "",
        percentile(&snapshot_ticks, 0.5),
        percentile(&snapshot_ticks, 0.99),
        percentile(&framing, 0.5),
        percentile(&framing, 0.99),
        percentile(&framing, 1.0),
    );
    drop(ids);
}

fn main() {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let crowds = if args.is_empty() { vec![1000, 10_000] } else { args };
    println!("{MEASURED_TICKS} ticks at 60 Hz after {WARM_UP_TICKS} warm-up ticks; budget 16667 us per tick");
    for npcs in crowds {
        for clients in [1, 100] {
            bench(npcs, clients);
        }
    }
}
