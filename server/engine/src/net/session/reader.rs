//! The read half of a session: decodes, checks and forwards every client message, in its own
//! task so that a client that does not read never stops us reading from it.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use shared::{ClientMessage, ConnectionState, DisconnectReason, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};

use super::chat_limit::{ChatBudget, ChatLimit};
use super::clients::ClientInfo;
use super::context::{Pass, Shared, Ws};
use super::link::SimLink;
use crate::bridge::{ClientId, OutFrame, ToSim};
use crate::metrics::ClientGuard;
use crate::net::bucket::TokenBucket;
use crate::net::replication::send_queue::SendQueue;

/// How the read loop ended.
pub(super) enum ReadEnd {
    /// The client broke a rule; a close is queued for the writer.
    Violation,
    /// The peer closed or the socket failed.
    PeerGone,
}

/// The read half: decodes, checks and forwards every client message.
pub(super) struct Reader {
    stream: SplitStream<Ws>,
    client: ClientId,
    state: ConnectionState,
    queue: Arc<SendQueue>,
    pass: Pass,
    /// What the admin page shows of this client (its name is set from the `Hello`).
    info: Arc<ClientInfo>,
    budget: TokenBucket,
    chat: ChatLimit,
    /// This client in `arena_clients`, until the reader is dropped with the session.
    counted: ClientGuard,
    shared: Arc<Shared>,
    link: Arc<SimLink>,
}

impl Reader {
    /// The reader of a session that has just registered as `client`.
    pub(super) fn new(
        stream: SplitStream<Ws>,
        client: ClientId,
        queue: Arc<SendQueue>,
        pass: Pass,
        info: Arc<ClientInfo>,
        shared: Arc<Shared>,
        link: Arc<SimLink>,
    ) -> Reader {
        Reader {
            stream,
            client,
            state: ConnectionState::AwaitingHello,
            queue,
            pass,
            info,
            chat: ChatLimit::default(),
            budget: TokenBucket::new(
                f64::from(shared.limits.messages_per_second),
                f64::from(shared.limits.message_burst),
                std::time::Instant::now(),
            ),
            counted: shared.metrics.client(),
            shared,
            link,
        }
    }

    /// Reads until the peer's close frame, or an error, after our close (RFC 6455, section
    /// 7.1.1); the caller bounds the wait.
    pub(super) async fn read_to_close(&mut self) {
        while let Some(Ok(_)) = self.stream.next().await {}
    }

    pub(super) async fn run(&mut self) -> ReadEnd {
        let limits = self.shared.limits.clone();
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
                self.shared.metrics.frame_in(message.len());
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
                    self.info.pong_received(&self.shared.clients);
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
            (self.link.check_input)(&frame.data)
                .map_err(|why| (DisconnectReason::InvalidMessage, format!("invalid input: {why}")))?;
        }
        match message {
            ClientMessage::Ping { id } => {
                let pong = codec::encode(&ServerMessage::Pong { id })
                    .map_err(|e| (DisconnectReason::InvalidMessage, e.to_string()))?;
                self.queue.push(OutFrame::reliable(pong));
            }
            ClientMessage::ReplayControl(_) if !self.link.replay => {
                return Err((DisconnectReason::ProtocolViolation, "ReplayControl: this server is not a replay".into()));
            }
            ClientMessage::Chat { .. } if self.link.replay => self.notice("chat is off in replays".into())?,
            ClientMessage::Chat { .. } if !self.chat.allow(Instant::now()) => self.notice(ChatLimit::notice())?,
            ClientMessage::Chat { .. } if !self.link.chat_budget.allow(Instant::now()) => {
                self.shared.metrics.chat_dropped_budget();
                self.notice(ChatBudget::notice())?;
            }
            mut message => {
                if let ClientMessage::Hello { name, spectate, .. } = &mut message {
                    self.state = ConnectionState::Playing;
                    if let Some(token_name) = &self.pass.name {
                        name.clone_from(token_name);
                    }
                    *spectate |= self.pass.spectator;
                    if *spectate {
                        // A spectator takes no player's place.
                        self.pass.place = None;
                    }
                    let _ = self.info.name.set(name.clone());
                    let _ = self.info.spectator.set(*spectate);
                    self.counted.hello(*spectate);
                }
                let _ = self.link.to_sim.send(ToSim::Message { client: self.client, message });
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
