//! The clients of the every-case test: its server child, tokens minted with the engine's own
//! `Secret`, raw requests, and witnesses that play and count snapshots on tasks of the test's
//! runtime.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use engine::clock::unix_now;
use engine::net::front::auth::{Claims, Role, Secret};
use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use integration_tests::hostile::{ServerChild, server_command};

use crate::KEY;
use shared::arena::Input;
use shared::{ClientMessage, InputFrame, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async};

pub(crate) const SECRET: &[u8] = b"the hostile suite's secret, 32 bytes or more";
pub(crate) const SNAPSHOT_RATE: f64 = 20.0;

/// The server child with the suite's limits; where it listens.
pub(crate) fn spawn(secret: &std::path::Path) -> (ServerChild, SocketAddr) {
    let secret = secret.to_str().expect("utf-8");
    let child = server_command(&["--no-web", "--npcs", "100"])
        .args(["--auth-secret-file", secret])
        .args(["--max-connections", "150", "--max-connections-per-ip", "60", "--max-players", "6"])
        .args(["--handshake-timeout", "2"])
        // Many sockets from a few addresses and tokens: the connection rate and the sessions
        // per name are tried in audit.rs.
        .args(["--connect-rate-per-ip", "0", "--max-sessions-per-name", "0"])
        // SIGTERM closes at once: the witnesses check their 1001 (drains: tests/drain.rs).
        .args(["--drain-timeout", "0"])
        .rust_log("warn,engine::server=info")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = child.addr();
    (child, addr)
}

pub(crate) fn token(name: &str, role: Role, ttl: i64) -> String {
    let now = unix_now();
    let claims = Claims { sub: name.into(), role, iat: now, exp: now.saturating_add_signed(ttl) };
    Secret::from_bytes(SECRET).expect("secret").mint(&claims)
}

/// A TCP connection to `addr` from the loopback address `from`.
pub(crate) async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from.parse::<IpAddr>().expect("ip"), 0)).expect("bind a loopback source");
    socket.connect(addr).await.expect("connect")
}

/// Sends a raw request on a new connection and reads the answer until the server closes.
pub(crate) async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn upgrade_request(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// An upgraded socket with a valid token.
pub(crate) async fn upgraded(addr: SocketAddr, name: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/ws?token={}", token(name, Role::Player, 600));
    let (ws, _) = client_async(url.into_client_request().expect("request"), stream).await.expect("upgrade");
    ws
}

pub(crate) fn hello(name: &str) -> Message {
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.into(), spectate: false };
    Message::Binary(codec::encode(&hello).expect("encode").into())
}

/// Reads until the close frame; its code, or 0 if the socket just ended.
pub(crate) async fn close_code<S>(ws: &mut S, within: Duration) -> u16
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let read = tokio::time::timeout(within, async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(frame) = message {
                return frame.map_or(1005, |f| u16::from(f.code));
            }
        }
        0
    })
    .await;
    read.unwrap_or(0)
}

/// A witness: plays, counts snapshots, notes its close.
pub(crate) struct Witness {
    pub(crate) snapshots: Arc<AtomicU64>,
    pub(crate) closed_with: Arc<AtomicU64>,
    pub(crate) started: Instant,
    pub(crate) task: JoinHandle<()>,
}

pub(crate) async fn witness(addr: SocketAddr, name: &str, stop: Arc<AtomicBool>) -> Witness {
    let mut ws = upgraded(addr, name).await;
    ws.send(hello(name)).await.expect("hello");
    loop {
        let Some(Ok(Message::Binary(bytes))) = ws.next().await else { panic!("{name}: no Welcome") };
        if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Welcome(_))) {
            break;
        }
    }
    let (snapshots, closed_with) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (count, close) = (snapshots.clone(), closed_with.clone());
    let task = tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let mut ticker = tokio::time::interval(Duration::from_millis(16));
        let mut seq = 0u32;
        loop {
            tokio::select! {
                _ = ticker.tick(), if !stop.load(Ordering::Relaxed) => {
                    seq += 1;
                    let angle = seq as f32 * 0.02;
                    let input = Input { movement: Vec2::new(angle.cos(), angle.sin()), aim: 0.0, buttons: 0 };
                    let bytes = codec::encode(&ClientMessage::Input(InputFrame::new(seq, 0, &input))).expect("encode");
                    if sink.send(Message::Binary(bytes.into())).await.is_err() {
                        break;
                    }
                }
                next = stream.next() => match next {
                    Some(Ok(Message::Binary(bytes))) => {
                        if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Snapshot(_))) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        close.store(frame.map_or(1005, |f| u16::from(f.code)).into(), Ordering::Relaxed);
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
            }
        }
    });
    Witness { snapshots, closed_with, started: Instant::now(), task }
}
