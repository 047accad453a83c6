//! One client's outgoing queue, filled by the router thread and drained by the client's
//! connection task. Bounded: reliable frames up to a fixed count (overflow means the client
//! is not reading, and it is disconnected), plus one slot per kind of state frame, where a
//! newer frame replaces an unsent older one. A stalled client therefore costs at most one
//! snapshot and a few small frames, and never slows the simulation or anyone else.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use shared::DisconnectReason;
use tokio::sync::Notify;

use crate::bridge::{Delivery, OutFrame, StateSlot};

/// Most reliable frames queued for one client.
pub const MAX_RELIABLE_FRAMES: usize = 64;

/// What the connection task should do next.
#[derive(Debug, PartialEq)]
pub enum Outgoing {
    /// Send this frame.
    Frame(OutFrame),
    /// Send `Disconnect`, then close with this reason.
    Close(DisconnectReason, String),
}

#[derive(Default)]
struct Slots {
    reliable: VecDeque<OutFrame>,
    latest: [Option<OutFrame>; StateSlot::COUNT],
    close: Option<(DisconnectReason, String)>,
    /// Set once a close is requested: nothing more is queued.
    closing: bool,
    /// State frames replaced before they were sent.
    superseded: u64,
}

/// A bounded, wake-on-push queue for one client.
#[derive(Default)]
pub struct SendQueue {
    slots: Mutex<Slots>,
    wake: Notify,
}

impl SendQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
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
            Delivery::Latest(slot) => {
                if slots.latest[slot as usize].replace(frame).is_some() {
                    slots.superseded += 1;
                }
            }
            Delivery::Reliable if slots.reliable.len() >= MAX_RELIABLE_FRAMES => {
                slots.reliable.clear();
                slots.latest = Default::default();
                slots.closing = true;
                slots.close = Some((
                    DisconnectReason::TooSlow,
                    format!("outgoing queue overflowed ({MAX_RELIABLE_FRAMES} frames)"),
                ));
            }
            Delivery::Reliable => slots.reliable.push_back(frame),
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

    /// The next thing to do, if any: reliable frames first, then a close, then state slots in
    /// [`StateSlot`] order.
    pub fn try_next(&self) -> Option<Outgoing> {
        let mut slots = self.lock();
        if let Some(frame) = slots.reliable.pop_front() {
            return Some(Outgoing::Frame(frame));
        }
        if let Some((reason, message)) = slots.close.take() {
            slots.latest = Default::default();
            return Some(Outgoing::Close(reason, message));
        }
        if slots.closing {
            return None;
        }
        slots.latest.iter_mut().find_map(Option::take).map(Outgoing::Frame)
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

    /// How many state frames were replaced unsent so far.
    pub fn superseded(&self) -> u64 {
        self.lock().superseded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(byte: u8, delivery: Delivery) -> OutFrame {
        OutFrame { head: Default::default(), body: vec![byte].into(), delivery }
    }

    #[test]
    fn newest_state_replaces_older_and_reliable_goes_first() {
        let q = SendQueue::new();
        let snapshot = Delivery::Latest(StateSlot::Snapshot);
        let status = Delivery::Latest(StateSlot::ReplayStatus);
        q.push(frame(1, snapshot));
        q.push(frame(2, snapshot));
        q.push(frame(4, status));
        q.push(frame(3, Delivery::Reliable));
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(3, Delivery::Reliable))));
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(4, status))), "each slot keeps its newest");
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(2, snapshot))), "only the newest snapshot");
        assert_eq!(q.try_next(), None);
        assert_eq!(q.superseded(), 1);
    }

    #[test]
    fn reliable_overflow_closes_as_too_slow_and_frees_memory() {
        let q = SendQueue::new();
        for i in 0..=MAX_RELIABLE_FRAMES {
            q.push(frame(i as u8, Delivery::Reliable));
        }
        match q.try_next() {
            Some(Outgoing::Close(DisconnectReason::TooSlow, _)) => {}
            other => panic!("expected a TooSlow close, got {other:?}"),
        }
        q.push(frame(9, Delivery::Latest(StateSlot::Snapshot)));
        assert_eq!(q.try_next(), None, "nothing is queued after a close");
    }

    #[test]
    fn close_comes_after_queued_reliable_frames() {
        let q = SendQueue::new();
        q.push(frame(1, Delivery::Reliable));
        q.push(frame(2, Delivery::Latest(StateSlot::Snapshot)));
        q.close(DisconnectReason::ServerFull, "full".into());
        assert_eq!(q.try_next(), Some(Outgoing::Frame(frame(1, Delivery::Reliable))));
        assert_eq!(q.try_next(), Some(Outgoing::Close(DisconnectReason::ServerFull, "full".into())));
        assert_eq!(q.try_next(), None);
    }
}
