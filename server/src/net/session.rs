//! A game session on an upgraded connection: the connection-state machine, the checks on every
//! client message, and the one place connections are closed.
//!
//! Each binary message is decoded by `shared::codec`, checked by `ClientMessage::verify` for
//! the connection's state, and only then sent to the simulation. Anything else ends this
//! connection alone, with `Disconnect` and a close code (see `shared/WIRE.md`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use shared::{ClientMessage, ConnectionState, DisconnectReason, ServerMessage, codec};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::send_queue::{Outgoing, SendQueue};
use super::{NetContext, stopping};
use crate::bridge::{ClientId, ToSim};

/// Longest close reason a close frame can carry (RFC 6455: 125-byte control payload).
const MAX_CLOSE_REASON: usize = 123;
/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

type Ws = WebSocketStream<TcpStream>;

/// Runs the session until the connection ends; the simulation hears of its start and end.
pub async fn run(ws: Ws, addr: SocketAddr, ctx: Arc<NetContext>) {
    let client = ClientId(ctx.next_client.fetch_add(1, Ordering::Relaxed) + 1);
    let queue = Arc::new(SendQueue::new());
    ctx.registry.insert(client, queue.clone());
    let _ = ctx.to_sim.send(ToSim::Connected { client, addr });
    tracing::debug!(%client, %addr, "connected");
    let mut session = Session {
        ws,
        client,
        state: ConnectionState::AwaitingHello,
        queue: queue.clone(),
        budget: RateBudget::new(ctx.limits.messages_per_second, ctx.limits.message_burst),
        ctx: ctx.clone(),
    };
    let end = session.serve().await;
    ctx.registry.remove(client);
    let _ = ctx.to_sim.send(ToSim::Disconnected { client });
    let close_code = match end {
        End::Closed(reason) => reason.close_code(),
        End::PeerGone => 0,
    };
    tracing::debug!(%client, close_code, superseded = queue.superseded(), "disconnected");
}

/// How a session ended.
enum End {
    /// We closed it, for this reason.
    Closed(DisconnectReason),
    /// The peer closed or the socket failed.
    PeerGone,
}

struct Session {
    ws: Ws,
    client: ClientId,
    state: ConnectionState,
    queue: Arc<SendQueue>,
    budget: RateBudget,
    ctx: Arc<NetContext>,
}

