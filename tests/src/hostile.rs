//! Support for the hostile suite (`tests/tests/hostile/`) and the other tests that run the real
//! `server` binary as a child process (a `loadtools::child::ServerChild`): witness clients
//! that keep playing on their own threads and count what they receive, raw HTTP exchanges over
//! TCP, and WebSocket connections that misbehave on purpose.
//!
//! Everything here talks to the child over real sockets on loopback; nothing reaches into the
//! server's memory, so what is tested is exactly what a remote attacker would meet.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use shared::arena::Input;
use shared::snapshot::ClientState;
use shared::{
    ChatLine, ClientMessage, DisconnectReason, InputFrame, PROTOCOL_VERSION, ScoreEntry, ServerMessage, Welcome, codec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::Closing;
pub use loadtools::child::{ServerChild, ServerCommand};

/// How long one exchange (an HTTP answer, a WebSocket handshake, a close) may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// The close codes `shared/WIRE.md` documents, with the `Disconnect` reason that precedes
/// each. Written out here rather than taken from `DisconnectReason::close_code`, so that the
/// suite checks the server against the document, not against itself.
pub const DOCUMENTED_CLOSES: [(DisconnectReason, u16); 11] = [
    (DisconnectReason::ServerShutdown, 1001),
    (DisconnectReason::VersionMismatch, 1002),
    (DisconnectReason::ProtocolViolation, 1002),
    (DisconnectReason::TextFrame, 1003),
    (DisconnectReason::InvalidMessage, 1007),
    (DisconnectReason::Timeout, 1008),
    (DisconnectReason::TooSlow, 1008),
    (DisconnectReason::MessageTooBig, 1009),
    (DisconnectReason::ServerFull, 1013),
    (DisconnectReason::RateLimited, 1008),
    (DisconnectReason::Kicked, 4001),
];

/// The close code WIRE.md gives for a `Disconnect` reason.
pub fn documented_code(reason: DisconnectReason) -> u16 {
    DOCUMENTED_CLOSES.iter().find(|(r, _)| *r == reason).map(|(_, code)| *code).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The server child
// ---------------------------------------------------------------------------------------------

/// The `server` binary next to this test executable (`target/<profile>/server`). The
/// integration-tests package cannot name another package's binary (`CARGO_BIN_EXE_*` is per
/// package), so it is found on disk; `cargo nextest run --workspace` and `cargo build
/// --workspace` build it.
pub fn server_binary() -> PathBuf {
    loadtools::child::beside_test_executable("server").unwrap_or_else(|e| {
        panic!("{e}: build it first (`cargo build -p server`; `cargo nextest run --workspace` builds it too)")
    })
}

/// The real binary on an ephemeral loopback port with `flags`, logging at info, allowed 20 s
/// to say where it listens; a test may change its log filter before it spawns.
pub fn server_command(flags: &[&str]) -> ServerCommand {
    ServerCommand::new(server_binary())
        .args(["--bind", "127.0.0.1:0"])
        .args(flags)
        .start_timeout(Duration::from_secs(20))
}

/// Starts the real binary with `flags` ([`server_command`]) and waits for its address. The
/// [`ServerChild`] kills it when dropped, also when the test panics, and then prints the end
/// of its log.
pub fn spawn_server(flags: &[&str]) -> ServerChild {
    server_command(flags).spawn().unwrap_or_else(|e| panic!("{e}"))
}

/// Mints a token with the binary itself: `server token --auth-secret-file FILE --name NAME
/// --ttl TTL --role ROLE`.
pub fn mint(secret_file: &Path, name: &str, role: &str, ttl: &str) -> String {
    let output = Command::new(server_binary())
        .arg("token")
        .arg("--auth-secret-file")
        .arg(secret_file)
        .args(["--name", name, "--ttl", ttl, "--role", role])
        .stderr(Stdio::inherit())
        .output()
        .expect("run `server token`");
    assert!(output.status.success(), "`server token` failed: {:?}", output.status);
    let token = String::from_utf8(output.stdout).expect("a token is ASCII").trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT has three parts: {token}");
    token
}

// ---------------------------------------------------------------------------------------------
// Witnesses
// ---------------------------------------------------------------------------------------------

/// How a witness carries its token: the three ways WIRE.md allows.
#[derive(Debug, Clone, Copy)]
pub enum Carrier {
    /// `/ws?token=T`.
    Query,
    /// `Authorization: Bearer T`.
    Header,
    /// `Sec-WebSocket-Protocol: arena.v<N>, bearer.T`.
    Subprotocol,
}

/// What a witness saw while it was counting.
#[derive(Debug, Clone)]
pub struct WitnessReport {
    /// The witness's name.
    pub name: String,
    /// From its `Welcome` until the count stopped.
    pub connected: Duration,
    /// `Snapshot` messages received in that time.
    pub snapshots: u64,
    /// Snapshots it should have received: the snapshot rate × `connected`.
    pub expected: u64,
    /// Longest time between two snapshots.
    pub max_gap: Duration,
    /// Snapshot ticks skipped between the first and the last received (a snapshot the server
    /// superseded before writing it, or ticks the simulation dropped).
    pub skipped: u64,
    /// Inputs sent.
    pub inputs: u64,
    /// How the connection ended, if it did before the count stopped.
    pub ended_early: Option<String>,
}

impl WitnessReport {
    /// Snapshots received, in percent of those expected.
    pub fn percent(&self) -> f64 {
        if self.expected == 0 { 100.0 } else { 100.0 * self.snapshots as f64 / self.expected as f64 }
    }
}

impl std::fmt::Display for WitnessReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "witness {}: {} of {} snapshots ({:.2}%) in {:.2} s, {} snapshot ticks skipped, longest gap {} ms, {} inputs sent",
            self.name,
            self.snapshots,
            self.expected,
            self.percent(),
            self.connected.as_secs_f64(),
            self.skipped,
            self.max_gap.as_millis(),
            self.inputs
        )
    }
}

