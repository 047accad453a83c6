//! What the bots measure, aggregated as they go: one small slot of counters per client and a few
//! shared lock-free histograms. Memory is fixed by the client count (tens of bytes a client) and
//! never grows with the run's length, so 5000 bots for an hour cost what they cost for a
//! second. A [`Mark`] copies the cumulative counters at one moment; two marks give a window.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Durations below this many µs have a bucket each.
const EXACT: u64 = 64;
/// 2^6 = 64 buckets per octave above [`EXACT`]: ~1.6% resolution (0.5 ms around a 50 ms
/// snapshot interval).
const SUB_BITS: u32 = 6;
/// log2([`EXACT`]).
const FIRST_OCTAVE: u32 = 6;
/// Octave of the last bucket: 2^26 µs = 67 s; longer durations land in the last bucket.
const LAST_OCTAVE: u32 = 26;
const BUCKETS: usize = EXACT as usize + ((LAST_OCTAVE - FIRST_OCTAVE + 1) << SUB_BITS) as usize;

fn bucket_of(us: u64) -> usize {
    if us < EXACT {
        return us as usize;
    }
    if us >= 1 << (LAST_OCTAVE + 1) {
        return BUCKETS - 1;
    }
    let octave = 63 - us.leading_zeros();
    let sub = (us >> (octave - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    EXACT as usize + (((octave - FIRST_OCTAVE) << SUB_BITS) as u64 + sub) as usize
}

/// The smallest duration (µs) that falls in `bucket`.
fn bucket_floor(bucket: usize) -> u64 {
    if (bucket as u64) < EXACT {
        return bucket as u64;
    }
    let i = bucket as u64 - EXACT;
    let octave = u64::from(FIRST_OCTAVE) + (i >> SUB_BITS);
    let sub = i & ((1 << SUB_BITS) - 1);
    (1 << octave) + (sub << (octave - u64::from(SUB_BITS)))
}

/// A duration histogram every client task records into: log-linear buckets of µs (exact
/// below 128 µs, then within 1.6%), plus the exact maximum since the last [`Histogram::take`].
#[derive(Debug)]
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), max_us: AtomicU64::new(0) }
    }
}

impl Histogram {
    /// Counts one sample.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The cumulative counts now, and the maximum since the previous `take` (which it resets:
    /// a maximum cannot be subtracted, so windows are delimited by takes).
    pub fn take(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            max_us: self.max_us.swap(0, Ordering::Relaxed),
        }
    }
}

/// A [`Histogram`]'s counts at one moment.
#[derive(Debug, Clone, Default)]
pub struct HistogramSnapshot {
    counts: Vec<u64>,
    max_us: u64,
}

impl HistogramSnapshot {
    /// The samples between `earlier` and `self` (whose maximum is the window's, when the two
    /// were consecutive takes).
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let counts = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, n)| n.saturating_sub(earlier.counts.get(i).copied().unwrap_or(0)))
            .collect();
        HistogramSnapshot { counts, max_us: self.max_us }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile (0 to 1) in µs: the middle of its bucket (within 0.8%), never
    /// above the recorded maximum. 0 without samples.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64 * q.clamp(0.0, 1.0)).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let floor = bucket_floor(bucket);
                let next = if bucket + 1 < BUCKETS { bucket_floor(bucket + 1) } else { floor + 1 };
                let mid = floor + (next - floor - 1) / 2;
                return if self.max_us > 0 { mid.min(self.max_us) } else { mid };
            }
        }
        self.max_us
    }

    /// p50, p99 and max in milliseconds, and the sample count.
    pub fn percentiles(&self) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50_ms: ms(self.quantile_us(0.5)),
            p99_ms: ms(self.quantile_us(0.99)),
            max_ms: ms(self.max_us),
            samples: self.count(),
        }
    }
}

/// Quantiles of a duration, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample in the window.
    pub max_ms: f64,
    /// Samples in the window.
    pub samples: u64,
}

/// Where one client is in its life. Moves forward only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Waiting for its turn to connect, or connecting.
    Pending = 0,
    /// WebSocket handshake done, no `Welcome` yet.
    Connected = 1,
    /// `Welcome` received.
    Joined = 2,
    /// The connection ended (closed by the server, or failed after connecting).
    Ended = 3,
    /// Never got a `Welcome` (TCP, handshake, or the server refused it).
    Failed = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Connected,
            2 => Phase::Joined,
            3 => Phase::Ended,
            4 => Phase::Failed,
            _ => Phase::Pending,
        }
    }
}

