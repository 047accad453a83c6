//! The load tools as an operator runs them: `server bots` against a real server child, and
//! `server bench w1`, which starts and stops its own. Everything runs on 127.0.0.1, and every
//! process is bounded in time.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{BIN, Running};
use loadtools::child::ServerChild;

/// Longest any one command may run before the test kills it and fails.
const LIMIT: Duration = Duration::from_secs(90);

/// Starts a headless server on an ephemeral loopback port; returns it and its WebSocket URL.
fn spawn_server(flags: &[&str]) -> (ServerChild, String) {
    let mut all = vec!["--no-web"];
    all.extend_from_slice(flags);
    let server = common::spawn(&all);
    let url = format!("ws://{}/ws", server.addr());
    (server, url)
}

/// Runs the binary with `args` to completion (killed after [`LIMIT`]); exit status, stdout,
/// stderr.
fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let mut running = Running(child);
    let mut stdout = running.0.stdout.take().expect("stdout piped");
    let mut stderr = running.0.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("poll child") {
            break status;
        }
        assert!(Instant::now() < deadline, "`server {}` still running after {LIMIT:?}", args.join(" "));
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, out.join().expect("stdout reader"), err.join().expect("stderr reader"))
}

/// Runs and parses the one JSON object on stdout, insisting on success.
fn run_json(args: &[&str]) -> Value {
    let (status, out, err) = run(args);
    assert!(status.success(), "`server {}` failed ({status}):\n{err}", args.join(" "));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{out}\n{err}"))
}

fn num(report: &Value, path: &str) -> f64 {
    report.pointer(path).and_then(Value::as_f64).unwrap_or_else(|| panic!("no number at {path} in {report:#}"))
}

#[test]
fn idle_bots_join_as_spectators_and_decode_every_snapshot() {
    let (_server, url) = spawn_server(&["--npcs", "50"]);
    let report =
        run_json(&["bots", "--url", &url, "--count", "5", "--mode", "idle", "--duration", "2", "--decode", "2"]);
    assert_eq!(report["mode"], "idle", "{report:#}");
    assert_eq!(num(&report, "/clients_joined"), 5.0, "every bot joins: {report:#}");
    assert_eq!(num(&report, "/clients_measured"), 5.0, "every bot is measured: {report:#}");
    assert_eq!(num(&report, "/clients_failed"), 0.0, "{report:#}");
    assert!(num(&report, "/snapshots_per_client_per_s") >= 15.0, "about 20 snapshots/s: {report:#}");
    assert!(num(&report, "/snapshots_per_client_per_s_min") >= 15.0, "no bot starves: {report:#}");
    assert!(num(&report, "/messages_per_client_per_s") >= num(&report, "/snapshots_per_client_per_s"));
    assert!(num(&report, "/bytes_per_client_per_s") > 0.0, "{report:#}");
    assert!(num(&report, "/frame_bytes_mean") > 0.0, "{report:#}");
    assert!(num(&report, "/join_bytes_mean") > 0.0 && num(&report, "/join_bytes_max") > 0.0, "{report:#}");
    assert_eq!(num(&report, "/decoding_clients"), 2.0, "{report:#}");
    assert!(num(&report, "/decoded_messages") > 0.0, "the decoding bots decoded: {report:#}");
    assert_eq!(num(&report, "/decode_errors"), 0.0, "every message decodes and applies: {report:#}");
    let interarrival = num(&report, "/snapshot_interarrival_ms/p50_ms");
    assert!((30.0..=80.0).contains(&interarrival), "snapshots every ~50 ms: {report:#}");
    assert!(num(&report, "/ping_rtt_ms/samples") > 0.0, "pings answered: {report:#}");
    assert!(report["input_latency_ms"].is_null(), "spectators send no input: {report:#}");
    assert_eq!(report["closes_by_code"], serde_json::json!({}), "the server closed nobody: {report:#}");
}

