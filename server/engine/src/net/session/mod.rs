//! A game session on an upgraded connection: the connection-state machine, the checks on every
//! client message, and the one place connections are closed.
//!
//! Each binary message is decoded by `shared::codec`, checked by `ClientMessage::verify` for
//! the connection's state, and only then sent to the simulation. Anything else ends this
//! connection alone, with `Disconnect` and a close code (see `shared/WIRE.md`).

pub mod chat_limit;
pub mod clients;
pub mod conn_log;
pub mod name_slots;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use shared::snapshot::Frame;
use shared::{ClientMessage, ConnectionState, DisconnectReason, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use crate::bridge::{ClientId, OutFrame, ToSim};
use crate::metrics::ClientGuard;
use crate::net::bucket::TokenBucket;
use crate::net::conditioner::Conditioned;
use crate::net::drain::seconds_left;
use crate::net::front::auth::Role;
use crate::net::front::upgrade::Identity;
use crate::net::replication::send_queue::{MAX_RELIABLE_FRAMES, Outgoing, SendQueue};
use crate::net::{NetContext, stopping};
use chat_limit::{ChatBudget, ChatLimit};
use clients::ClientInfo;

/// Longest close reason a close frame can carry (RFC 6455: 125-byte control payload).
const MAX_CLOSE_REASON: usize = 123;
/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Messages longer than this go out as fragments of this size. tungstenite's write buffer
/// keeps the capacity of the largest frame for the connection's life: a keyframe sent whole
/// would pin its size (8 KB for the W1 crowd) on every connection.
const FRAGMENT_BYTES: usize = 2048;

/// An upgraded connection, plain or TLS, as a WebSocket; through the link conditioner when
/// that is on (testing only).
pub type Ws = WebSocketStream<Conditioned<TokioIo<Upgraded>>>;

/// Runs the session until the connection ends; the simulation hears of its start and end.
///
/// Reading and writing are two loops on the two halves of the socket, each in its own task
/// (so each is woken by its own events only): a write blocked on a client that does not read
/// never stops us reading from it (its inputs, its pings, its close), and a flood of reads
/// never starves the writes. The writer owns the session's end.
///
/// `identity` is what the upgrade's token said: its name replaces the `Hello` name, and a
/// spectator token joins as a spectator whatever the `Hello` asks.
pub async fn run(ws: Ws, addr: SocketAddr, identity: Identity, ctx: Arc<NetContext>) {
    let capacity = MAX_RELIABLE_FRAMES + ctx.limits.message_burst as usize;
    let queue = SendQueue::with_capacity(capacity)
        .with_chat_capacity(ctx.chat_budget.per_second() as usize)
        .counting_superseded(ctx.metrics.superseded())
        .counting_chat_dropped(ctx.metrics.chat_dropped_slow_reader());
    let queue = Arc::new(queue);
    let client = ctx.registry.register(queue.clone());
    let _ = ctx.to_sim.send(ToSim::Connected { client, addr });
    ctx.conn_log.started(client, addr);
    // What the admin page shows of it; its name also goes in the connection's last log line.
    let info = ctx.clients.insert(client, addr, queue.clone());
    let (sink, stream) = ws.split();
    let mut reader = Reader {
        stream,
        client,
        state: ConnectionState::AwaitingHello,
        queue: queue.clone(),
        identity,
        info: info.clone(),
        chat: ChatLimit::default(),
        budget: TokenBucket::new(
            f64::from(ctx.limits.messages_per_second),
            f64::from(ctx.limits.message_burst),
            std::time::Instant::now(),
        ),
        counted: ctx.metrics.client(),
        ctx: ctx.clone(),
    };
    let mut reading = tokio::spawn(async move {
        let end = reader.run().await;
        (end, reader)
    });
    let mut writer =
        Writer { sink, client, queue: queue.clone(), baseline: None, info: info.clone(), ctx: ctx.clone() };
    let (end, reader) = writer.run(&mut reading).await;
    let closed = matches!(end, End::Closed(_));
    // After our close, wait briefly for the peer's (RFC 6455, section 7.1.1).
    let still_reading = match reader {
        ReaderState::Violated(mut reader) => {
            if closed {
                let drain = async { while let Some(Ok(_)) = reader.stream.next().await {} };
                let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
            }
            false
        }
        ReaderState::Gone => false,
        ReaderState::Running => !closed || tokio::time::timeout(CLOSE_GRACE, &mut reading).await.is_err(),
    };
    // The reader must be gone before the simulation hears that the client is.
    if still_reading {
        reading.abort();
        let _ = reading.await;
    }
    // The simulation hears first; only then may the id be handed out again.
    let _ = ctx.to_sim.send(ToSim::Disconnected { client });
    ctx.registry.remove(client);
    let close_code = match end {
        End::Closed(reason) => reason.close_code(),
        End::PeerGone => 0,
    };
    ctx.metrics.closed((close_code != 0).then_some(close_code));
    let reason = match end {
        End::Closed(reason) => format!("{reason:?}"),
        End::PeerGone => "the client left".to_owned(),
    };
    ctx.clients.remove(client);
    ctx.conn_log.ended(client, addr, info.name.get().map(String::as_str), close_code, &reason);
    tracing::debug!(%client, superseded = queue.superseded(), "disconnected");
}

/// How a session ended.
enum End {
    /// We closed it, for this reason.
    Closed(DisconnectReason),
    /// The peer closed or the socket failed.
    PeerGone,
}

/// How the read loop ended.
enum ReadEnd {
    /// The client broke a rule; a close is queued for the writer.
    Violation,
    /// The peer closed or the socket failed.
    PeerGone,
}

/// Where the reader task stands when the writer ends.
enum ReaderState {
    /// Still reading (its task must be stopped).
    Running,
    /// It ended on a violation; its stream still has the peer's close frame to come.
    Violated(Reader),
    /// It ended: the peer is gone.
    Gone,
}

/// The read half: decodes, checks and forwards every client message.
struct Reader {
    stream: SplitStream<Ws>,
    client: ClientId,
    state: ConnectionState,
    queue: Arc<SendQueue>,
    identity: Identity,
    /// What the admin page shows of this client (its name is set from the `Hello`).
    info: Arc<ClientInfo>,
    budget: TokenBucket,
    chat: ChatLimit,
    /// This client in `arena_clients`, until the reader is dropped with the session.
    counted: ClientGuard,
    ctx: Arc<NetContext>,
}

impl Reader {
    async fn run(&mut self) -> ReadEnd {
        let limits = self.ctx.limits.clone();
        let hello_deadline = Instant::now() + limits.hello_timeout;
        let mut last_heard = Instant::now();
        loop {
            let deadline = match self.state {
                ConnectionState::AwaitingHello => hello_deadline,
                ConnectionState::Playing => last_heard + limits.idle_timeout,
            };
            let incoming = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(incoming) => incoming,
                Err(_) if self.state == ConnectionState::AwaitingHello => {
                    return self.violation(DisconnectReason::Timeout, "no Hello in time".into());
                }
                Err(_) => return self.violation(DisconnectReason::Timeout, "no traffic from the client".into()),
            };
            last_heard = Instant::now();
            if let Some(Ok(message)) = &incoming {
                self.ctx.metrics.frame_in(message.len());
            }
            let refused = match incoming {
                None => return ReadEnd::PeerGone,
                Some(Ok(Message::Binary(bytes))) => self.on_binary(&bytes).err(),
                Some(Ok(Message::Text(_))) => {
                    Some((DisconnectReason::TextFrame, "text frames are not accepted; send binary".into()))
                }
                // Pings are answered and close frames replied to by tungstenite itself; pongs
                // only prove liveness. Control frames count against the message rate too, or
                // a ping-frame flood would cost us a pong each, unlimited.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) if !self.budget.take(Instant::now().into_std()) => {
                    Some((DisconnectReason::RateLimited, "too many messages per second".into()))
                }
                Some(Ok(Message::Pong(_))) => {
                    self.info.pong_received(&self.ctx.clients);
                    None
                }
                Some(Ok(Message::Ping(_) | Message::Frame(_) | Message::Close(_))) => None,
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                    Some((DisconnectReason::MessageTooBig, format!("message of {size} bytes exceeds {max_size}")))
                }
                Some(Err(WsError::Protocol(e))) => {
                    Some((DisconnectReason::ProtocolViolation, format!("WebSocket protocol error: {e}")))
                }
                Some(Err(WsError::Utf8(_))) => Some((DisconnectReason::InvalidMessage, "invalid UTF-8".into())),
                Some(Err(_)) => return ReadEnd::PeerGone,
            };
            if let Some((reason, why)) = refused {
                return self.violation(reason, why);
            }
        }
    }

    fn violation(&self, reason: DisconnectReason, why: String) -> ReadEnd {
        self.queue.close(reason, why);
        ReadEnd::Violation
    }

    /// Handles one binary message; `Err` closes the connection with that reason.
    fn on_binary(&mut self, bytes: &[u8]) -> Result<(), (DisconnectReason, String)> {
        if !self.budget.take(Instant::now().into_std()) {
            return Err((DisconnectReason::RateLimited, "too many messages per second".into()));
        }
        let message = codec::decode_client(bytes).map_err(|e| self.undecodable(bytes, e))?;
        message.verify(self.state).map_err(|e| (e.reason(), e.to_string()))?;
        if let ClientMessage::Input(frame) = &message {
            (self.ctx.check_input)(&frame.data)
                .map_err(|why| (DisconnectReason::InvalidMessage, format!("invalid input: {why}")))?;
        }
        match message {
            ClientMessage::Ping { id } => {
                let pong = codec::encode(&ServerMessage::Pong { id })
                    .map_err(|e| (DisconnectReason::InvalidMessage, e.to_string()))?;
                self.queue.push(OutFrame::reliable(pong));
            }
            ClientMessage::ReplayControl(_) if !self.ctx.replay => {
                return Err((DisconnectReason::ProtocolViolation, "ReplayControl: this server is not a replay".into()));
            }
            ClientMessage::Chat { .. } if self.ctx.replay => self.notice("chat is off in replays".into())?,
            ClientMessage::Chat { .. } if !self.chat.allow(Instant::now()) => self.notice(ChatLimit::notice())?,
            ClientMessage::Chat { .. } if !self.ctx.chat_budget.allow(Instant::now()) => {
                self.ctx.metrics.chat_dropped_budget();
                self.notice(ChatBudget::notice())?;
            }
            mut message => {
                if let ClientMessage::Hello { name, spectate, .. } = &mut message {
                    self.state = ConnectionState::Playing;
                    if let Some(token_name) = &self.identity.name {
                        name.clone_from(token_name);
                    }
                    *spectate |= self.identity.role == Role::Spectator;
                    let _ = self.info.name.set(name.clone());
                    let _ = self.info.spectator.set(*spectate);
                    self.counted.hello(*spectate);
                }
                let _ = self.ctx.to_sim.send(ToSim::Message { client: self.client, message });
            }
        }
        Ok(())
    }

    /// Queues a `Notice` for this client only.
    fn notice(&self, text: String) -> Result<(), (DisconnectReason, String)> {
        let bytes = codec::encode(&ServerMessage::Notice { text })
            .map_err(|e| (DisconnectReason::InvalidMessage, e.to_string()))?;
        self.queue.push(OutFrame::reliable(bytes));
        Ok(())
    }

    /// Why bytes did not decode: a `Hello` of another protocol version is a version mismatch
    /// (its layout may differ from ours), anything else is invalid.
    fn undecodable(&self, bytes: &[u8], error: codec::CodecError) -> (DisconnectReason, String) {
        match codec::hello_version(bytes) {
            Some(version) if self.state == ConnectionState::AwaitingHello && version != PROTOCOL_VERSION => (
                DisconnectReason::VersionMismatch,
                format!("protocol version mismatch: server speaks {PROTOCOL_VERSION}, client sent {version}"),
            ),
            _ => (DisconnectReason::InvalidMessage, error.to_string()),
        }
    }
}

