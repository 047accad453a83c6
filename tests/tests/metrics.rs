//! `GET /metrics` on the real server binary: clients in every state, frames both ways, a
//! close, a recording; the scrape goes over a real socket and the whole text is checked line
//! by line with a Prometheus text parser (`prometheus-parse`), then the figures.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use integration_tests::hostile::{ServerChild, documented_code, mint, spawn_server};
use integration_tests::{Client, header, http, status};
use prometheus_parse::{LineInfo, Sample, Scrape, Value};
use shared::DisconnectReason;
use tokio_tungstenite::tungstenite::Message;

const SCRAPE: &str = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Scrapes, checks the response and every line of the text, and returns the parsed samples.
async fn scrape(server: &ServerChild) -> Vec<Sample> {
    let response = http(server.addr(), SCRAPE).await;
    assert_eq!(status(&response), 200, "{response}");
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.split_once("\r\n\r\n").expect("a body").1;
    validate(text);
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses").samples
}

/// The parser skips what it does not understand, so every line is checked here: each is a
/// `# HELP`, a `# TYPE` or a sample whose value is a number, and each sample belongs to a
/// family declared by a `# TYPE` line (histograms through `_bucket`, `_sum` and `_count`).
fn validate(text: &str) {
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Empty => {}
            LineInfo::Doc { metric_name, .. } => {
                helped.insert(metric_name.to_owned());
            }
            LineInfo::Type { metric_alias, metric_name, .. } => {
                let family = metric_alias.unwrap_or(metric_name);
                let kind = line.split_whitespace().nth(3).unwrap_or_default().to_owned();
                assert!(typed.insert(family.clone(), kind).is_none(), "{family} typed twice");
            }
            LineInfo::Sample { metric_name, value, labels, .. } => {
                let number = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
                assert!(number, "not a number: {line}");
                if let Some(labels) = labels {
                    for pair in labels.split(',').filter(|p| !p.is_empty()) {
                        let (name, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("label {pair}: {line}"));
                        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                        assert!(quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
                    }
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .filter_map(|suffix| metric_name.strip_suffix(suffix))
                    .find(|base| typed.get(*base).is_some_and(|kind| kind == "histogram"))
                    .unwrap_or(metric_name);
                assert!(typed.contains_key(family), "sample before its # TYPE: {line}");
                assert!(helped.contains(family), "no # HELP for {family}");
                assert!(family.starts_with("arena_"), "{family} lacks the arena_ prefix");
            }
            LineInfo::Ignored => panic!("not Prometheus text format: {line:?}"),
        }
    }
}

/// The value of the sample `metric` whose labels include `labels`.
fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    sampled(samples, metric, labels).unwrap_or_else(|| panic!("no {metric} {labels:?} in {samples:#?}"))
}

