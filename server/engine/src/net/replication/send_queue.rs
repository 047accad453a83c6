//! One client's outgoing queue, filled by the router thread and drained by the client's
//! writer. Bounded: reliable frames up to a fixed count (overflow means the client is not
//! reading, and it is disconnected), chat lines up to [`MAX_CHAT_LINES`] (past it the oldest
//! unsent line is dropped and counted, never the connection: a chat flood must not cost
//! honest readers their game), one slot for the newest replay status, and one slot for
//! the newest world state, where a newer state replaces an unsent older one. A stalled client
//! therefore costs at most one shared state and a few small frames, and never slows the
//! simulation or anyone else. The slot holds state, not bytes: the writer encodes the delta
//! when it actually writes, against what its socket last got.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use shared::DisconnectReason;
use shared::snapshot::Frame;
use tokio::sync::Notify;

use crate::bridge::{Delivery, OutFrame};

/// Reliable frames queued for one client beyond the answers to its own messages (broadcasts:
/// chat, scoreboards' neighbours, welcomes).
pub const MAX_RELIABLE_FRAMES: usize = 64;
/// Chat lines held for one client at least; older ones are dropped first past the queue's
/// chat capacity (a session makes it at least one second of the server's chat budget, so a
/// reader that keeps up loses none of a burst the budget lets through in one tick).
pub const MAX_CHAT_LINES: usize = 32;

/// What the writer should do next.
#[derive(Debug, PartialEq)]
pub enum Outgoing {
    /// Send this frame.
    Frame(OutFrame),
    /// Send a snapshot of this state, with this `last_input_seq`.
    State(Arc<Frame>, u32),
    /// Send `Disconnect`, then close with this reason.
    Close(DisconnectReason, String),
}

#[derive(Default)]
struct Slots {
    reliable: VecDeque<OutFrame>,
    chat: VecDeque<OutFrame>,
    status: Option<OutFrame>,
    state: Option<(Arc<Frame>, u32)>,
    close: Option<(DisconnectReason, String)>,
    /// Set once a close is requested: nothing more is queued.
    closing: bool,
    /// States and statuses replaced before they were sent.
    superseded: u64,
    /// Chat lines dropped unsent.
    chat_dropped: u64,
}

/// A bounded, wake-on-push queue for one client.
pub struct SendQueue {
    slots: Mutex<Slots>,
    wake: Notify,
    /// Reliable frames held before the client counts as not reading.
    capacity: usize,
    /// Chat lines held before the oldest is dropped.
    chat_capacity: usize,
    /// `arena_state_frames_superseded_total`, shared by every queue (a no-op by default).
    superseded_total: metrics::Counter,
    /// `arena_chat_lines_dropped_total{reason="slow_reader"}` (a no-op by default).
    chat_dropped_total: metrics::Counter,
}

impl Default for SendQueue {
    fn default() -> Self {
        SendQueue::with_capacity(MAX_RELIABLE_FRAMES)
    }
}

impl SendQueue {
    /// An empty queue holding [`MAX_RELIABLE_FRAMES`] reliable frames.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty queue holding `capacity` reliable frames. A session sizes it to its message
    /// burst plus [`MAX_RELIABLE_FRAMES`]: every message of a burst the rate limit lets
    /// through may be answered (a `Pong`, a `Notice`) before the writer gets to send, and a
    /// client that reads must not be taken for one that does not.
    pub fn with_capacity(capacity: usize) -> Self {
        SendQueue {
            slots: Mutex::default(),
            wake: Notify::new(),
            capacity: capacity.max(1),
            chat_capacity: MAX_CHAT_LINES,
            superseded_total: metrics::Counter::noop(),
            chat_dropped_total: metrics::Counter::noop(),
        }
    }

    /// Also counts superseded states in `counter` (the server's metrics).
    pub fn counting_superseded(mut self, counter: metrics::Counter) -> Self {
        self.superseded_total = counter;
        self
    }

    /// Holds up to `lines` chat lines (at least [`MAX_CHAT_LINES`]).
    pub fn with_chat_capacity(mut self, lines: usize) -> Self {
        self.chat_capacity = lines.max(MAX_CHAT_LINES);
        self
    }