/// The write half: drains the send queue, encoding each snapshot against what this socket got
/// last, pings, and performs every close.
struct Writer {
    sink: SplitSink<Ws, Message>,
    client: ClientId,
    queue: Arc<SendQueue>,
    /// The last state written to this socket: the baseline of the next delta.
    baseline: Option<Arc<Frame>>,
    info: Arc<ClientInfo>,
    ctx: Arc<NetContext>,
}

impl Writer {
    /// Writes until the session ends; returns how, and where the reader task stands.
    async fn run(&mut self, reading: &mut JoinHandle<(ReadEnd, Reader)>) -> (End, ReaderState) {
        let shutdown = stopping(self.ctx.shutdown.clone());
        tokio::pin!(shutdown);
        let interval = self.ctx.limits.ping_interval;
        let mut pings = tokio::time::interval_at(Instant::now() + interval, interval);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let queue = self.queue.clone();
        let mut reader = ReaderState::Running;
        let drain = self.ctx.drain.clone();
        let draining = drain.started();
        tokio::pin!(draining);
        let mut warned = false;
        loop {
            let sent = tokio::select! {
                _ = &mut shutdown => {
                    let end = self.close(DisconnectReason::ServerShutdown, "server shutting down").await;
                    return (end, reader);
                }
                joined = &mut *reading, if matches!(reader, ReaderState::Running) => match joined {
                    // The reader queued a close; it comes out of the queue next.
                    Ok((ReadEnd::Violation, finished)) => {
                        reader = ReaderState::Violated(finished);
                        Ok(())
                    }
                    Ok((ReadEnd::PeerGone, _)) | Err(_) => return (End::PeerGone, ReaderState::Gone),
                },
                _ = pings.tick() => {
                    self.info.ping_sent(&self.ctx.clients);
                    self.send(Message::Ping(Bytes::from_static(b"hb"))).await
                }
                deadline = &mut draining, if !warned => {
                    // Once: the client shows how long it has, then gets 1001 at shutdown.
                    warned = true;
                    let warning = ServerMessage::Draining { seconds: seconds_left(deadline) };
                    match codec::encode(&warning) {
                        Ok(bytes) => self.send_binary(bytes.into()).await,
                        Err(_) => Ok(()),
                    }
                }
                outgoing = queue.next() => match outgoing {
                    Outgoing::Frame(frame) => self.send_binary(frame.bytes).await,
                    Outgoing::State(frame, ack) => self.send_state(frame, ack).await,
                    Outgoing::Close(reason, message) => return (self.close(reason, &message).await, reader),
                },
            };
            if sent.is_err() {
                return (End::PeerGone, reader);
            }
        }
    }

