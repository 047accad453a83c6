//! Test clients for the end-to-end tests: start the real server library on an ephemeral
//! loopback port, talk to it over real sockets, and decode what comes back.
//!
//! [`hostile`] supports the hostile suite and the other tests that run the real binary as a
//! child process (through `loadtools::child`, the harness the bench uses too).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test support: a panic is the failure report")]

pub mod hostile;

use std::net::SocketAddr;
use std::time::Duration;

use engine::net::NetLimits;
use engine::{Config, Server};
use futures_util::{SinkExt, StreamExt};
use shared::arena::{ArenaRecord, Input};
use shared::snapshot::{ClientState, EntityRecord};
use shared::{
    ClientMessage, DisconnectReason, EntityState, InputFrame, PROTOCOL_VERSION, ScoreEntry, ServerMessage, Welcome,
    codec,
};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{WebSocketStream, client_async, tungstenite};

/// How long any single expectation waits before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Starts the server with these extra flags on 127.0.0.1, port chosen by the OS.
pub async fn start(flags: &[&str]) -> Server {
    start_with_limits(flags, NetLimits::default()).await
}

/// Starts the server with these flags and network limits.
pub async fn start_with_limits(flags: &[&str], limits: NetLimits) -> Server {
    let mut args = vec!["server", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let config = Config::from_args(&args).expect("valid flags");
    Server::start_with_limits(&config, limits).await.expect("server starts")
}

/// The world as a client holds it after applying a snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Server tick.
    pub tick: u64,
    /// Last input applied for this client.
    pub last_input_seq: u32,
    /// Whether this snapshot was a keyframe.
    pub keyframe: bool,
    /// Its size on the wire, in bytes.
    pub bytes: usize,
    /// The decoded quantized records, in id order.
    pub records: Vec<EntityRecord>,
    /// The same in world units, positions dead-reckoned to `tick`.
    pub entities: Vec<EntityState>,
    /// The latest scoreboard received.
    pub scoreboard: Vec<ScoreEntry>,
}

/// A record in world units at `tick`.
pub fn to_world(record: &EntityRecord, tick: u64, tick_rate: u16) -> EntityState {
    record.to_state(tick, tick_rate)
}

impl Snapshot {
    /// The player entity owned by `client_id`.
    pub fn player(&self, client_id: u32) -> Option<&EntityState> {
        self.entities.iter().find(|e| e.is(shared::EntityKind::Player) && e.owner == client_id)
    }
}

/// What the server did next.
#[derive(Debug)]
pub enum Event {
    /// A decoded message.
    Message(ServerMessage),
    /// A close frame (or the connection ending without one: `None`).
    Closed(Option<CloseFrame>),
}

/// How the server ended a connection.
#[derive(Debug)]
pub struct Closing {
    /// The reason in the `Disconnect` message, if one came.
    pub reason: Option<DisconnectReason>,
    /// The close frame's code.
    pub code: Option<u16>,
    /// The close frame's reason text.
    pub text: String,
}

/// A client's byte stream: plain TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How a [`Client`] connects, beyond the defaults (plain `ws://`, no extra headers).
#[derive(Default, Clone)]
pub struct Connect {
    /// Speak TLS with this configuration (`wss://`), with server name `localhost`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Query string after `/ws`, without the `?`.
    pub query: String,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
}

/// A WebSocket game client.
pub struct Client {
    ws: WebSocketStream<Box<dyn Io>>,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
    /// Set after `hello`.
    pub welcome: Option<Welcome>,
    next_seq: u32,
    /// The world decoded from the snapshots so far.
    pub state: ClientState,
    /// The latest scoreboard received.
    pub scoreboard: Vec<ScoreEntry>,
    /// How many `Scoreboard` messages arrived.
    pub scoreboards_received: usize,
    last_snapshot: Option<Snapshot>,
}

