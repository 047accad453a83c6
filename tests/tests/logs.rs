//! The log an operator reads, from the real binary with `--log-format json`: every line is one
//! JSON object; each connection's start and end are logged once each at info, with client id,
//! address, name, close code and reason; and a flood of connections is cut to a rate, with
//! the count of the lines left out.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::{Duration, Instant};

use integration_tests::hostile::{ServerChild, binary, closed_within, join, spawn_server, ws_connect};
use serde_json::Value;
use shared::arena::Input;
use shared::{ClientMessage, InputFrame};

fn parsed(server: &ServerChild) -> Vec<Value> {
    server
        .log()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect()
}

fn wait_for(server: &ServerChild, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = parsed(server);
        if done(&lines) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{what}; log:\n{}", server.log_tail(30));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

#[test]
fn each_connection_starts_and_ends_once_at_info_in_json() {
    let server = spawn_server(&["--no-web", "--log-format", "json", "--drain-timeout", "0"]);
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut ann = ws_connect(addr, "").await;
        join(&mut ann, "ann", false).await;
        // A bad input: closed with 1007 and a reason.
        let bad = ClientMessage::Input(InputFrame::new(1, 0, &Input { aim: 100.0, ..Input::default() }));
        futures_util::SinkExt::send(&mut ann, binary(&bad)).await.expect("send");
        let (closing, _) = closed_within(&mut ann, Duration::from_secs(5), "a bad input").await;
        assert_eq!(closing.code, Some(1007));
    });
    let lines = wait_for(&server, "a start and an end line for the connection", |lines| {
        lines.iter().any(|l| message(l) == "connection ended")
    });
    let started: Vec<_> = lines.iter().filter(|l| message(l) == "connection started").collect();
    let ended: Vec<_> = lines.iter().filter(|l| message(l) == "connection ended").collect();
    assert_eq!((started.len(), ended.len()), (1, 1), "once each");
    for line in started.iter().chain(&ended) {
        assert_eq!(line["level"], "INFO", "at info: {line}");
        assert!(line["fields"]["client"].is_string() || line["fields"]["client"].is_number(), "client id: {line}");
        assert!(line["fields"]["addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "address: {line}");
    }
    let end = &ended[0]["fields"];
    assert_eq!(end["name"], "ann", "{end}");
    assert_eq!(end["code"], 1007, "{end}");
    assert_eq!(end["reason"], "InvalidMessage", "{end}");
}

#[test]
fn a_flood_of_connections_is_cut_to_a_rate_with_a_count_of_the_rest() {
    let server = spawn_server(&[
        "--no-web",
        "--log-format",
        "json",
        "--max-connections-per-ip",
        "0",
        "--connect-rate-per-ip",
        "0",
    ]);
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let flood = 300;
    runtime.block_on(async {
        for _ in 0..flood {
            let ws = ws_connect(addr, "").await;
            drop(ws);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // One more after the limiter refilled: it carries the count of the lines left out.
    runtime.block_on(async {
        let mut ws = ws_connect(addr, "").await;
        join(&mut ws, "late", true).await;
    });
    let lines = wait_for(&server, "a line that counts the suppressed ones", |lines| {
        lines.iter().any(|l| l["fields"]["suppressed"].as_u64().is_some())
    });
    let connection_lines = lines
        .iter()
        .filter(|l| message(l).starts_with("connection started") || message(l).starts_with("connection ended"));
    let written = connection_lines.count() as u64;
    let suppressed: u64 = lines.iter().filter_map(|l| l["fields"]["suppressed"].as_u64()).sum();
    assert!(written < 2 * flood / 3, "the flood is cut: {written} lines for {} connection events", 2 * flood);
    assert!(suppressed > 0, "and the rest counted");
}