#[test]
fn playing_bots_measure_input_to_snapshot_latency() {
    let (_server, url) = spawn_server(&["--npcs", "20"]);
    let report = run_json(&["bots", "--url", &url, "--count", "2", "--mode", "play", "--duration", "2", "--quiet"]);
    assert_eq!(num(&report, "/clients_joined"), 2.0, "{report:#}");
    assert!(num(&report, "/inputs_sent") > 100.0, "60 inputs a second each: {report:#}");
    assert!(num(&report, "/input_latency_ms/samples") > 100.0, "inputs acknowledged: {report:#}");
    let p50 = num(&report, "/input_latency_ms/p50_ms");
    let p99 = num(&report, "/input_latency_ms/p99_ms");
    assert!(p50 > 0.0 && p50 <= p99 && p99 < 500.0, "input latency p50 {p50} p99 {p99}: {report:#}");
    assert!(num(&report, "/ping_rtt_ms/p99_ms") < 500.0, "{report:#}");
    assert_eq!(num(&report, "/decode_errors"), 0.0, "{report:#}");
}

#[test]
fn refused_joins_and_dead_addresses_are_reported_not_hidden() {
    // One player slot for two playing bots: the second is closed with 1013.
    let (_server, url) = spawn_server(&["--max-players", "1"]);
    let report = run_json(&["bots", "--url", &url, "--count", "2", "--mode", "play", "--duration", "1", "--quiet"]);
    assert_eq!(num(&report, "/clients_joined"), 1.0, "{report:#}");
    assert_eq!(num(&report, "/clients_failed"), 1.0, "{report:#}");
    assert_eq!(num(&report, "/closes_by_code/1013"), 1.0, "server full is counted by code: {report:#}");
    assert_eq!(num(&report, "/failures/closed before Welcome: 1013"), 1.0, "{report:#}");

    // Nothing listens on a port we just released: every bot fails, the run says so and exits 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let started = Instant::now();
    let (status, out, err) = run(&["bots", "--url", &url, "--count", "3", "--duration", "30", "--quiet"]);
    assert!(!status.success(), "no bot joined, so the run fails:\n{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "it does not wait out --duration with nobody connected");
    let report: Value = serde_json::from_str(&out).expect("a report all the same");
    assert_eq!(num(&report, "/clients_joined"), 0.0, "{report:#}");
    assert_eq!(num(&report, "/failures/connect: connection refused"), 3.0, "{report:#}");

    let (status, _, err) = run(&["bots", "--url", "wss://127.0.0.1:1/ws", "--count", "1", "--duration", "1"]);
    assert!(!status.success() && err.contains("only ws://"), "wss is refused clearly:\n{err}");
}

#[test]
fn bench_w1_reports_every_figure_and_stops_its_server() {
    let report = run_json(&["bench", "w1", "--npcs", "100", "--clients", "10", "--duration", "2", "--warmup", "1"]);
    assert_eq!(report["workload"], "W1", "{report:#}");
    assert_eq!((num(&report, "/npcs"), num(&report, "/clients")), (100.0, 10.0), "{report:#}");
    assert_eq!(num(&report, "/clients_joined"), 10.0, "{report:#}");
    // The W1 figures, by their names in ../shared/WORKLOADS.md.
    assert!(num(&report, "/bytes_per_client_per_s") > 0.0, "{report:#}");
    assert!(num(&report, "/messages_per_client_per_s") >= 15.0, "{report:#}");
    assert!(num(&report, "/server_cpu_s_per_s") >= 0.0, "{report:#}");
    assert!(num(&report, "/server_rss_kib") > 0.0, "{report:#}");
    assert!(num(&report, "/ticks_per_s") >= 50.0, "about 60 ticks a second: {report:#}");
    let (p50, p99) = (num(&report, "/tick_p50_ms"), num(&report, "/tick_p99_ms"));
    assert!(p50 >= 0.0 && p50 <= p99, "tick p50 {p50} p99 {p99}: {report:#}");
    // The rest.
    assert!(num(&report, "/rss_per_client_kib") > 0.0, "{report:#}");
    assert!(num(&report, "/server_rss_idle_kib") > 0.0, "{report:#}");
    assert!(num(&report, "/snapshots_per_client_per_s_min") >= 15.0, "{report:#}");
    assert!(num(&report, "/snapshot_interarrival_p99_ms") > 0.0, "{report:#}");
    assert!(num(&report, "/join_bytes_mean") > 0.0, "{report:#}");
    assert!(num(&report, "/load_tool_cpu_s_per_s") >= 0.0, "{report:#}");
    assert!(num(&report, "/cores") >= 1.0, "{report:#}");
    assert!(report["load_tool_may_limit"].is_boolean(), "{report:#}");
    assert!(report["note"].as_str().is_some_and(|n| n.contains("cores")), "{report:#}");
    assert_eq!(num(&report, "/decode_errors"), 0.0, "{report:#}");
    assert!(report["bots"].is_object(), "the bots' full report is included: {report:#}");
    let flags = report["server_args"].as_array().expect("server flags").iter().map(|f| f.as_str().unwrap());
    assert!(!flags.collect::<Vec<_>>().contains(&"--max-players"), "idle clients are spectators: {report:#}");

    // The bench stopped the server it started.
    let pid = num(&report, "/server_pid") as u32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains("--no-web");
    assert!(!ours, "the bench's server (pid {pid}) is still running");
    assert_eq!(report["server_exit"], "exit status: 0", "SIGTERM shut it down cleanly: {report:#}");
}

#[test]
fn bench_w2_fills_rooms_through_the_matchmaker_and_reports_every_figure() {
    let report = run_json(&["bench", "w2", "--rooms", "3", "--duration", "2", "--warmup", "1"]);
    assert_eq!(report["workload"], "W2", "{report:#}");
    assert_eq!((num(&report, "/rooms"), num(&report, "/clients")), (3.0, 12.0), "{report:#}");
    assert_eq!(num(&report, "/bots/clients_joined"), 12.0, "{report:#}");
    assert_eq!(num(&report, "/rooms_seen"), 3.0, "12 seats of 4 fill exactly 3 rooms: {report:#}");
    assert!(num(&report, "/room_ticks_per_s_min") >= 50.0, "every room about 60 ticks a second: {report:#}");
    assert!(num(&report, "/snapshots_per_client_per_s_min") >= 15.0, "{report:#}");
    assert!(num(&report, "/bytes_per_client_per_s") > 0.0, "{report:#}");
    assert!(num(&report, "/server_cpu_s_per_s_per_room") >= 0.0, "{report:#}");
    assert!(num(&report, "/rss_per_room_kib") >= 0.0, "{report:#}");
    assert_eq!(num(&report, "/join_ms/samples"), 12.0, "every join timed: {report:#}");
    let (p50, p99) = (num(&report, "/join_ms/p50_ms"), num(&report, "/join_ms/p99_ms"));
    assert!(p50 > 0.0 && p50 <= p99, "join p50 {p50} p99 {p99}: {report:#}");
    assert!(num(&report, "/input_to_state_ms/samples") > 0.0, "inputs came back applied: {report:#}");
    assert!(report["closes_by_code"].as_object().is_some_and(|c| c.is_empty()), "no client closed: {report:#}");
    assert_eq!(num(&report, "/decode_errors"), 0.0, "{report:#}");
    let pid = num(&report, "/server_pid") as u32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&cmdline).contains("--no-web"), "the bench's server (pid {pid}) is still running");
    assert_eq!(report["server_exit"], "exit status: 0", "{report:#}");
}

#[test]
fn bench_says_why_when_its_server_does_not_start() {
    let (status, out, err) =
        run(&["bench", "w1", "--npcs", "10", "--clients", "2", "--server-arg=--map", "--server-arg=/nonexistent.json"]);
    assert!(!status.success(), "the bench fails:\n{err}");
    assert!(out.trim().is_empty(), "no report without a run: {out}");
    assert!(
        err.contains("did not report its address") && err.contains("nonexistent.json"),
        "the server's own error is shown:\n{err}"
    );
}