impl Client {
    /// Opens a WebSocket to `/ws`.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        Self::upgrade(addr, stream).await
    }

    /// Opens a WebSocket whose socket has a tiny receive buffer, so that the server's writes
    /// stall as soon as this client stops reading.
    pub async fn connect_small_window(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("tcp connect");
        Self::upgrade(addr, stream).await
    }

    async fn upgrade(addr: SocketAddr, stream: TcpStream) -> Client {
        Self::handshake(addr, Box::new(stream), &Connect::default()).await.expect("websocket upgrade")
    }

    /// Opens a WebSocket with `options` (TLS, a query, headers); the error is the refusal.
    pub async fn connect_with(addr: SocketAddr, options: &Connect) -> Result<Client, tungstenite::Error> {
        let tcp = TcpStream::connect(addr).await.expect("tcp connect");
        let stream: Box<dyn Io> = match &options.tls {
            None => Box::new(tcp),
            Some(config) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid name");
                Box::new(connector.connect(name, tcp).await.map_err(tungstenite::Error::Io)?)
            }
        };
        Self::handshake(addr, stream, options).await
    }

    async fn handshake(addr: SocketAddr, stream: Box<dyn Io>, options: &Connect) -> Result<Client, tungstenite::Error> {
        let scheme = if options.tls.is_some() { "wss" } else { "ws" };
        let query = if options.query.is_empty() { String::new() } else { format!("?{}", options.query) };
        let mut request = format!("{scheme}://{addr}/ws{query}").into_client_request()?;
        for (name, value) in &options.headers {
            request.headers_mut().append(*name, value.parse().expect("a valid header value"));
        }
        let (ws, response) = client_async(request, stream).await?;
        assert_eq!(response.status().as_u16(), 101);
        let protocol =
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Client {
            ws,
            protocol,
            welcome: None,
            next_seq: 0,
            state: ClientState::new(shared::arena::schema(), 0),
            scoreboard: Vec::new(),
            scoreboards_received: 0,
            last_snapshot: None,
        })
    }

    /// Connects and completes `Hello`/`Welcome`.
    pub async fn join(addr: SocketAddr, name: &str) -> Client {
        Client::connect(addr).await.hello(name).await
    }

    /// Completes `Hello`/`Welcome` on a connected client, as a player.
    pub async fn hello(self, name: &str) -> Client {
        self.hello_as(name, false).await
    }

    /// Connects and joins as a spectator.
    pub async fn spectate(addr: SocketAddr, name: &str) -> Client {
        Client::connect(addr).await.hello_as(name, true).await
    }

    async fn hello_as(self, name: &str, spectate: bool) -> Client {
        let mut client = self;
        client.send(&ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.into(), spectate }).await;
        match client.next_message().await {
            ServerMessage::Welcome(welcome) => {
                client.state = ClientState::new(welcome.schema.clone(), welcome.tick_rate);
                client.welcome = Some(welcome);
            }
            other => panic!("expected Welcome, got {other:?}"),
        }
        client
    }

    /// This client's id (after `join`).
    pub fn id(&self) -> u32 {
        self.welcome.as_ref().expect("joined").client_id
    }

    /// Encodes and sends a message.
    pub async fn send(&mut self, message: &ClientMessage) {
        let bytes = codec::encode(message).expect("encodes");
        self.send_raw(Message::Binary(bytes.into())).await;
    }

    /// Sends an input with the next sequence number; returns that number.
    pub async fn input(&mut self, movement: glam::Vec2, aim: f32, buttons: u8) -> u32 {
        self.next_seq += 1;
        let input = Input { movement, aim, buttons };
        self.send(&ClientMessage::Input(InputFrame::new(self.next_seq, 0, &input))).await;
        self.next_seq
    }

    /// Sends any WebSocket message as is.
    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// The next message or close, within [`WAIT`].
    pub async fn next_event(&mut self) -> Event {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next()).await.expect("server answered in time");
            match next {
                Some(Ok(Message::Binary(bytes))) => {
                    // After the Welcome, snapshots are read with the schema it named, as a
                    // real client does (a room may run any game).
                    let message = match &self.welcome {
                        Some(welcome) => codec::decode_server_with(&bytes, &welcome.schema),
                        None => codec::decode_server(&bytes),
                    }
                    .expect("server message decodes");
                    self.absorb(&message, bytes.len());
                    return Event::Message(message);
                }
                Some(Ok(Message::Close(frame))) => return Event::Closed(frame),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
                Some(Err(_)) | None => return Event::Closed(None),
            }
        }
    }

    /// The next decoded message; panics on a close.
    pub async fn next_message(&mut self) -> ServerMessage {
        match self.next_event().await {
            Event::Message(message) => message,
            Event::Closed(frame) => panic!("connection closed: {frame:?}"),
        }
    }

    /// Applies what a message says about the world, as a real client would.
    fn absorb(&mut self, message: &ServerMessage, bytes: usize) {
        match message {
            ServerMessage::Snapshot(snapshot) => {
                self.state.apply(snapshot).expect("every snapshot applies to the state the server based it on");
                let tick = snapshot.tick;
                let rate = self.state.tick_rate();
                self.last_snapshot = Some(Snapshot {
                    tick,
                    last_input_seq: snapshot.last_input_seq,
                    keyframe: snapshot.is_keyframe(),
                    bytes,
                    records: self.state.entities().to_vec(),
                    entities: self.state.entities().iter().map(|r| to_world(r, tick, rate)).collect(),
                    scoreboard: self.scoreboard.clone(),
                });
            }
            ServerMessage::Scoreboard(rows) => {
                self.scoreboard = rows.clone();
                self.scoreboards_received += 1;
            }
            _ => {}
        }
    }

    /// The next snapshot, skipping other messages: the world as this client holds it then.
    pub async fn next_snapshot(&mut self) -> Snapshot {
        loop {
            if let ServerMessage::Snapshot(_) = self.next_message().await {
                return self.last_snapshot.clone().expect("just applied");
            }
        }
    }

    /// Reads snapshots until one satisfies `pred`, failing after `within`.
    pub async fn snapshot_where(&mut self, within: Duration, mut pred: impl FnMut(&Snapshot) -> bool) -> Snapshot {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no snapshot matched within {within:?}");
            let snapshot = self.next_snapshot().await;
            if pred(&snapshot) {
                return snapshot;
            }
        }
    }

    /// Reads until the server closes; what it said on the way out.
    pub async fn closing(&mut self) -> Closing {
        let mut reason = None;
        loop {
            match self.next_event().await {
                Event::Message(ServerMessage::Disconnect { reason: r, .. }) => reason = Some(r),
                Event::Message(_) => {}
                Event::Closed(frame) => {
                    return Closing {
                        reason,
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        text: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                }
            }
        }
    }

    /// Closes the connection normally.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = self.ws.next().await {} }).await;
    }

    /// The raw stream, for tests that stop reading on purpose.
    pub fn into_inner(self) -> WebSocketStream<Box<dyn Io>> {
        self.ws
    }
}

/// Sends a raw HTTP request and returns the whole response as text (the server closes).
pub async fn http(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    stream.write_all(request.as_bytes()).await.expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response)).await.expect("response in time").expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

/// A header's value in a raw HTTP response, by case-insensitive name (HTTP header names are
/// case-insensitive; hyper writes them in lower case).
pub fn header(response: &str, name: &str) -> Option<String> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The status code of a raw HTTP response.
pub fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}