impl Session {
    async fn serve(&mut self) -> End {
        let limits = self.ctx.limits.clone();
        let shutdown = stopping(self.ctx.shutdown.clone());
        tokio::pin!(shutdown);
        let hello_deadline = tokio::time::sleep(limits.hello_timeout);
        tokio::pin!(hello_deadline);
        let mut pings = tokio::time::interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let queue = self.queue.clone();
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    return self.close(DisconnectReason::ServerShutdown, "server shutting down").await;
                }
                _ = &mut hello_deadline, if self.state == ConnectionState::AwaitingHello => {
                    return self.close(DisconnectReason::Timeout, "no Hello in time").await;
                }
                _ = pings.tick() => {
                    if last_heard.elapsed() >= limits.idle_timeout {
                        return self.close(DisconnectReason::Timeout, "no traffic from the client").await;
                    }
                    if self.send(Message::Ping(Bytes::from_static(b"hb"))).await.is_err() {
                        return End::PeerGone;
                    }
                }
                outgoing = queue.next() => match outgoing {
                    Outgoing::Frame(frame) => {
                        if self.send(Message::Binary(frame.into_bytes())).await.is_err() {
                            return End::PeerGone;
                        }
                    }
                    Outgoing::Close(reason, message) => return self.close(reason, &message).await,
                },
                incoming = self.ws.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        None => return End::PeerGone,
                        Some(Ok(Message::Binary(bytes))) => {
                            if let Err((reason, why)) = self.on_binary(&bytes).await {
                                return self.close(reason, &why).await;
                            }
                        }
                        Some(Ok(Message::Text(_))) => {
                            return self.close(DisconnectReason::TextFrame, "text frames are not accepted; send binary").await;
                        }
                        // Pongs only prove liveness; pings are answered and close frames
                        // replied to by tungstenite itself.
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                        Some(Ok(Message::Close(_))) => {}
                        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                            let why = format!("message of {size} bytes exceeds {max_size}");
                            return self.close(DisconnectReason::MessageTooBig, &why).await;
                        }
                        Some(Err(WsError::Protocol(e))) => {
                            let why = format!("WebSocket protocol error: {e}");
                            return self.close(DisconnectReason::ProtocolViolation, &why).await;
                        }
                        Some(Err(WsError::Utf8(_))) => {
                            return self.close(DisconnectReason::InvalidMessage, "invalid UTF-8").await;
                        }
                        Some(Err(_)) => return End::PeerGone,
                    }
                }
            }
        }
    }

    /// Handles one binary message; `Err` closes the connection with that reason.
    async fn on_binary(&mut self, bytes: &[u8]) -> Result<(), (DisconnectReason, String)> {
        if !self.budget.take(Instant::now()) {
            return Err((DisconnectReason::RateLimited, "too many messages per second".into()));
        }
        let message = codec::decode_client(bytes).map_err(|e| (DisconnectReason::InvalidMessage, e.to_string()))?;
        message.verify(self.state).map_err(|e| (e.reason(), e.to_string()))?;
        match message {
            ClientMessage::Ping { id } => {
                let pong = codec::encode(&ServerMessage::Pong { id })
                    .map_err(|e| (DisconnectReason::InvalidMessage, e.to_string()))?;
                if self.send(Message::Binary(pong.into())).await.is_err() {
                    return Err((DisconnectReason::TooSlow, "could not answer ping".into()));
                }
            }
            ClientMessage::ReplayControl(_) if !self.ctx.replay => {
                return Err((DisconnectReason::ProtocolViolation, "ReplayControl: this server is not a replay".into()));
            }
            message => {
                if matches!(message, ClientMessage::Hello { .. }) {
                    self.state = ConnectionState::Playing;
                }
                let _ = self.ctx.to_sim.send(ToSim::Message { client: self.client, message });
            }
        }
        Ok(())
    }

    /// Writes one message, giving up on a client that has not read for the write timeout.
    async fn send(&mut self, message: Message) -> Result<(), ()> {
        match tokio::time::timeout(self.ctx.limits.write_timeout, self.ws.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(()),
            Err(_) => {
                tracing::debug!(client = %self.client, "write timed out; dropping stalled client");
                Err(())
            }
        }
    }

    /// The one way the server ends a session: `Disconnect`, close frame, wait briefly for the
    /// peer's close frame (RFC 6455, section 7.1.1), then drop the socket.
    async fn close(&mut self, reason: DisconnectReason, message: &str) -> End {
        tracing::debug!(client = %self.client, ?reason, message, "closing");
        let notice = ServerMessage::Disconnect { reason, message: message.to_owned() };
        if let Ok(bytes) = codec::encode(&notice) {
            let _ = tokio::time::timeout(CLOSE_GRACE, self.ws.send(Message::Binary(bytes.into()))).await;
        }
        let frame = CloseFrame { code: CloseCode::from(reason.close_code()), reason: truncate(message).into() };
        let _ = tokio::time::timeout(CLOSE_GRACE, self.ws.close(Some(frame))).await;
        let _ = tokio::time::timeout(CLOSE_GRACE, async { while let Some(Ok(_)) = self.ws.next().await {} }).await;
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

/// Token bucket over client messages: `rate` per second sustained, `burst` at once.
struct RateBudget {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateBudget {
    fn new(rate: u32, burst: u32) -> Self {
        RateBudget { rate: f64::from(rate), burst: f64::from(burst), tokens: f64::from(burst), last: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
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

    #[test]
    fn rate_budget_allows_bursts_then_the_sustained_rate() {
        let start = Instant::now();
        let mut budget = RateBudget::new(240, 120);
        assert_eq!((0..200).filter(|_| budget.take(start)).count(), 120, "burst");
        let later = start + Duration::from_millis(500);
        assert_eq!((0..200).filter(|_| budget.take(later)).count(), 120, "half a second earns 120");
    }
}