/// What the witness thread and the test share.
#[derive(Default)]
struct Tally {
    welcomed_at: Option<Instant>,
    counting: bool,
    snapshots: u64,
    last_snapshot: Option<Instant>,
    last_tick: Option<u64>,
    skipped: u64,
    max_gap: Duration,
    inputs: u64,
    chat: Vec<ChatLine>,
    scoreboard: Vec<ScoreEntry>,
    /// Set when the connection ends, with the moment.
    ended: Option<(Closing, Instant)>,
    /// A snapshot that did not decode or apply: a witness that cannot follow the world.
    broken: Option<String>,
}

/// A legitimate player on its own thread (with its own runtime, so that the hostile load in
/// the test's runtime cannot delay its reads): `Hello`, then an `Input` every 1/60 s, reading
/// and applying every message, for the whole run.
pub struct Witness {
    name: String,
    snapshot_rate: u16,
    /// What the server said in `Welcome`.
    pub welcome: Welcome,
    tally: Arc<Mutex<Tally>>,
    thread: Option<JoinHandle<()>>,
    quit: Arc<AtomicBool>,
}

impl Witness {
    /// Connects with `token` carried as `carrier`, joins as a player, and starts playing;
    /// returns once welcomed (or panics after [`WAIT`]).
    pub fn join(addr: SocketAddr, name: &str, token: &str, carrier: Carrier) -> Witness {
        let tally = Arc::new(Mutex::new(Tally { counting: true, ..Tally::default() }));
        let quit = Arc::new(AtomicBool::new(false));
        let (welcomed, welcome) = mpsc::channel();
        let thread = {
            let (tally, quit, token, name) = (tally.clone(), quit.clone(), token.to_owned(), name.to_owned());
            std::thread::Builder::new()
                .name(format!("witness-{name}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    runtime.block_on(play(addr, name, token, carrier, tally, quit, welcomed));
                })
                .expect("spawn a witness thread")
        };
        let welcome = match welcome.recv_timeout(WAIT) {
            Ok(Ok(welcome)) => welcome,
            Ok(Err(why)) => panic!("witness {name} could not join: {why}"),
            Err(_) => panic!("witness {name} was not welcomed within {WAIT:?}"),
        };
        assert_ne!(welcome.entity_id, 0, "witness {name} plays: it has an entity");
        Witness {
            name: name.to_owned(),
            snapshot_rate: welcome.snapshot_rate,
            welcome,
            tally,
            thread: Some(thread),
            quit,
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Chat lines received so far.
    pub fn chat(&self) -> Vec<ChatLine> {
        self.tally().chat.clone()
    }

    /// The latest scoreboard: one row per player on the server.
    pub fn scoreboard(&self) -> Vec<ScoreEntry> {
        self.tally().scoreboard.clone()
    }

    /// How long since its `Welcome`.
    pub fn playing_for(&self) -> Duration {
        self.tally().welcomed_at.map_or(Duration::ZERO, |at| at.elapsed())
    }

    /// Stops counting (the witness keeps playing and reading until the server closes) and
    /// reports what it received while it counted.
    pub fn report(&self) -> WitnessReport {
        let now = Instant::now();
        let mut tally = self.tally();
        tally.counting = false;
        let welcomed_at = tally.welcomed_at.expect("welcomed before join returned");
        let ended_early = tally
            .ended
            .as_ref()
            .map(|(closing, at)| format!("{closing:?} after {:.2} s", at.duration_since(welcomed_at).as_secs_f64()));
        let until = tally.ended.as_ref().map_or(now, |(_, at)| *at);
        let connected = until.duration_since(welcomed_at);
        let expected = (connected.as_secs_f64() * f64::from(self.snapshot_rate)).floor() as u64;
        if let Some(broken) = &tally.broken {
            panic!("witness {}: {broken}", self.name);
        }
        WitnessReport {
            name: self.name.clone(),
            connected,
            snapshots: tally.snapshots,
            expected,
            max_gap: tally.max_gap,
            skipped: tally.skipped,
            inputs: tally.inputs,
            ended_early,
        }
    }

    /// Waits at most `within` for the server to close this witness; how it did.
    pub fn closed(self, within: Duration) -> Closing {
        let deadline = Instant::now() + within;
        loop {
            if let Some((closing, _)) = self.tally().ended.take() {
                return closing;
            }
            assert!(Instant::now() < deadline, "witness {} was not closed within {within:?}", self.name);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The witness's life, on its thread.
async fn play(
    addr: SocketAddr,
    name: String,
    token: String,
    carrier: Carrier,
    tally: Arc<Mutex<Tally>>,
    quit: Arc<AtomicBool>,
    welcomed: mpsc::Sender<Result<Welcome, String>>,
) {
    let lock = || tally.lock().unwrap_or_else(PoisonError::into_inner);
    let (query, headers) = match carrier {
        Carrier::Query => (format!("token={token}"), vec![]),
        Carrier::Header => (String::new(), vec![("Authorization", format!("Bearer {token}"))]),
        Carrier::Subprotocol => {
            (String::new(), vec![("Sec-WebSocket-Protocol", format!("arena.v{PROTOCOL_VERSION}, bearer.{token}"))])
        }
    };
    let mut ws = match ws_connect_with(addr, &query, &headers, None).await {
        Ok(ws) => ws,
        Err(e) => {
            let _ = welcomed.send(Err(format!("upgrade refused: {e}")));
            return;
        }
    };
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.clone(), spectate: false };
    if let Err(e) = ws.send(binary(&hello)).await {
        let _ = welcomed.send(Err(format!("Hello not sent: {e}")));
        return;
    }
    let (mut state, step) = match tokio::time::timeout(WAIT, ws.next()).await {
        Ok(Some(Ok(Message::Binary(bytes)))) => match codec::decode_server(&bytes) {
            Ok(ServerMessage::Welcome(welcome)) => {
                lock().welcomed_at = Some(Instant::now());
                let state = ClientState::new(welcome.schema.clone(), welcome.tick_rate);
                // Ticks between two snapshots.
                let step = u64::from((welcome.tick_rate / welcome.snapshot_rate.max(1)).max(1));
                let _ = welcomed.send(Ok(welcome));
                (state, step)
            }
            other => {
                let _ = welcomed.send(Err(format!("expected Welcome, got {other:?}")));
                return;
            }
        },
        other => {
            let _ = welcomed.send(Err(format!("expected Welcome, got {other:?}")));
            return;
        }
    };
    let mut ticker = tokio::time::interval(Duration::from_micros(16_667));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u32;
    let mut reason = None;
    let end = loop {
        if quit.load(Ordering::Relaxed) {
            return;
        }
        tokio::select! {
            _ = ticker.tick() => {
                // Walk in a slow circle, aiming where it walks: a real player's stream.
                seq += 1;
                let angle = (seq as f32 * 0.02).sin().atan2((seq as f32 * 0.02).cos());
                let input = Input { movement: Vec2::from_angle(angle), aim: angle, buttons: 0 };
                if let Err(e) = ws.send(binary(&ClientMessage::Input(InputFrame::new(seq, 0, &input)))).await {
                    break Closing { reason, code: None, text: format!("input not sent: {e}") };
                }
                lock().inputs += 1;
            }
            // Wake now and then to see `quit`, even if the server went silent.
            next = tokio::time::timeout(Duration::from_millis(200), ws.next()) => match next {
                Err(_) => {}
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    let message = match codec::decode_server(&bytes) {
                        Ok(message) => message,
                        Err(e) => {
                            lock().broken.get_or_insert(format!("undecodable server message: {e}"));
                            continue;
                        }
                    };
                    let mut tally = lock();
                    match message {
                        ServerMessage::Snapshot(snapshot) => {
                            if let Err(e) = state.apply(&snapshot) {
                                tally.broken.get_or_insert(format!("snapshot of tick {} does not apply: {e}", snapshot.tick));
                            }
                            if tally.counting {
                                let now = Instant::now();
                                if let Some(last) = tally.last_snapshot {
                                    tally.max_gap = tally.max_gap.max(now.duration_since(last));
                                }
                                tally.last_snapshot = Some(now);
                                tally.snapshots += 1;
                                if let Some(last) = tally.last_tick {
                                    tally.skipped += (snapshot.tick.saturating_sub(last) / step).saturating_sub(1);
                                }
                                tally.last_tick = Some(snapshot.tick);
                            }
                        }
                        ServerMessage::Chat(line) => tally.chat.push(line),
                        ServerMessage::Scoreboard(rows) => tally.scoreboard = rows,
                        ServerMessage::Disconnect { reason: r, .. } => reason = Some(r),
                        _ => {}
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    break Closing {
                        reason,
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        text: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => break Closing { reason, code: None, text: format!("socket error: {e}") },
                Ok(None) => break Closing { reason, code: None, text: "stream ended without a close frame".into() },
            },
        }
    };
    lock().ended = Some((end, Instant::now()));
    // Answer the close, as a client should, then hang up.
    let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------------

/// A raw HTTP response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// Every byte received, lossily as text.
    pub raw: String,
    /// The first status code (0 if none arrived).
    pub status: u16,
}

impl Response {
    /// Parses what arrived.
    pub fn from_bytes(bytes: &[u8]) -> Response {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let status = if raw.starts_with("HTTP/1.") {
            raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
        } else {
            0
        };
        Response { raw, status }
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        crate::header(&self.raw, name)
    }

    /// The body (after the head).
    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    /// Whether any status line in the bytes says 101: something was upgraded.
    pub fn upgraded(&self) -> bool {
        self.raw.contains("HTTP/1.1 101") || self.raw.contains("HTTP/1.0 101")
    }
}

/// Opens a TCP connection from `local` (any 127.x.y.z address is loopback on Linux, which
/// lets one machine be several clients to the per-address limit).
pub async fn connect_from(local: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(local, 0)).unwrap_or_else(|e| panic!("bind {local}: {e}"));
    socket.connect(addr).await.unwrap_or_else(|e| panic!("connect from {local}: {e}"))
}

/// Sends `request` on a new connection and reads until the server closes, at most [`WAIT`].
/// A reset after the answer (the server closing with part of a huge request unread) ends the
/// read like a close; the bytes that arrived are kept.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let stream = TcpStream::connect(addr).await.expect("tcp connect");
    exchange_on(stream, request).await
}

/// [`exchange`] on an open connection.
pub async fn exchange_on(mut stream: TcpStream, request: &[u8]) -> Response {
    // The server may answer and close before it has read everything (431): keep going to
    // read its answer even if our write fails.
    let _ = tokio::time::timeout(WAIT, stream.write_all(request)).await;
    Response::from_bytes(&read_until_closed(&mut stream, WAIT).await)
}

/// Reads until EOF, an error or `limit`; what arrived.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    received
}

/// Whether the server still answers plain HTTP: `GET /healthz` (open with auth on, unlike
/// `/stats`) on a fresh connection is 200.
pub async fn still_serving(addr: SocketAddr) -> bool {
    let response = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: arena\r\nConnection: close\r\n\r\n").await;
    response.status == 200
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket connections
// ---------------------------------------------------------------------------------------------

/// A client WebSocket over plain TCP.
pub type RawWs = WebSocketStream<TcpStream>;

/// Upgrades a new connection to `/ws?QUERY` with extra `headers`; `recv_buffer` shrinks the
/// socket's receive buffer first (for clients that stop reading). The error is the refusal.
pub async fn ws_connect_with(
    addr: SocketAddr,
    query: &str,
    headers: &[(&'static str, String)],
    recv_buffer: Option<u32>,
) -> Result<RawWs, tungstenite::Error> {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(bytes) = recv_buffer {
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
    }
    let stream = socket.connect(addr).await.map_err(tungstenite::Error::Io)?;
    stream.set_nodelay(true).map_err(tungstenite::Error::Io)?;
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    let mut request = format!("ws://{addr}/ws{query}").into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().append(*name, value.parse().expect("a valid header value"));
    }
    let (ws, response) = tokio::time::timeout(WAIT, client_async(request, stream))
        .await
        .map_err(|_| tungstenite::Error::Io(std::io::ErrorKind::TimedOut.into()))??;
    assert_eq!(response.status().as_u16(), 101, "upgraded");
    Ok(ws)
}

/// Upgrades with `token` in the query; panics if refused.
pub async fn ws_connect(addr: SocketAddr, token: &str) -> RawWs {
    ws_connect_with(addr, &format!("token={token}"), &[], None).await.expect("upgrade with a valid token")
}

/// A client message as one binary WebSocket message.
pub fn binary(message: &ClientMessage) -> Message {
    Message::Binary(codec::encode(message).expect("encodes").into())
}

/// A `Hello` of this protocol version.
pub fn hello(name: &str, spectate: bool) -> ClientMessage {
    ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.into(), spectate }
}

/// Sends `Hello` and reads up to the `Welcome`.
pub async fn join(ws: &mut RawWs, name: &str, spectate: bool) -> Welcome {
    ws.send(binary(&hello(name, spectate))).await.expect("send Hello");
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("Welcome in time") {
            Some(Ok(Message::Binary(bytes))) => match codec::decode_server(&bytes).expect("decodes") {
                ServerMessage::Welcome(welcome) => return welcome,
                other => panic!("{name}: expected Welcome, got {other:?}"),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("{name}: expected Welcome, got {other:?}"),
        }
    }
}

/// Reads until the server closes, at most `limit`: its `Disconnect` reason, close code and
/// text, and how long it took. `None` if the connection was still open at `limit`.
pub async fn closing_within(ws: &mut RawWs, limit: Duration) -> Option<(Closing, Duration)> {
    let started = Instant::now();
    let mut reason = None;
    let read = tokio::time::timeout(limit, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    if let Ok(ServerMessage::Disconnect { reason: r, .. }) = codec::decode_server(&bytes) {
                        reason = Some(r);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Closing {
                        reason,
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        text: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Closing { reason, code: None, text: format!("socket error: {e}") },
                None => return Closing { reason, code: None, text: "stream ended without a close frame".into() },
            }
        }
    })
    .await;
    read.ok().map(|closing| (closing, started.elapsed()))
}

/// Like [`closing_within`], but a connection still open at `limit` fails the test.
pub async fn closed_within(ws: &mut RawWs, limit: Duration, what: &str) -> (Closing, Duration) {
    closing_within(ws, limit).await.unwrap_or_else(|| panic!("{what}: the server did not close within {limit:?}"))
}

// ---------------------------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so a failing fuzz case is reproducible from
/// its seed without a dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Hex, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}