/// One client's counters, written by its task only (so no contention), read by anyone.
#[derive(Debug, Default)]
pub struct ClientSlot {
    phase: AtomicU8,
    /// Payload bytes of received WebSocket data messages.
    pub bytes: AtomicU64,
    /// Received WebSocket data messages.
    pub messages: AtomicU64,
    /// Received `Snapshot`s.
    pub snapshots: AtomicU64,
}

impl ClientSlot {
    /// The client's phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }
}

/// Everything the bots of one run share.
#[derive(Debug)]
pub struct Shared {
    /// One slot per client, by index.
    pub slots: Box<[ClientSlot]>,
    /// Clients whose WebSocket handshake succeeded.
    pub connected: AtomicU64,
    /// Clients that got `Welcome`.
    pub joined: AtomicU64,
    /// Clients that never got `Welcome`.
    pub failed: AtomicU64,
    /// Clients that have their first snapshot (or will not: failed, ended, or none came in
    /// time): the connect phase is over when this reaches the count.
    pub settled: AtomicU64,
    /// Connected clients whose connection has not ended.
    pub active: AtomicU64,
    /// Largest message since the last mark.
    pub frame_max: AtomicU64,
    /// Sum, count and max of join bytes (Welcome, Scoreboard, first Snapshot).
    pub join_bytes_sum: AtomicU64,
    /// Joins whose first snapshot arrived.
    pub join_count: AtomicU64,
    /// Largest join.
    pub join_bytes_max: AtomicU64,
    /// Messages fully decoded by the decoding clients.
    pub decoded: AtomicU64,
    /// Messages that did not decode, or snapshots that did not apply, at the decoding clients.
    pub decode_errors: AtomicU64,
    /// `Input`s sent (play mode).
    pub inputs_sent: AtomicU64,
    /// Inputs dropped from the latency table before any snapshot acknowledged them.
    pub inputs_unacknowledged: AtomicU64,
    /// Time between two snapshots of the same client.
    pub interarrival: Histogram,
    /// Input sent → first snapshot whose `last_input_seq` covers it.
    pub input_latency: Histogram,
    /// First step to first snapshot, per join.
    pub join_time: Histogram,
    /// `Ping` → `Pong`.
    pub ping_rtt: Histogram,
    /// Connections the server ended, by close code ("1008"…, or "none" without a close frame).
    closes: Mutex<BTreeMap<String, u64>>,
    /// Connections that never joined, by reason.
    failures: Mutex<BTreeMap<String, u64>>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: String) {
    // A poisoned map still holds good counts: a panic elsewhere cannot corrupt an integer.
    *map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(key).or_default() += 1;
}

impl Shared {
    /// Counters for `count` clients.
    pub fn new(count: usize) -> Self {
        Shared {
            slots: (0..count).map(|_| ClientSlot::default()).collect(),
            connected: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            active: AtomicU64::new(0),
            frame_max: AtomicU64::new(0),
            join_bytes_sum: AtomicU64::new(0),
            join_count: AtomicU64::new(0),
            join_bytes_max: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            inputs_sent: AtomicU64::new(0),
            inputs_unacknowledged: AtomicU64::new(0),
            interarrival: Histogram::default(),
            input_latency: Histogram::default(),
            join_time: Histogram::default(),
            ping_rtt: Histogram::default(),
            closes: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(BTreeMap::new()),
        }
    }

    fn set_phase(&self, index: usize, phase: Phase) {
        if let Some(slot) = self.slots.get(index) {
            slot.phase.store(phase as u8, Ordering::Relaxed);
        }
    }

