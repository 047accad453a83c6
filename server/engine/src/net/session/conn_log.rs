//! One log line at info when a connection starts and one when it ends (client id, address,
//! name, close code and reason), rate-limited so that a flood of connections cannot flood the
//! log: past [`BURST`] lines, at most [`PER_SECOND`] a second are written, and the count of
//! those suppressed is written with the next line that gets through (under a flood, within
//! 1 / [`PER_SECOND`] s).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::bridge::ClientId;
use crate::net::bucket::TokenBucket;

/// Lines written at once before the limit applies.
pub const BURST: f64 = 50.0;
/// Lines a second written under a flood.
pub const PER_SECOND: f64 = 20.0;

/// The limiter's state.
#[derive(Debug)]
struct Limiter {
    bucket: TokenBucket,
    suppressed: u64,
}

/// The connection log, shared by every session.
#[derive(Debug)]
pub struct ConnLog {
    limiter: Mutex<Limiter>,
}

impl Default for ConnLog {
    fn default() -> Self {
        let bucket = TokenBucket::new(PER_SECOND, BURST, Instant::now());
        ConnLog { limiter: Mutex::new(Limiter { bucket, suppressed: 0 }) }
    }
}

/// Whether to write a line now, and how many were suppressed before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it; `suppressed` lines were dropped since the last one written.
    Write {
        /// Lines dropped before this one.
        suppressed: u64,
    },
    /// Drop it (counted).
    Drop,
}

impl ConnLog {
    /// Decides about one line at `now`.
    pub fn verdict(&self, now: Instant) -> Verdict {
        let mut limiter = self.limiter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if limiter.bucket.take(now) {
            return Verdict::Write { suppressed: std::mem::take(&mut limiter.suppressed) };
        }
        limiter.suppressed += 1;
        Verdict::Drop
    }

    /// A connection was upgraded to a WebSocket session.
    pub fn started(&self, client: ClientId, addr: SocketAddr) {
        match self.verdict(Instant::now()) {
            Verdict::Write { suppressed: 0 } => tracing::info!(%client, %addr, "connection started"),
            Verdict::Write { suppressed } => {
                tracing::info!(%client, %addr, suppressed, "connection started (after {suppressed} connection lines suppressed)")
            }
            Verdict::Drop => {}
        }
    }

    /// A session ended: `code` 0 when the peer went away without our close.
    pub fn ended(&self, client: ClientId, addr: SocketAddr, name: Option<&str>, code: u16, reason: &str) {
        let name = name.unwrap_or("-");
        match self.verdict(Instant::now()) {
            Verdict::Write { suppressed: 0 } => {
                tracing::info!(%client, %addr, name, code, reason, "connection ended")
            }
            Verdict::Write { suppressed } => tracing::info!(
                %client, %addr, name, code, reason, suppressed,
                "connection ended (after {suppressed} connection lines suppressed)"
            ),
            Verdict::Drop => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_rate_and_the_suppressed_lines_are_counted() {
        let log = ConnLog::default();
        let t0 = Instant::now();
        let written = (0..1500).filter(|_| matches!(log.verdict(t0), Verdict::Write { .. })).count();
        assert_eq!(written, BURST as usize, "the burst, then nothing in the same instant");
        // A second later: PER_SECOND more, the first of them reporting what was dropped.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(log.verdict(later), Verdict::Write { suppressed: 1500 - BURST as u64 });
        let more = (1..40).filter(|_| matches!(log.verdict(later), Verdict::Write { .. })).count();
        assert_eq!(more, PER_SECOND as usize - 1);
    }

    #[test]
    fn under_a_long_flood_the_rate_holds_and_every_line_is_accounted_for() {
        let log = ConnLog::default();
        let t0 = Instant::now();
        let (mut written, mut told) = (0u64, 0u64);
        // 1000 lines a second for 30 s.
        for ms in 0..30_000u64 {
            if let Verdict::Write { suppressed } = log.verdict(t0 + Duration::from_millis(ms)) {
                written += 1;
                told += suppressed;
            }
        }
        assert!((640..=651).contains(&written), "the burst, then 20 a second: {written}");
        assert!(30_000 - written - told < 60, "dropped lines are counted in the next written one: {told}");
    }
}
