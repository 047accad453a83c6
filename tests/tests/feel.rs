//! How play feels through a 150 ms link, measured by `server bots --mode feel` against the
//! real server binary running its link conditioner (75 ± 10 ms each way) on 127.0.0.1: the
//! figures issue 9 sets (own-player corrections, remote snaps, hit registration), on a short
//! run, and the match, recorded under the conditioner, replays bit for bit. The full figures
//! come from longer runs (README, "How it feels").

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::process::Command;
use std::time::Duration;

use integration_tests::hostile::{server_binary, spawn_server};
use serde_json::Value;

#[test]
fn feel_bots_through_a_150_ms_link_meet_the_targets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().to_str().expect("UTF-8 temp path");
    let mut server = spawn_server(&["--no-web", "--sim-latency", "75", "--sim-jitter", "10", "--record", record]);
    let url = format!("ws://{}/ws", server.addr());
    let started = std::time::Instant::now();
    let output = Command::new(server_binary())
        .args(["bots", "--url", &url, "--mode", "feel", "--count", "2", "--duration", "15", "--quiet"])
        .output()
        .expect("run server bots");
    assert!(started.elapsed() < Duration::from_secs(60), "bounded in time");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "feel bots failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(&stdout).expect("one JSON object");
    let f = |path: &[&str]| path.iter().fold(&report, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);

    let rtt = f(&["rtt_ms", "p50"]);
    assert!((130.0..260.0).contains(&rtt), "the link is conditioned: RTT p50 {rtt} ms\n{stdout}");
    assert!(f(&["own_correction", "samples"]) > 300.0, "corrections measured at each snapshot\n{stdout}");
    let (mean, p99) = (f(&["own_correction", "mean"]), f(&["own_correction", "p99"]));
    assert!(mean <= 1.0, "own-player correction mean {mean} ≤ 1 unit\n{stdout}");
    assert!(p99 <= 4.0, "own-player correction p99 {p99} ≤ 4 units\n{stdout}");
    assert!(f(&["remote_samples"]) > 1000.0, "others were drawn\n{stdout}");
    assert_eq!(f(&["remote_snaps"]), 0.0, "no remote entity jumps\n{stdout}");
    let (seen, registered) = (f(&["hit_registration", "seen_hits"]), f(&["hit_registration", "registered"]));
    assert!(seen >= 3.0, "the shooter hit its strafing target on screen a few times: {seen}\n{stdout}");
    // 95% is the target over long runs; a handful of shots allows one miss.
    assert!(registered >= seen - 1.0, "the server counted what the shooter saw: {registered} of {seen}\n{stdout}");

    // Inputs arrived bunched and late, shots were rewound: the recording still replays exactly.
    assert!(server.terminate(Duration::from_secs(10)).expect("the server exits after SIGTERM").success(), "clean stop");
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("list").filter_map(Result::ok).map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "one recording: {files:?}");
    let replay = Command::new(server_binary()).arg("replay").arg(&files[0]).output().expect("run server replay");
    assert!(
        replay.status.success(),
        "the recording replays and verifies: {}{}",
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(&replay.stderr)
    );
}
