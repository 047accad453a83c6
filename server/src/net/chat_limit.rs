//! The chat rate of one connection: at most [`LINES`] lines in any [`WINDOW`]. A sliding
//! window, not a bucket, so the rule is exactly what the notice says. Over it, the line is
//! dropped and the sender told; the connection stays (chatting fast is not hostile, and the
//! general message rate limit still guards the socket).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

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
}
