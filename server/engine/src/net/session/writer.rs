//! The write half of a session: drains the client's send queue, pings, warns of a drain, and
//! performs every close. It owns the session's end.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use shared::snapshot::Frame;
use shared::{DisconnectReason, ServerMessage, codec};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use super::clients::ClientInfo;
use super::context::{Shared, Ws};
use super::link::SimLink;
use super::reader::{ReadEnd, Reader};
use crate::bridge::ClientId;
use crate::net::drain::seconds_left;
use crate::net::replication::send_queue::{Outgoing, SendQueue};
use crate::net::stopping;

/// Longest close reason a close frame can carry (RFC 6455: 125-byte control payload).
const MAX_CLOSE_REASON: usize = 123;
/// How long to wait for the peer's close frame after sending ours.
pub(super) const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Messages longer than this go out as fragments of this size. tungstenite's write buffer
/// keeps the capacity of the largest frame for the connection's life: a keyframe sent whole
/// would pin its size (8 KB for the W1 crowd) on every connection.
const FRAGMENT_BYTES: usize = 2048;

/// How a session ended.
pub(super) enum End {
    /// We closed it, for this reason.
    Closed(DisconnectReason),
    /// The peer closed or the socket failed.
    PeerGone,
}

/// Where the reader task stands when the writer ends.
pub(super) enum ReaderState {
    /// Still reading (its task must be stopped).
    Running,
    /// It ended on a violation; its stream still has the peer's close frame to come.
    Violated(Reader),
    /// It ended: the peer is gone.
    Gone,
}

/// The write half: drains the send queue, encoding each snapshot against what this socket got
/// last, pings, and performs every close.
pub(super) struct Writer {
    sink: SplitSink<Ws, Message>,
    client: ClientId,
    queue: Arc<SendQueue>,
    /// The last state written to this socket: the baseline of the next delta.
    baseline: Option<Arc<Frame>>,
    info: Arc<ClientInfo>,
    shared: Arc<Shared>,
    link: Arc<SimLink>,
}

impl Writer {
    /// The writer of `client`'s session, which has written nothing yet.
    pub(super) fn new(
        sink: SplitSink<Ws, Message>,
        client: ClientId,
        queue: Arc<SendQueue>,
        info: Arc<ClientInfo>,
        shared: Arc<Shared>,
        link: Arc<SimLink>,
    ) -> Writer {
        Writer { sink, client, queue, baseline: None, info, shared, link }
    }

    /// Writes until the session ends; returns how, and where the reader task stands.
    pub(super) async fn run(&mut self, reading: &mut JoinHandle<(ReadEnd, Reader)>) -> (End, ReaderState) {
        let shutdown = stopping(self.shared.shutdown.clone());
        tokio::pin!(shutdown);
        let interval = self.shared.limits.ping_interval;
        let mut pings = tokio::time::interval_at(Instant::now() + interval, interval);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let queue = self.queue.clone();
        let mut reader = ReaderState::Running;
        let drain = self.shared.drain.clone();
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
                    self.info.ping_sent(&self.shared.clients);
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
        let body = self.link.deltas.body(self.baseline.as_deref(), &frame);
        let mut bytes = codec::snapshot_head(last_input_seq);
        bytes.extend_from_slice(&body);
        self.send_binary(bytes.into()).await?;
        self.baseline = Some(frame);
        Ok(())
    }

    /// Writes one binary message, in fragments of [`FRAGMENT_BYTES`] if it is longer.
    async fn send_binary(&mut self, bytes: Bytes) -> Result<(), ()> {
        self.shared.clients.sent(&self.info, bytes.len());
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
        match tokio::time::timeout(self.shared.limits.write_timeout, self.sink.send(message)).await {
            Ok(Ok(())) => {
                self.shared.metrics.frame_out(len);
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