    /// Also counts chat lines dropped unsent in `counter` (the server's metrics).
    pub fn counting_chat_dropped(mut self, counter: metrics::Counter) -> Self {
        self.chat_dropped_total = counter;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame by its delivery policy. Never blocks on the client.
    pub fn push(&self, frame: OutFrame) {
        let mut slots = self.lock();
        if slots.closing {
            return;
        }
        match frame.delivery {
            Delivery::LatestStatus => {
                if slots.status.replace(frame).is_some() {
                    slots.superseded += 1;
                    self.superseded_total.increment(1);
                }
            }
            Delivery::Chat => {
                if slots.chat.len() >= self.chat_capacity {
                    slots.chat.pop_front();
                    slots.chat_dropped += 1;
                    self.chat_dropped_total.increment(1);
                }
                slots.chat.push_back(frame);
            }
            Delivery::Reliable if slots.reliable.len() >= self.capacity => {
                slots.reliable.clear();
                slots.chat.clear();
                slots.status = None;
                slots.state = None;
                slots.closing = true;
                slots.close =
                    Some((DisconnectReason::TooSlow, format!("outgoing queue overflowed ({} frames)", self.capacity)));
            }
            Delivery::Reliable => slots.reliable.push_back(frame),
        }
        drop(slots);
        self.wake.notify_one();
    }

    /// Puts the newest world state in its slot, replacing an unsent one.
    pub fn push_state(&self, frame: Arc<Frame>, last_input_seq: u32) {
        let mut slots = self.lock();
        if slots.closing {
            return;
        }
        if slots.state.replace((frame, last_input_seq)).is_some() {
            slots.superseded += 1;
            self.superseded_total.increment(1);
        }
        drop(slots);
        self.wake.notify_one();
    }

    /// Asks for the connection to be closed once the reliable frames already queued are sent.
    pub fn close(&self, reason: DisconnectReason, message: String) {
        let mut slots = self.lock();
        if !slots.closing {
            slots.closing = true;
            slots.close = Some((reason, message));
        }
        drop(slots);
        self.wake.notify_one();
    }

    /// The next thing to do, if any: reliable frames first, then a close, then chat lines,
    /// then the status, then the state.
    pub fn try_next(&self) -> Option<Outgoing> {
        let mut slots = self.lock();
        if let Some(frame) = slots.reliable.pop_front() {
            return Some(Outgoing::Frame(frame));
        }
        if let Some((reason, message)) = slots.close.take() {
            slots.chat.clear();
            slots.status = None;
            slots.state = None;
            return Some(Outgoing::Close(reason, message));
        }
        if slots.closing {
            return None;
        }
        if let Some(frame) = slots.chat.pop_front() {
            return Some(Outgoing::Frame(frame));
        }
        if let Some(frame) = slots.status.take() {
            return Some(Outgoing::Frame(frame));
        }
        slots.state.take().map(|(frame, ack)| Outgoing::State(frame, ack))
    }

    /// Waits for the next thing to do. Cancel-safe: nothing is taken unless it is returned.
    pub async fn next(&self) -> Outgoing {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            self.wake.notified().await;
        }
    }

    /// How many states and statuses were replaced unsent so far.
    pub fn superseded(&self) -> u64 {
        self.lock().superseded
    }

    /// How many chat lines were dropped unsent so far.
    pub fn chat_dropped(&self) -> u64 {
        self.lock().chat_dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(byte: u8, delivery: Delivery) -> OutFrame {
        OutFrame { bytes: vec![byte].into(), delivery }
    }

    fn state(serial: u64) -> Arc<Frame> {
        Arc::new(Frame {
            schema: shared::arena::schema(),
            serial,
            epoch: 0,
            tick: serial * 3,
            tick_rate: 60,
            view: 0,
            entities: Default::default(),
        })
    }

    #[test]
    fn newest_state_replaces_older_and_reliable_goes_first() {
        let q = SendQueue::new();
        q.push_state(state(1), 5);
        q.push_state(state(2), 6);
        q.push(frame(4, Delivery::LatestStatus));
        q.push(frame(3, Delivery::Reliable));
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(3, Delivery::Reliable))));
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(4, Delivery::LatestStatus))), "status before state");
        assert_eq!(q.try_next(), Some(Outgoing::State(state(2), 6)), "only the newest state");
        assert_eq!(q.try_next(), None);
        assert_eq!(q.superseded(), 1);
    }

    #[test]
    fn reliable_overflow_closes_as_too_slow_and_frees_memory() {
        let q = SendQueue::new();
        q.push_state(state(1), 0);
        for i in 0..=MAX_RELIABLE_FRAMES {
            q.push(frame(i as u8, Delivery::Reliable));
        }
        match q.try_next() {
            Some(Outgoing::Close(DisconnectReason::TooSlow, _)) => {}
            other => panic!("expected a TooSlow close, got {other:?}"),
        }
        q.push_state(state(2), 0);
        assert_eq!(q.try_next(), None, "nothing is queued after a close");
    }

    #[test]
    fn a_chat_flood_drops_the_oldest_lines_never_the_connection() {
        let q = SendQueue::new();
        q.push(frame(200, Delivery::Reliable));
        for i in 0..(MAX_CHAT_LINES as u8 + 40) {
            q.push(frame(i, Delivery::Chat));
        }
        q.push_state(state(1), 0);
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(200, Delivery::Reliable))), "reliable first");
        let lines: Vec<u8> = std::iter::from_fn(|| match q.try_next() {
            Some(Outgoing::Frame(f)) if f.delivery == Delivery::Chat => Some(f.bytes[0]),
            _ => None,
        })
        .collect();
        let expected: Vec<u8> = (40..MAX_CHAT_LINES as u8 + 40).collect();
        assert_eq!(lines, expected, "the newest lines, in order");
        assert_eq!(q.chat_dropped(), 40);
        assert_eq!(q.try_next(), None, "the state was taken by the loop above, after the lines");
    }

    #[test]
    fn close_comes_after_queued_reliable_frames() {
        let q = SendQueue::new();
        q.push(frame(1, Delivery::Reliable));
        q.push_state(state(1), 0);
        q.close(DisconnectReason::ServerFull, "full".into());
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(1, Delivery::Reliable))));
        assert_eq!(q.try_next(), Some(Outgoing::Close(DisconnectReason::ServerFull, "full".into())));
        assert_eq!(q.try_next(), None);
    }
}
