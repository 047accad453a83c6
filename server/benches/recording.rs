//! Recording benchmark: a 10-minute match (4 bot players, 1000 W1 NPCs, 60 Hz) simulated
//! without and with recording, then the recording replayed with verification, then seeks to
//! random ticks. Prints tick timings (the recording overhead), the file size per minute, the
//! replay speed and the seek times (after the replay, keyframes cover the whole match). Run
//! with `cargo bench -p server --bench recording` (optionally `-- MINUTES`).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "benchmark: a panic is the failure report")]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use engine::bridge::{ClientId, ToSim};
use engine::games::arena::Arena;
use engine::record::reader::Recording;
use engine::record::replay::Replayer;
use engine::record::writer::{Recorder, Writer, header_for};
use engine::sim::Simulation;
use engine::sim::resources::SimSettings;
use glam::Vec2;
use shared::arena::{Buttons, Input};
use shared::{ClientMessage, InputFrame, PROTOCOL_VERSION};

const PLAYERS: u32 = 4;
const NPCS: u32 = 1000;

/// Bots that act like people: hold a direction for about a second, move the mouse every
/// tick, fire in bursts. Their choices come from their own generator, not the simulation's.
struct Bots {
    state: u64,
    seq: u32,
    moves: Vec<Vec2>,
    aims: Vec<f32>,
}

impl Bots {
    fn next(&mut self) -> f32 {
        self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.state >> 40) as f32 / (1u64 << 24) as f32
    }

    fn inputs(&mut self, tick: u32) -> Vec<(ClientId, InputFrame)> {
        self.seq += 1;
        (0..PLAYERS as usize)
            .map(|i| {
                if tick % 60 == (i as u32 * 15) {
                    let a = self.next() * std::f32::consts::TAU;
                    self.moves[i] = Vec2::new(a.cos(), a.sin()) * (self.next() * 1.2).min(1.0);
                }
                self.aims[i] = (self.aims[i] + (self.next() - 0.5) * 0.2).clamp(-3.1, 3.1);
                let fire = (tick / 30 + i as u32).is_multiple_of(3);
                let input =
                    Input { movement: self.moves[i], aim: self.aims[i], buttons: if fire { Buttons::FIRE } else { 0 } };
                (ClientId(i as u32 + 1), InputFrame::new(self.seq, tick.saturating_sub(8), &input))
            })
            .collect()
    }
}

fn world() -> Simulation {
    let settings = SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 8, seed: 2026 };
    let arena = Arena { npcs: NPCS, max_rewind_ms: engine::games::arena::lag_comp::DEFAULT_MAX_REWIND_MS };
    let mut sim = Simulation::new(arena, settings, engine::map::load(None).expect("map")).expect("the arena");
    for i in 1..=PLAYERS {
        let client = ClientId(i);
        sim.push(ToSim::Connected { client, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)) });
        let hello =
            ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: format!("bot{i}"), spectate: false };
        sim.push(ToSim::Message { client, message: hello });
    }
    sim
}

/// Plays `ticks` ticks; returns the sorted durations of step (plus recording, if any).
fn play(sim: &mut Simulation, ticks: u32, recorder: Option<&Recorder>) -> Vec<Duration> {
    let mut bots = Bots { state: 99, seq: 0, moves: vec![Vec2::ZERO; PLAYERS as usize], aims: vec![0.0; 4] };
    let mut durations = Vec::with_capacity(ticks as usize);
    for tick in 0..ticks {
        for (client, input) in bots.inputs(tick) {
            sim.push(ToSim::Message { client, message: ClientMessage::Input(input) });
        }
        let began = Instant::now();
        sim.step();
        if let Some(recorder) = recorder {
            recorder.after_step(sim);
        }
        drop(sim.take_outbound());
        durations.push(began.elapsed());
    }
    durations.sort_unstable();
    durations
}

fn summary(d: &[Duration]) -> (f64, f64, f64) {
    let us = |x: Duration| x.as_secs_f64() * 1e6;
    let mean = d.iter().map(|x| us(*x)).sum::<f64>() / d.len() as f64;
    (us(d[d.len() / 2]), us(d[(d.len() - 1) * 99 / 100]), mean)
}

fn main() {
    let minutes: u32 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10);
    let ticks = minutes * 60 * 60;
    println!("{minutes}-minute match: {PLAYERS} bot players, {NPCS} NPCs, 60 Hz ({ticks} ticks)");

    let plain = play(&mut world(), ticks, None);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.rec");
    let mut sim = world();
    let (writer, tx) = Writer::create(&path, &header_for(&sim, 60, 0)).expect("create");
    let recorder = Recorder::attach(&mut sim, tx, 60);
    let recorded = play(&mut sim, ticks, Some(&recorder));
    recorder.finish(&sim);
    writer.join().expect("written");

    let (p50, p99, mean) = summary(&plain);
    println!("tick without recording: p50 {p50:.1} us  p99 {p99:.1} us  mean {mean:.1} us");
    let (r50, r99, rmean) = summary(&recorded);
    println!("tick with recording:    p50 {r50:.1} us  p99 {r99:.1} us  mean {rmean:.1} us");
    println!(
        "recording overhead:     p50 {:+.1} us  p99 {:+.1} us  mean {:+.1} us ({:+.1}%)",
        r50 - p50,
        r99 - p99,
        rmean - mean,
        (rmean / mean - 1.0) * 100.0
    );

    let bytes = std::fs::metadata(&path).expect("stat").len();
    println!("recording size: {bytes} bytes, {:.0} bytes per minute", bytes as f64 / f64::from(minutes));

    let began = Instant::now();
    let recording = Recording::open(&path).expect("opens");
    let opened = began.elapsed().as_secs_f64();
    let mut verifier =
        Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable").without_keyframes();
    verifier.run_to(u64::MAX).expect("replay matches every checksum");
    let wall = began.elapsed().as_secs_f64();
    println!(
        "reading the file: {:.0} ms; replaying it: {:.0}x real time",
        opened * 1000.0,
        f64::from(ticks) / 60.0 / (wall - opened)
    );
    println!(
        "replay (verify, as `server replay FILE`): {} ticks, {} checksums verified, in {wall:.2} s = {:.0}x real time",
        verifier.tick(),
        verifier.checked(),
        f64::from(ticks) / 60.0 / wall
    );
    // A served replay keeps keyframes as it plays, for seeking.
    let began = Instant::now();
    let mut replayer = Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable");
    replayer.run_to(u64::MAX).expect("replay matches every checksum");
    let wall = began.elapsed().as_secs_f64();
    println!("replay keeping keyframes (served replays): {:.0}x real time", f64::from(ticks) / 60.0 / wall);

    // Seeks to pseudo-random ticks, backward and forward, as a viewer dragging the slider.
    let (kept, every, bytes) = replayer.keyframes();
    let mut state = 12345u64;
    let mut times = Vec::new();
    for _ in 0..200 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let target = (state >> 33) % (replayer.end_tick() + 1);
        let began = Instant::now();
        replayer.seek(target);
        times.push(began.elapsed());
        assert_eq!(replayer.tick(), target);
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "seek (200 random ticks, {kept} keyframes every {every} ticks, {:.1} MB): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  \
         mean {mean:.2} ms",
        bytes as f64 / 1e6,
        ms(times[times.len() / 2]),
        ms(times[(times.len() - 1) * 99 / 100]),
        ms(times[times.len() - 1]),
    );
}
