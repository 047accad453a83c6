//! The chat rates: at most [`LINES`] lines in any [`WINDOW`] from one connection (a sliding
//! window, not a bucket, so the rule is exactly what the notice says), and at most
//! `--chat-lines-per-second` lines from everyone together ([`ChatBudget`]). Over either, the
//! line is dropped and the sender told; the connection stays (chatting fast is not hostile, and
//! the general message rate limit still guards the socket).
//!
//! The server-wide budget exists because every line is a broadcast: each costs every client a
//! frame, so many sockets each within their own allowance would otherwise fill every reader's
//! queue. Announcements (`POST /api/announce`) are not counted.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::net::bucket::TokenBucket;

/// Default `--chat-lines-per-second`.
pub const SERVER_LINES_PER_SECOND: u32 = 20;

/// The server-wide chat budget: `per_second` lines a second, a second's worth at once.
#[derive(Debug)]
pub struct ChatBudget {
    per_second: u32,
    bucket: Mutex<TokenBucket>,
}

impl ChatBudget {
    /// A budget of `per_second` lines a second from all clients together.
    pub fn new(per_second: u32) -> ChatBudget {
        let rate = f64::from(per_second);
        ChatBudget { per_second, bucket: Mutex::new(TokenBucket::new(rate, rate, std::time::Instant::now())) }
    }

    /// Lines a second, and at once.
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Whether a line at `now` fits; if so, it counts.
    pub fn allow(&self, now: Instant) -> bool {
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner).take(now.into_std())
    }

    /// The notice for a line dropped by the budget.
    pub fn notice() -> String {
        "chat: the server is busy; your line was not sent".to_owned()
    }
}

/// Lines allowed per window.
pub const LINES: usize = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Send times of the last lines let through.
#[derive(Debug, Default)]
pub struct ChatLimit {
    sent: VecDeque<Instant>,
}

impl ChatLimit {
    /// Whether a line at `now` may go out; if so, it counts.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self.sent.front().is_some_and(|&at| now.saturating_duration_since(at) >= WINDOW) {
            self.sent.pop_front();
        }
        if self.sent.len() >= LINES {
            return false;
        }
        self.sent.push_back(now);
        true
    }

    /// The notice for a dropped line.
    pub fn notice() -> String {
        format!("chat: at most {LINES} lines per {} s; your line was not sent", WINDOW.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_lines_per_ten_seconds_in_a_sliding_window() {
        let start = Instant::now();
        let mut limit = ChatLimit::default();
        let at = |ms: u64| start + Duration::from_millis(ms);
        for i in 0..5 {
            assert!(limit.allow(at(i * 1000)), "line {i}");
        }
        assert!(!limit.allow(at(5000)), "a sixth within 10 s");
        assert!(!limit.allow(at(9999)), "still within 10 s of the first");
        assert!(limit.allow(at(10_000)), "the first left the window");
        assert!(!limit.allow(at(10_500)), "the second is still in it");
        assert!(limit.allow(at(11_000)));
    }

    #[test]
    fn the_server_budget_is_a_second_of_lines_then_the_rate() {
        let budget = ChatBudget::new(20);
        let now = Instant::now();
        assert_eq!((0..100).filter(|_| budget.allow(now)).count(), 20);
        assert_eq!((0..100).filter(|_| budget.allow(now + Duration::from_millis(500))).count(), 10);
    }
}