/// The value of the sample `metric` whose labels include `labels`, if there is one yet.
fn sampled(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample =
        samples.iter().find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))?;
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        other => panic!("{metric} is not a single number: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format_and_move_with_play() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().to_str().unwrap();
    let server = spawn_server(&["--no-web", "--npcs", "3", "--record", record]);
    let addr = server.addr();

    let mut a = Client::join(addr, "alice").await;
    let mut b = Client::join(addr, "bob").await;
    let mut watcher = Client::spectate(addr, "watcher").await;
    // Upgraded, never says Hello: counted as connecting.
    let _lurker = Client::connect(addr).await;
    // Breaks a rule: closed with the text-frame code.
    let mut rude = Client::connect(addr).await;
    rude.send_raw(Message::Text("hi".into())).await;
    let closing = rude.closing().await;
    assert_eq!(closing.code, Some(documented_code(DisconnectReason::TextFrame)), "{closing:?}");
    for _ in 0..10 {
        a.input(glam::Vec2::X, 0.0, 0).await;
        b.input(glam::Vec2::Y, 0.0, 0).await;
        a.next_snapshot().await;
        b.next_snapshot().await;
        watcher.next_snapshot().await;
    }

    // Entities are sampled once a second (their gauges appear at the first sample) and the
    // closed session leaves at its own pace: wait for both to show.
    let deadline = Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let samples = scrape(&server).await;
        let players = sampled(&samples, "arena_entities", &[("kind", "player")]);
        let closed = samples.iter().any(|s| s.metric == "arena_ws_closes_total");
        let connecting = value(&samples, "arena_clients", &[("state", "connecting")]);
        if (players == Some(2.0) && closed && connecting == 1.0) || Instant::now() > deadline {
            break samples;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    assert_eq!(value(&samples, "arena_clients", &[("state", "playing")]), 2.0);
    assert_eq!(value(&samples, "arena_clients", &[("state", "spectating")]), 1.0);
    assert_eq!(value(&samples, "arena_clients", &[("state", "connecting")]), 1.0, "the lurker");
    assert_eq!(value(&samples, "arena_entities", &[("kind", "player")]), 2.0);
    assert_eq!(value(&samples, "arena_entities", &[("kind", "npc")]), 3.0);
    assert!(value(&samples, "arena_entities", &[("kind", "projectile")]) >= 0.0);

    let text_frame = documented_code(DisconnectReason::TextFrame).to_string();
    assert_eq!(value(&samples, "arena_ws_closes_total", &[("code", &text_frame)]), 1.0);
    assert!(value(&samples, "arena_ws_frames_received_total", &[]) >= 20.0, "Hellos and inputs");
    assert!(value(&samples, "arena_ws_received_bytes_total", &[]) > 0.0);
    assert!(value(&samples, "arena_ws_frames_sent_total", &[]) >= 30.0, "welcomes and snapshots");
    assert!(value(&samples, "arena_ws_sent_bytes_total", &[]) > 1000.0);
    assert!(value(&samples, "arena_state_frames_superseded_total", &[]) >= 0.0);

    let tick = samples
        .iter()
        .find(|s| s.metric == "arena_tick_duration_seconds")
        .unwrap_or_else(|| panic!("no tick histogram in {samples:#?}"));
    let Value::Histogram(buckets) = &tick.value else { panic!("the tick duration is a histogram: {tick:?}") };
    assert!(buckets.windows(2).all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count), "{buckets:?}");
    let all = buckets.last().expect("buckets");
    assert!(all.less_than.is_infinite() && all.count > 0.0, "{buckets:?}");
    assert_eq!(value(&samples, "arena_tick_duration_seconds_count", &[]), all.count);
    assert!(value(&samples, "arena_tick_duration_seconds_sum", &[]) > 0.0);
    assert!(value(&samples, "arena_tick_overruns_total", &[]) >= 0.0);
    assert!(value(&samples, "arena_ticks_dropped_total", &[]) >= 0.0);

    // The writer flushes at least once a second; the header alone is on disk from the start.
    assert!(value(&samples, "arena_recording_written_bytes_total", &[]) > 0.0);
    assert!(value(&samples, "arena_recording_queue_messages", &[]) >= 0.0);
    assert_eq!(value(&samples, "arena_recording_stopped", &[]), 0.0);

    let build = [
        ("version", engine::metrics::BUILD_VERSION.to_owned()),
        ("protocol_version", shared::PROTOCOL_VERSION.to_string()),
        ("sim_version", engine::sim::SIM_VERSION.to_string()),
    ];
    let labels: Vec<(&str, &str)> = build.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(value(&samples, "arena_build_info", &labels), 1.0);

    // Counters only grow; the clients that leave are no longer counted.
    drop(watcher);
    a.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let later = scrape(&server).await;
        let sent = value(&later, "arena_ws_sent_bytes_total", &[]);
        assert!(sent >= value(&samples, "arena_ws_sent_bytes_total", &[]));
        let playing = value(&later, "arena_clients", &[("state", "playing")]);
        let spectating = value(&later, "arena_clients", &[("state", "spectating")]);
        if playing == 1.0 && spectating == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "clients still counted: playing {playing}, spectating {spectating}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(b);
}

#[tokio::test]
async fn with_auth_on_a_scrape_takes_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"the metrics test's secret, 32 bytes or more").unwrap();
    let server = spawn_server(&["--no-web", "--auth-secret-file", secret.to_str().unwrap()]);
    let scrape_with = |token: Option<String>| {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
    };
    // Loopback is not exempt: behind a reverse proxy every scrape would come from there.
    let anonymous = http(server.addr(), &scrape_with(None)).await;
    assert_eq!(status(&anonymous), 401, "{anonymous}");
    assert!(header(&anonymous, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{anonymous}");
    let player = http(server.addr(), &scrape_with(Some(mint(&secret, "p", "player", "1h")))).await;
    assert_eq!(status(&player), 403, "{player}");
    let admin = http(server.addr(), &scrape_with(Some(mint(&secret, "prometheus", "admin", "1h")))).await;
    assert_eq!(status(&admin), 200, "{admin}");
    validate(admin.split_once("\r\n\r\n").expect("a body").1);
}