    /// Writes the snapshot that takes this client from its baseline to `frame`; nothing if it
    /// has `frame` already (a replay re-sending a paused tick).
    async fn send_state(&mut self, frame: Arc<Frame>, last_input_seq: u32) -> Result<(), ()> {
        if self.baseline.as_ref().is_some_and(|b| Arc::ptr_eq(b, &frame)) {
            return Ok(());
        }
        let body = self.ctx.deltas.body(self.baseline.as_deref(), &frame);
        let mut bytes = codec::snapshot_head(last_input_seq);
        bytes.extend_from_slice(&body);
        self.send_binary(bytes.into()).await?;
        self.baseline = Some(frame);
        Ok(())
    }

    /// Writes one binary message, in fragments of [`FRAGMENT_BYTES`] if it is longer.
    async fn send_binary(&mut self, bytes: Bytes) -> Result<(), ()> {
        self.ctx.clients.sent(&self.info, bytes.len());
        if bytes.len() <= FRAGMENT_BYTES {
            return self.send(Message::Binary(bytes)).await;
        }
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + FRAGMENT_BYTES).min(bytes.len());
            let opcode = if at == 0 { Data::Binary } else { Data::Continue };
            let fragment = WsFrame::message(bytes.slice(at..end), OpCode::Data(opcode), end == bytes.len());
            self.send(Message::Frame(fragment)).await?;
            at = end;
        }
        Ok(())
    }

    /// Writes one message, giving up on a client that has not read for the write timeout.
    async fn send(&mut self, message: Message) -> Result<(), ()> {
        let len = message.len();
        match tokio::time::timeout(self.ctx.limits.write_timeout, self.sink.send(message)).await {
            Ok(Ok(())) => {
                self.ctx.metrics.frame_out(len);
                Ok(())
            }
            Ok(Err(_)) => Err(()),
            Err(_) => {
                tracing::debug!(client = %self.client, "write timed out; dropping stalled client");
                Err(())
            }
        }
    }

    /// The one way the server ends a session: `Disconnect`, then the close frame. The caller
    /// then waits briefly for the peer's close frame.
    async fn close(&mut self, reason: DisconnectReason, message: &str) -> End {
        tracing::debug!(client = %self.client, ?reason, message, "closing");
        let notice = ServerMessage::Disconnect { reason, message: message.to_owned() };
        if let Ok(bytes) = codec::encode(&notice) {
            let _ = tokio::time::timeout(CLOSE_GRACE, self.sink.send(Message::Binary(bytes.into()))).await;
        }
        let frame = CloseFrame { code: CloseCode::from(reason.close_code()), reason: truncate(message).into() };
        let _ = tokio::time::timeout(CLOSE_GRACE, self.sink.send(Message::Close(Some(frame)))).await;
        End::Closed(reason)
    }
}

fn truncate(reason: &str) -> String {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_control_frame() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_CLOSE_REASON && cut.chars().all(|c| c == 'é'));
    }
}
