//! The token bucket behind every rate limit of the network layer: a client's message rate,
//! the connection rate of one address, the server-wide chat budget and the connection log.
//! `burst` tokens at once, refilled at `rate` a second; each event takes one.

use std::time::Instant;

/// A token bucket. Time is passed in, so it is tested without sleeping.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket: `burst` events at once, then `rate` a second.
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket { rate, burst, tokens: burst, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.at = now;
    }

    /// Whether an event at `now` is within the rate; if so, it takes a token.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely by `now`: it then remembers nothing a new
    /// bucket would not, so a table of buckets may forget it.
    pub fn is_full(&self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens + earned >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 20.0, t0);
        assert_eq!((0..100).filter(|_| bucket.take(t0)).count(), 20, "the burst");
        assert!(!bucket.is_full(t0));
        let later = t0 + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| bucket.take(later)).count(), 5, "half a second earns 5");
        assert!(bucket.is_full(later + Duration::from_secs(2)), "refilled after burst / rate");
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut bucket = TokenBucket::new(1.0, 1.0, t0);
        assert!(bucket.take(t0));
        assert!(!bucket.take(t0 - Duration::from_millis(900)));
    }
}
