//! The recording channel is bounded: a writer that falls behind stops the recording cleanly
//! (an error in the log, a file that ends at the last tick written and replays with every
//! checksum), and the tick never blocks on it.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use engine::games::arena::Arena;
use engine::harness::Harness;
use engine::record::reader::{Ending, Recording};
use engine::record::replay::Replayer;
use engine::record::writer::{RecordMsg, Recorder, Writer, header_for};
use engine::sim::resources::SimSettings;
use glam::Vec2;
use shared::arena::Input;
use shared::{MapData, Rect};

fn settings() -> SimSettings {
    SimSettings { tick_rate: 60, snapshot_rate: 20, max_players: 4, seed: 7 }
}

/// A harness running the arena with 20 NPCs.
fn harness() -> Harness {
    let arena = Arena { npcs: 20, max_rewind_ms: engine::games::arena::lag_comp::DEFAULT_MAX_REWIND_MS };
    Harness::new(arena, settings(), map()).expect("the arena")
}

fn map() -> MapData {
    MapData {
        id: "box".into(),
        width: 800.0,
        height: 600.0,
        walls: vec![Rect { x: 300.0, y: 200.0, w: 40.0, h: 200.0 }],
        spawns: vec![Vec2::new(100.0, 100.0)],
    }
}

#[test]
fn a_writer_that_never_drains_stops_the_recording_without_blocking_the_tick() {
    let mut h = harness();
    // Nobody drains this channel: a writer stuck on a dead disk.
    let (tx, rx) = crossbeam_channel::bounded(8);
    let recorder = Recorder::attach(&mut h.sim, tx, 60);
    h.record(recorder);
    let ann = h.connect(1, "ann");
    // 600 ticks would need 600+ messages; each step must still return (a blocking send would
    // hang this test forever).
    for seq in 1..=600u32 {
        h.play(ann, seq, &Input { movement: Vec2::X, aim: 0.0, buttons: 0 });
        h.step(1);
    }
    assert_eq!(rx.len(), 8, "the channel holds its capacity and no more");
    let queued: Vec<RecordMsg> = rx.try_iter().collect();
    assert!(matches!(queued.last(), Some(RecordMsg::Stop)), "the last slot carries the stop notice: {queued:?}");
    assert_eq!(queued.iter().filter(|m| matches!(m, RecordMsg::Stop)).count(), 1, "one notice");
    h.step(10);
    assert!(rx.is_empty(), "nothing is sent after the stop");
}

#[test]
fn a_stopped_recording_ends_at_its_last_tick_and_replays_with_every_checksum() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stopped.rec");
    let mut h = harness();
    let (writer, tx) = Writer::create(&path, &header_for(&h.sim, 30, 0)).expect("create");
    let stop = tx.clone();
    let recorder = Recorder::attach(&mut h.sim, tx, 30);
    h.record(recorder);
    let ann = h.connect(1, "ann");
    for seq in 1..=200u32 {
        // Unit length: the simulation applies only inputs that pass the game's checks.
        h.play(ann, seq, &Input { movement: Vec2::new(1.0, 0.5).normalize(), aim: 0.3, buttons: 0 });
        h.step(1);
    }
    // What the recorder sends when the queue is full; the writer must end the file there.
    stop.send(RecordMsg::Stop).expect("writer alive");
    drop(stop);
    drop(h);
    writer.join().expect("the writer finishes cleanly");

    let recording = Recording::open(&path).expect("a readable file");
    assert_eq!(recording.ending, Ending::Finished { last_tick: 200 }, "it ends at the last tick the writer got");
    let mut replayer = Replayer::new(&recording, true, &engine::games::catalog()).expect("replayable");
    replayer.run_to(200).expect("every checksum matches up to the stop");
    assert!(replayer.checked() >= 6, "checksums were verified: {}", replayer.checked());
}
