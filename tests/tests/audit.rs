//! The outside audit's findings about the front door (issue 14), each tried again as the
//! auditor tried it, against the real `server` binary on 127.0.0.1:
//!
//! - DNS rebinding: admin requests whose `Host` is a foreign name get 403 even from loopback,
//!   while loopback names still work and pages and `/ws` are served under any `Host`;
//! - proxies: `Forwarded` / `X-Forwarded-For` name the client only from a `--trusted-proxy`,
//!   and per-address limits, the connection log and the admin table follow that client;
//! - one token's name holds at most `--max-sessions-per-name` sessions (409 beyond);
//! - a connection burst from one address is cut to its rate while a witness plays on;
//! - a chat flood from 200 sockets, each within its own allowance, closes no honest reader;
//! - `/readyz` says full when every player slot is taken and no room can be made; every close code has a series from
//!   the start.
//!
//! Every server child is killed when its test ends, pass or fail.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use integration_tests::hostile::{
    Carrier, RawWs, Witness, binary, connect_from, exchange, exchange_on, join, mint, spawn_server, ws_connect_with,
};
use shared::{ClientMessage, ServerMessage, codec};
use tokio::net::TcpStream;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A raw HTTP/1.1 request with these headers and body, closing after the answer.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

/// Upgrades a connection from `local` to `/ws?QUERY` with extra headers; `Err` is the refusal
/// (its status, 0 if the connection failed).
async fn ws_from(
    local: IpAddr,
    addr: SocketAddr,
    query: &str,
    headers: &[(&'static str, String)],
) -> Result<RawWs, u16> {
    let stream: TcpStream = connect_from(local, addr).await;
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    let mut request = format!("ws://{addr}/ws{query}").into_client_request().expect("a request");
    for (name, value) in headers {
        request.headers_mut().append(*name, value.parse().expect("a header value"));
    }
    match tokio::time::timeout(Duration::from_secs(5), client_async(request, stream)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(response.status().as_u16()),
        _ => Err(0),
    }
}

/// `GET /api/admin/state` as this machine's operator would send it (from 127.0.0.3, beside the
/// addresses the tests count).
async fn admin_state(addr: SocketAddr) -> serde_json::Value {
    let host = addr.to_string();
    let stream = connect_from([127, 0, 0, 3].into(), addr).await;
    let response = exchange_on(stream, &request("GET", "/api/admin/state", &[("Host", &host)], "")).await;
    assert_eq!(response.status, 200, "{}", response.raw);
    serde_json::from_str(response.body()).expect("JSON")
}

#[test]
fn dns_rebinding_cannot_reach_the_admin_api_but_pages_and_sockets_work_under_any_host() {
    let server = spawn_server(&[]);
    let addr = server.addr();
    let port = addr.port();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");
    let rt = runtime();
    rt.block_on(async {
        let routes = [
            ("POST", "/api/drain", ""),
            ("POST", "/api/announce", "hello from a rebinding page"),
            ("GET", "/api/admin/state", ""),
            ("POST", "/api/admin/kick?client=1", ""),
        ];
        for (method, path, body) in routes {
            // As the auditor sent it (Origin matching Host), and without Origin (curl through a
            // reverse proxy that forwards the public Host).
            for headers in
                [vec![("Host", evil_host.as_str()), ("Origin", evil_origin.as_str())], vec![("Host", "game.example")]]
            {
                let response = exchange(addr, &request(method, path, &headers, body)).await;
                assert_eq!(response.status, 403, "{method} {path} {headers:?}: {}", response.raw);
                assert!(response.body().contains("--auth-secret-file"), "the 403 says what to do: {}", response.raw);
            }
        }
        // Nothing happened: not draining, and the tick runs.
        let ready = exchange(addr, &request("GET", "/readyz", &[("Host", "x")], "")).await;
        assert_eq!(ready.status, 200, "the rebinding drain did not start: {}", ready.raw);
        // This machine's operator, by a loopback name, still gets in.
        for host in [addr.to_string(), format!("localhost:{port}")] {
            let response = exchange(addr, &request("GET", "/api/admin/state", &[("Host", &host)], "")).await;
            assert_eq!(response.status, 200, "Host {host}: {}", response.raw);
        }
        // Pages load under any Host, with the page policy headers; /ws upgrades under any Host.
        for path in ["/", "/admin", "/readyz"] {
            let page = exchange(addr, &request("GET", path, &[("Host", &evil_host)], "")).await;
            assert_eq!(page.status, 200, "{path}: {}", page.raw);
            assert_eq!(page.header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
            assert_eq!(page.header("content-security-policy").as_deref(), Some("frame-ancestors 'none'"), "{path}");
        }
        let mut ws = ws_connect_with(addr, "", &[("Host", evil_host.clone())], None).await.expect("upgraded");
        let welcome = join(&mut ws, "visitor", false).await;
        assert_ne!(welcome.entity_id, 0);
        // The log said once, at start, that the admin API is open on loopback.
        let told = server.log().iter().filter(|l| l.contains("admin API") && l.contains("localhost")).count();
        assert_eq!(told, 1, "{}", server.log_tail(20));
    });
}

#[test]
fn forwarded_headers_name_the_client_only_from_a_trusted_proxy() {
    let trusting = spawn_server(&["--trusted-proxy", "127.0.0.1", "--max-connections-per-ip", "2"]);
    let plain = spawn_server(&["--max-connections-per-ip", "2"]);
    let rt = runtime();
    let proxy: IpAddr = [127, 0, 0, 1].into();
    let chain = |client: &str| vec![("X-Forwarded-For", format!("6.6.6.6, {client}"))];
    rt.block_on(async {
        // Through the trusted proxy: two sessions for 198.51.100.7, then 429 for a third, but
        // another client behind the same proxy still gets in.
        let addr = trusting.addr();
        let mut a = ws_from(proxy, addr, "", &chain("198.51.100.7")).await.expect("1st");
        let mut b = ws_from(proxy, addr, "", &chain("198.51.100.7")).await.expect("2nd");
        assert_eq!(ws_from(proxy, addr, "", &chain("198.51.100.7")).await.err(), Some(429), "3rd from one client");
        let mut c = ws_from(proxy, addr, "", &chain("198.51.100.8")).await.expect("another client");
        // RFC 7239 too, with a v6 client: counted per /64.
        let v6 = vec![("Forwarded", r#"for="[2001:db8:1:2::7]:4711";proto=http"#.to_owned())];
        let mut d = ws_from(proxy, addr, "", &v6).await.expect("v6 client");
        join(&mut a, "a", true).await;
        join(&mut b, "b", true).await;
        join(&mut c, "c", true).await;
        join(&mut d, "d", true).await;
        let state = admin_state(addr).await;
        let mut addrs: Vec<String> = state["clients"]
            .as_array()
            .expect("clients")
            .iter()
            .map(|c| c["addr"].as_str().expect("addr").to_owned())
            .collect();
        addrs.sort();
        assert_eq!(addrs, ["198.51.100.7:0", "198.51.100.7:0", "198.51.100.8:0", "[2001:db8:1:2::7]:0"]);
        assert!(trusting.log().iter().any(|l| l.contains("connection started") && l.contains("198.51.100.8")));
        // The admin API through the proxy: a forwarded client is not this machine.
        let host = addr.to_string();
        let via = exchange(
            addr,
            &request("GET", "/api/admin/state", &[("Host", &host), ("X-Forwarded-For", "203.0.113.5")], ""),
        )
        .await;
        assert_eq!(via.status, 403, "{}", via.raw);

        // Without --trusted-proxy the same headers are ignored: the peer is the client.
        let addr = plain.addr();
        let mut e = ws_from(proxy, addr, "", &chain("198.51.100.7")).await.expect("1st");
        let mut f = ws_from(proxy, addr, "", &chain("198.51.100.8")).await.expect("2nd");
        let third = exchange_on(connect_from(proxy, addr).await, &request("GET", "/", &[("Host", "x")], "")).await;
        assert_eq!(third.status, 429, "127.0.0.1 holds 2 whatever the headers say: {}", third.raw);
        join(&mut e, "e", true).await;
        join(&mut f, "f", true).await;
        let state = admin_state(addr).await;
        let clients = state["clients"].as_array().expect("clients");
        assert_eq!(clients.len(), 2);
        assert!(clients.iter().all(|c| c["addr"].as_str().expect("addr").starts_with("127.0.0.1:")), "{clients:?}");
        let forged = exchange_on(
            connect_from([127, 0, 0, 3].into(), addr).await,
            &request("GET", "/api/admin/state", &[("Host", "127.0.0.1"), ("X-Forwarded-For", "203.0.113.5")], ""),
        )
        .await;
        assert_eq!(forged.status, 200, "an untrusted peer's forwarding headers are ignored: {}", forged.raw);
    });
}

#[test]
fn one_token_name_holds_at_most_two_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"the audit test's secret: 32 bytes or more, surely").expect("secret written");
    let secret_arg = secret.to_str().expect("utf-8 path");
    let server = spawn_server(&["--auth-secret-file", secret_arg]);
    let token = mint(&secret, "ann", "player", "1h");
    let addr = server.addr();
    let rt = runtime();
    rt.block_on(async {
        let query = format!("token={token}");
        let mut first = ws_connect_with(addr, &query, &[], None).await.expect("1st session");
        let mut second = ws_connect_with(addr, &query, &[], None).await.expect("2nd session");
        join(&mut first, "x", false).await;
        join(&mut second, "y", true).await;
        // The third is refused before the upgrade, with the flag named.
        let refused = exchange(
            addr,
            &request(
                "GET",
                &format!("/ws?{query}"),
                &[
                    ("Host", "127.0.0.1"),
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Version", "13"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ],
                "",
            ),
        )
        .await;
        assert_eq!(refused.status, 409, "{}", refused.raw);
        assert!(!refused.upgraded());
        assert!(refused.body().contains("--max-sessions-per-name"), "{}", refused.raw);
        // The two sessions were not disturbed: both still get snapshots.
        for ws in [&mut first, &mut second] {
            let got = tokio::time::timeout(Duration::from_secs(2), async {
                loop {
                    if let Some(Ok(Message::Binary(b))) = ws.next().await
                        && matches!(codec::decode_server(&b), Ok(ServerMessage::Snapshot(_)))
                    {
                        return;
                    }
                }
            })
            .await;
            assert!(got.is_ok(), "a session of ann stopped getting snapshots");
        }
        // Another name has its own two; once ann closes one, ann may open another.
        let bob = mint(&secret, "bob", "player", "1h");
        let mut bob_ws = ws_connect_with(addr, &format!("token={bob}"), &[], None).await.expect("bob");
        join(&mut bob_ws, "bob", false).await;
        first.close(None).await.expect("close");
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match ws_connect_with(addr, &query, &[], None).await {
                Ok(_) => break,
                Err(e) => assert!(Instant::now() < deadline, "ann's slot did not come back: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[test]
fn a_connection_burst_from_one_address_is_cut_to_its_rate_while_a_witness_plays() {
    let server = spawn_server(&["--npcs", "100"]);
    let addr = server.addr();
    let witness = Witness::join(addr, "witness", "", Carrier::Query);
    let rt = runtime();
    let burster: IpAddr = [127, 0, 0, 5].into();
    let (answered, refused, slowest_refusal, took) = rt.block_on(async {
        let started = Instant::now();
        let (mut answered, mut refused) = (0u32, 0u32);
        let mut slowest = Duration::ZERO;
        // For 3 s (at most 5000), one connection after another as fast as they go, each asking
        // for a page.
        while started.elapsed() < Duration::from_secs(3) && answered + refused < 5000 {
            let asked = Instant::now();
            let response =
                exchange_on(connect_from(burster, addr).await, &request("GET", "/healthz", &[("Host", "x")], "")).await;
            match response.status {
                200 => answered += 1,
                // The answer written at once, or the reset that can overtake it: both refusals.
                429 | 0 => {
                    refused += 1;
                    slowest = slowest.max(asked.elapsed());
                }
                other => panic!("unexpected status {other}: {}", response.raw),
            }
        }
        (answered, refused, slowest, started.elapsed())
    });
    let report = witness.report();
    // 20 at once, then 10 a second over the burst's length (plus one for rounding).
    let allowed = 20 + (10.0 * took.as_secs_f64()).ceil() as u32 + 1;
    assert!(answered <= allowed, "{answered} answered in {took:?}, at most {allowed} allowed");
    assert!(answered >= 20, "the burst itself is let through: {answered}");
    assert!(refused > 10 * answered, "most of the burst was refused: {answered} answered, {refused} refused");
    assert!(slowest_refusal < Duration::from_secs(1), "refusals are at once: the slowest took {slowest_refusal:?}");
    assert!(report.percent() >= 99.0 && report.ended_early.is_none(), "{report}");
    // Another address is not affected; this one recovers within a second or two.
    rt.block_on(async {
        let other = exchange_on(
            connect_from([127, 0, 0, 6].into(), addr).await,
            &request("GET", "/healthz", &[("Host", "x")], ""),
        )
        .await;
        assert_eq!(other.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again =
            exchange_on(connect_from(burster, addr).await, &request("GET", "/healthz", &[("Host", "x")], "")).await;
        assert_eq!(again.status, 200, "the bucket refills: {}", again.raw);
    });
}

#[test]
fn a_chat_flood_from_200_sockets_closes_no_honest_reader() {
    let server = spawn_server(&["--npcs", "100", "--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"]);
    let addr = server.addr();
    let rt = runtime();
    // The 200 join first; the witness counts the flood itself.
    let mut spammers = rt.block_on(async {
        let mut spammers = Vec::new();
        for i in 0..200 {
            let mut ws = ws_connect_with(addr, "", &[], None).await.expect("a spammer connects");
            join(&mut ws, &format!("spam{i}"), true).await;
            spammers.push(ws);
        }
        spammers
    });
    let witness = Witness::join(addr, "witness", "", Carrier::Query);
    let notices = rt.block_on(async {
        // All at once: each sends its allowance of 5 lines.
        for ws in &mut spammers {
            for n in 0..5 {
                ws.send(binary(&ClientMessage::Chat { text: format!("line {n}") })).await.expect("sent");
            }
        }
        // Every spammer reads (they read too), counting the Notices of dropped lines, while the
        // witness plays for 8 s: one late snapshot on a busy machine is not 1% of them.
        let readers = spammers.into_iter().map(|mut ws| async move {
            let mut notices = 0u32;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
            while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, ws.next()).await {
                if let Message::Binary(bytes) = message
                    && let Ok(ServerMessage::Notice { text }) = codec::decode_server(&bytes)
                {
                    assert!(text.contains("busy"), "{text}");
                    notices += 1;
                }
            }
            notices
        });
        let notices: u32 = futures_util::future::join_all(readers).await.into_iter().sum();
        notices
    });
    let report = witness.report();
    assert!(report.ended_early.is_none(), "the honest reader was closed: {report}");
    assert!(report.percent() >= 99.0, "{report}");
    let lines = witness.chat().len();
    // The budget: 20 at once, then 20 a second over the ticks the server took the lines in
    // (the lines carry their tick; a tick either side for the clock's rounding).
    let ticks: Vec<u64> = witness.chat().iter().map(|line| line.tick).collect();
    let span = ticks.iter().max().unwrap_or(&0) - ticks.iter().min().unwrap_or(&0) + 2;
    let budget = 20 + (20.0 * span as f64 / 60.0).ceil() as usize;
    assert!(lines <= budget, "{lines} lines let through over {span} ticks, the budget is {budget}");
    assert!(lines >= 20, "chat still works under the flood: {lines}");
    assert!(notices >= 800, "of 1000 lines, about 900 were over the server's budget and said so: {notices}");
    let metrics = rt.block_on(exchange(addr, &request("GET", "/metrics", &[("Host", "x")], "")));
    let dropped = metrics
        .body()
        .lines()
        .find(|l| l.starts_with("arena_chat_lines_dropped_total{reason=\"server_budget\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("the budget's drops are counted");
    assert!(dropped >= f64::from(notices), "{dropped} counted, {notices} notices");
}

#[test]
fn readyz_is_full_when_every_player_slot_is_taken_and_closes_start_at_zero() {
    // One room at most: a full room is then a full server.
    let server = spawn_server(&["--max-players", "2", "--max-rooms", "1"]);
    let addr = server.addr();
    let rt = runtime();
    rt.block_on(async {
        let metrics = exchange(addr, &request("GET", "/metrics", &[("Host", "x")], "")).await;
        for code in ["1001", "1002", "1003", "1007", "1008", "1009", "1013", "4001", "none"] {
            let series = format!("arena_ws_closes_total{{code=\"{code}\"}} 0");
            assert!(metrics.body().lines().any(|l| l == series), "{series} at start:\n{}", metrics.body());
        }
        let ready = || async { exchange(addr, &request("GET", "/readyz", &[("Host", "x")], "")).await };
        assert_eq!(ready().await.status, 200);
        let mut a = ws_connect_with(addr, "", &[], None).await.expect("a");
        let mut b = ws_connect_with(addr, "", &[], None).await.expect("b");
        join(&mut a, "a", false).await;
        join(&mut b, "b", false).await;
        let until = |want: u16| async move {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let response = ready().await;
                if response.status == want {
                    return response;
                }
                assert!(Instant::now() < deadline, "/readyz stayed {}: {}", response.status, response.raw);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let full = until(503).await;
        assert!(full.body().contains("player slot"), "{}", full.raw);
        // A spectator still gets in; a leaving player frees the slot.
        let mut watcher = ws_connect_with(addr, "", &[], None).await.expect("spectator");
        join(&mut watcher, "watcher", true).await;
        b.close(None).await.expect("close");
        until(200).await;
    });
}