    /// Client `index` completed its WebSocket handshake.
    pub fn on_connected(&self, index: usize) {
        self.set_phase(index, Phase::Connected);
        self.connected.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// Client `index` got its `Welcome`.
    pub fn on_joined(&self, index: usize) {
        self.set_phase(index, Phase::Joined);
        self.joined.fetch_add(1, Ordering::Relaxed);
    }

    /// A joined client got its first snapshot, or will not wait for it any longer. Called once
    /// per client.
    pub fn on_settled(&self) {
        self.settled.fetch_add(1, Ordering::Relaxed);
    }

    /// Client `index` will never join, for `reason` (this settles it). `connected` says whether
    /// it had an open connection (which is now gone).
    pub fn on_failed(&self, index: usize, connected: bool, reason: String) {
        self.set_phase(index, Phase::Failed);
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.settled.fetch_add(1, Ordering::Relaxed);
        if connected {
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
        bump(&self.failures, reason);
    }

    /// The server ended joined client `index`'s connection with `code` ("none": no close frame).
    pub fn on_ended(&self, index: usize, code: String) {
        self.set_phase(index, Phase::Ended);
        self.active.fetch_sub(1, Ordering::Relaxed);
        bump(&self.closes, code);
    }

    /// Records a close code of a connection that had not joined (it also counts as failed).
    pub fn on_close_before_join(&self, code: String) {
        bump(&self.closes, code);
    }

    /// The connection of client `index` ended because we closed it at the end of the run.
    pub fn on_closed_by_us(&self, index: usize) {
        if let Some(slot) = self.slots.get(index)
            && matches!(slot.phase(), Phase::Connected | Phase::Joined)
        {
            self.active.fetch_sub(1, Ordering::Relaxed);
            self.set_phase(index, Phase::Ended);
        }
    }

    /// One join's bytes.
    pub fn on_join_bytes(&self, bytes: u64) {
        self.join_bytes_sum.fetch_add(bytes, Ordering::Relaxed);
        self.join_count.fetch_add(1, Ordering::Relaxed);
        self.join_bytes_max.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Server close codes so far.
    pub fn closes(&self) -> BTreeMap<String, u64> {
        self.closes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Join failures so far.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Total bytes and messages received so far (for progress lines).
    pub fn totals(&self) -> (u64, u64) {
        self.slots
            .iter()
            .fold((0, 0), |(b, m), s| (b + s.bytes.load(Ordering::Relaxed), m + s.messages.load(Ordering::Relaxed)))
    }

    /// Copies the counters now. Resets the window maxima, so take marks in order.
    pub fn mark(&self) -> Mark {
        Mark {
            at: Instant::now(),
            clients: self
                .slots
                .iter()
                .map(|s| ClientMark {
                    joined: s.phase() == Phase::Joined,
                    bytes: s.bytes.load(Ordering::Relaxed),
                    messages: s.messages.load(Ordering::Relaxed),
                    snapshots: s.snapshots.load(Ordering::Relaxed),
                })
                .collect(),
            frame_max: self.frame_max.swap(0, Ordering::Relaxed),
            decoded: self.decoded.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            interarrival: self.interarrival.take(),
            input_latency: self.input_latency.take(),
            ping_rtt: self.ping_rtt.take(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ClientMark {
    joined: bool,
    bytes: u64,
    messages: u64,
    snapshots: u64,
}

/// The cumulative counters at one moment.
#[derive(Debug, Clone)]
pub struct Mark {
    at: Instant,
    clients: Vec<ClientMark>,
    frame_max: u64,
    decoded: u64,
    decode_errors: u64,
    interarrival: HistogramSnapshot,
    input_latency: HistogramSnapshot,
    ping_rtt: HistogramSnapshot,
}

impl Mark {
    /// When it was taken.
    pub fn at(&self) -> Instant {
        self.at
    }
}

/// What happened between two marks, per client and per second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Wall time between the marks.
    pub seconds: f64,
    /// Clients joined (and not ended) at the first mark: the per-client figures divide by it.
    pub clients: u64,
    /// Received payload bytes per measured client per second.
    pub bytes_per_client_per_s: f64,
    /// Received messages per measured client per second.
    pub messages_per_client_per_s: f64,
    /// Snapshots per measured client per second, mean over clients.
    pub snapshots_per_client_per_s: f64,
    /// The same for the client that got the fewest.
    pub snapshots_per_client_per_s_min: f64,
    /// Mean message size.
    pub frame_bytes_mean: f64,
    /// Largest message.
    pub frame_bytes_max: u64,
    /// Messages decoded by the decoding clients.
    pub decoded: u64,
    /// Decode or apply errors at the decoding clients.
    pub decode_errors: u64,
    /// Snapshot inter-arrival times, all clients.
    pub interarrival: Percentiles,
    /// Input → snapshot latency (play mode).
    pub input_latency: Percentiles,
    /// Ping round trips.
    pub ping_rtt: Percentiles,
}

impl Window {
    /// The figures between `from` and `to` (consecutive marks of the same run).
    pub fn between(from: &Mark, to: &Mark) -> Window {
        let seconds = to.at.saturating_duration_since(from.at).as_secs_f64();
        let measured: Vec<(ClientMark, ClientMark)> =
            from.clients.iter().zip(&to.clients).filter(|(a, _)| a.joined).map(|(a, b)| (*a, *b)).collect();
        let clients = measured.len() as u64;
        let (mut bytes, mut messages, mut snapshots, mut min_snapshots) = (0u64, 0u64, 0u64, u64::MAX);
        for (a, b) in &measured {
            bytes += b.bytes.saturating_sub(a.bytes);
            messages += b.messages.saturating_sub(a.messages);
            let s = b.snapshots.saturating_sub(a.snapshots);
            snapshots += s;
            min_snapshots = min_snapshots.min(s);
        }
        let per =
            |total: u64| if clients == 0 || seconds <= 0.0 { 0.0 } else { total as f64 / clients as f64 / seconds };
        Window {
            seconds,
            clients,
            bytes_per_client_per_s: per(bytes),
            messages_per_client_per_s: per(messages),
            snapshots_per_client_per_s: per(snapshots),
            snapshots_per_client_per_s_min: if clients == 0 || seconds <= 0.0 {
                0.0
            } else {
                min_snapshots as f64 / seconds
            },
            frame_bytes_mean: if messages == 0 { 0.0 } else { bytes as f64 / messages as f64 },
            frame_bytes_max: to.frame_max,
            decoded: to.decoded.saturating_sub(from.decoded),
            decode_errors: to.decode_errors.saturating_sub(from.decode_errors),
            interarrival: to.interarrival.since(&from.interarrival).percentiles(),
            input_latency: to.input_latency.since(&from.input_latency).percentiles(),
            ping_rtt: to.ping_rtt.since(&from.ping_rtt).percentiles(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_then_within_two_percent() {
        for us in [0u64, 1, 63, 64, 65, 100, 1000, 16_667, 50_000, 1_000_000, 60_000_000] {
            let floor = bucket_floor(bucket_of(us));
            assert!(floor <= us, "{us}: floor {floor}");
            assert!((us - floor) as f64 <= us as f64 / 64.0, "{us}: floor {floor}");
        }
        for b in 1..BUCKETS {
            assert!(bucket_floor(b) > bucket_floor(b - 1), "bucket floors ascend");
            assert_eq!(bucket_of(bucket_floor(b)), b, "a floor falls in its own bucket");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1, "huge durations land in the last bucket");
    }

    #[test]
    fn quantiles_of_a_window() {
        let h = Histogram::default();
        for _ in 0..10 {
            h.record(Duration::from_millis(500));
        }
        let before = h.take();
        for i in 0..100u64 {
            h.record(Duration::from_micros(if i < 98 { 50_000 } else { 200_000 }));
        }
        let window = h.take().since(&before);
        assert_eq!(window.count(), 100, "the earlier samples are not in the window");
        let p = window.percentiles();
        assert!((p.p50_ms - 50.0).abs() < 50.0 * 0.01, "p50 {p:?}");
        assert!((p.p99_ms - 200.0).abs() < 200.0 * 0.01, "p99 {p:?}");
        assert_eq!(p.max_ms, 200.0, "max is exact and only the window's");
        assert_eq!(HistogramSnapshot::default().percentiles(), Percentiles::default(), "empty is all zero");
    }

    #[test]
    fn window_divides_by_clients_joined_at_its_start() {
        let shared = Shared::new(3);
        shared.on_connected(0);
        shared.on_joined(0);
        shared.on_connected(1);
        shared.on_joined(1);
        shared.on_failed(2, false, "connect: connection refused".into());
        let from = shared.mark();
        // Client 2 never joined and is not measured.
        for (i, (bytes, snaps)) in [(1000, 20), (3000, 10), (99_999, 99)].into_iter().enumerate() {
            shared.slots[i].bytes.store(bytes, Ordering::Relaxed);
            shared.slots[i].messages.store(snaps, Ordering::Relaxed);
            shared.slots[i].snapshots.store(snaps, Ordering::Relaxed);
        }
        let mut to = shared.mark();
        to.at = from.at + Duration::from_secs(2);
        let w = Window::between(&from, &to);
        assert_eq!(w.clients, 2);
        assert_eq!(w.bytes_per_client_per_s, 1000.0, "(1000 + 3000) / 2 clients / 2 s");
        assert_eq!(w.snapshots_per_client_per_s, 7.5);
        assert_eq!(w.snapshots_per_client_per_s_min, 5.0);
        assert!((w.frame_bytes_mean - 4000.0 / 30.0).abs() < 1e-9);
    }
}
