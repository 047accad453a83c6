//! Prometheus metrics, served at `GET /metrics`.
//!
//! This module owns every `arena_*` metric: their names, help texts and buckets, the
//! [`Metrics`] struct of handles registered once at start, the small hooks the simulation
//! thread and the sessions call, and their text ([`Metrics::render`]). The route and who may
//! read it are the network layer's (`net::front::http`), beside the other routes' access rules. The
//! recorder is the `metrics-exporter-prometheus` crate's, kept per server (never installed
//! globally, so several servers in one process, as in tests, do not mix their figures); the
//! crate renders the text exposition format.
//!
//! Cost: a hook is an atomic add or store on a handle registered once (no allocation, no
//! lock). The tick histogram is this module's own ([`TickHistogram`]: an atomic count per
//! bucket, rendered beside the exporter's text), not the exporter's: the exporter's histogram
//! queues samples in blocks that a housekeeping task must drain, and each drain left a block of
//! epoch garbage behind that was never reclaimed (0.43 KB/s on an idle server, found with
//! heaptrack in the soak of issue 14). Entity counts
//! are sampled once a second on the simulation thread from the world's archetype table (a few
//! dozen rows, no query). A close registers its `code` label (once per session, not per
//! frame).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Key, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use shared::DisconnectReason;

use crate::record::writer::Recorder as RecordingRecorder;
use crate::sim::Simulation;

/// The `version` label of [`name::BUILD_INFO`]: this crate's version.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Tick duration buckets, in seconds: fine below the 16.7 ms budget of a 60 Hz tick, coarse
/// above it (anything there is an overrun, counted on its own too).
const TICK_BUCKETS: [f64; 13] =
    [0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.012, 0.016, 0.025, 0.05, 0.1, 1.0];

/// Metric names.
pub mod name {
    /// Histogram: seconds each simulation tick took.
    pub const TICK_SECONDS: &str = "arena_tick_duration_seconds";
    /// Counter: ticks that took longer than their budget (1 / tick rate).
    pub const TICK_OVERRUNS: &str = "arena_tick_overruns_total";
    /// Counter: ticks skipped after a stall, beyond the catch-up allowance.
    pub const TICKS_DROPPED: &str = "arena_ticks_dropped_total";
    /// Gauge: live entities, by `kind` (the running game's schema kinds, in lower case).
    pub const ENTITIES: &str = "arena_entities";
    /// Gauge: WebSocket clients, by `state` (connecting, playing, spectating).
    pub const CLIENTS: &str = "arena_clients";
    /// Counter: WebSocket frames received (data and control).
    pub const FRAMES_IN: &str = "arena_ws_frames_received_total";
    /// Counter: WebSocket payload bytes received.
    pub const BYTES_IN: &str = "arena_ws_received_bytes_total";
    /// Counter: WebSocket frames sent (fragments count one each).
    pub const FRAMES_OUT: &str = "arena_ws_frames_sent_total";
    /// Counter: WebSocket bytes sent.
    pub const BYTES_OUT: &str = "arena_ws_sent_bytes_total";
    /// Counter: sessions ended, by close `code` (`none`: the peer left or the socket failed).
    pub const CLOSES: &str = "arena_ws_closes_total";
    /// Counter: world states and replay statuses replaced in a client's queue before they were
    /// sent (the client reads too slowly for the snapshot rate).
    pub const SUPERSEDED: &str = "arena_state_frames_superseded_total";
    /// Counter: bytes of the recording file on disk.
    pub const RECORDING_BYTES: &str = "arena_recording_written_bytes_total";
    /// Gauge: messages queued for the recording writer (about one per tick it is behind).
    pub const RECORDING_QUEUE: &str = "arena_recording_queue_messages";
    /// Counter: chat lines dropped, by `reason`: `slow_reader` (past a reader's queue of chat
    /// lines, oldest first), `server_budget` (over `--chat-lines-per-second`).
    pub const CHAT_DROPPED: &str = "arena_chat_lines_dropped_total";
    /// Gauge: 1 once recording stopped: the writer fell too far behind, or a write failed.
    pub const RECORDING_STOPPED: &str = "arena_recording_stopped";
    /// Gauge, always 1: labels `version`, `protocol_version`, `sim_version`.
    pub const BUILD_INFO: &str = "arena_build_info";
    /// Gauge: rooms open, by room `type`.
    pub const ROOMS: &str = "arena_rooms";
    /// Counter: rooms made, by room `type`.
    pub const ROOMS_MADE: &str = "arena_rooms_made_total";
    /// Counter: rooms disposed of (empty for `--room-empty-ttl`), by room `type`.
    pub const ROOMS_DISPOSED: &str = "arena_rooms_disposed_total";
    /// Gauge: rooms with at most `le` clients, sampled once a second: the distribution of
    /// clients per room, without a series per room.
    pub const ROOMS_BY_CLIENTS: &str = "arena_rooms_by_clients";
}

/// The `le` bounds of [`name::ROOMS_BY_CLIENTS`].
const ROOM_CLIENT_BOUNDS: [usize; 9] = [0, 1, 2, 4, 8, 16, 32, 64, 128];

/// One room type's series.
struct RoomTypeSeries {
    name: String,
    open: Gauge,
    made: Counter,
    disposed: Counter,
}

/// A client's state, as counted by [`name::CLIENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientState {
    /// Upgraded, no `Hello` taken yet.
    Connecting = 0,
    /// Sent `Hello` to play.
    Playing = 1,
    /// Sent `Hello` to watch (or holds a spectator token).
    Spectating = 2,
}

const CLIENT_STATES: [&str; 3] = ["connecting", "playing", "spectating"];
const CHAT_DROP_REASONS: [&str; 2] = ["slow_reader", "server_budget"];

/// Every metric handle, registered once; shared by the network layer and the simulation
/// thread.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    tick_seconds: TickHistogram,
    tick_overruns: Counter,
    ticks_dropped: Counter,
    /// One per kind of the running game's schema, registered at the first sample.
    entities: OnceLock<Vec<Gauge>>,
    clients: [Gauge; 3],
    frames_in: Counter,
    bytes_in: Counter,
    frames_out: Counter,
    bytes_out: Counter,
    superseded: Counter,
    chat_dropped: [Counter; 2],
    recording_bytes: Counter,
    recording_queue: Gauge,
    recording_stopped: Gauge,
    recording: OnceLock<Arc<AtomicU64>>,
    /// One per room type, registered when the rooms start.
    room_types: OnceLock<Vec<RoomTypeSeries>>,
    /// [`ROOM_CLIENT_BOUNDS`], then `+Inf`.
    rooms_by_clients: Vec<Gauge>,
}

impl Metrics {
    /// Registers every metric on a new recorder.
    pub fn new() -> Arc<Metrics> {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let r = &recorder;
        describe(r, name::TICK_OVERRUNS, "Ticks that took longer than their budget (1 / tick rate).");
        describe(r, name::TICKS_DROPPED, "Ticks skipped after a stall, beyond the catch-up allowance.");
        describe(r, name::ENTITIES, "Live entities by kind, sampled once a second.");
        describe(r, name::CLIENTS, "WebSocket clients by state (connecting: no Hello yet).");
        describe(r, name::FRAMES_IN, "WebSocket frames received.");
        describe(r, name::BYTES_IN, "WebSocket payload bytes received.");
        describe(r, name::FRAMES_OUT, "WebSocket frames sent.");
        describe(r, name::BYTES_OUT, "WebSocket bytes sent.");
        describe(r, name::CLOSES, "Sessions ended, by close code (none: the peer left or the socket failed).");
        describe(r, name::SUPERSEDED, "World states replaced unsent in a slow client's queue.");
        describe(
            r,
            name::CHAT_DROPPED,
            "Chat lines dropped: past a slow reader's queue, or over the server's chat budget.",
        );
        describe(r, name::RECORDING_BYTES, "Bytes of the recording file on disk.");
        describe(r, name::RECORDING_QUEUE, "Messages queued for the recording writer (its lag, about one per tick).");
        describe(r, name::RECORDING_STOPPED, "1 once recording stopped: the writer fell behind, or a write failed.");
        describe(r, name::BUILD_INFO, "Always 1; the labels say what runs.");
        describe(r, name::ROOMS, "Rooms open, by room type.");
        describe(r, name::ROOMS_MADE, "Rooms made, by room type.");
        describe(r, name::ROOMS_DISPOSED, "Rooms disposed of after --room-empty-ttl empty, by room type.");
        describe(r, name::ROOMS_BY_CLIENTS, "Rooms with at most le clients, sampled once a second.");
        let build = [
            Label::new("version", BUILD_VERSION),
            Label::new("protocol_version", shared::PROTOCOL_VERSION.to_string()),
            Label::new("sim_version", crate::sim::SIM_VERSION.to_string()),
        ];
        gauge(r, name::BUILD_INFO, build.to_vec()).set(1.0);
        let metrics = Arc::new(Metrics {
            tick_seconds: TickHistogram::default(),
            tick_overruns: counter(r, name::TICK_OVERRUNS, vec![]),
            ticks_dropped: counter(r, name::TICKS_DROPPED, vec![]),
            entities: OnceLock::new(),
            clients: CLIENT_STATES.map(|state| gauge(r, name::CLIENTS, vec![Label::new("state", state)])),
            frames_in: counter(r, name::FRAMES_IN, vec![]),
            bytes_in: counter(r, name::BYTES_IN, vec![]),
            frames_out: counter(r, name::FRAMES_OUT, vec![]),
            bytes_out: counter(r, name::BYTES_OUT, vec![]),
            superseded: counter(r, name::SUPERSEDED, vec![]),
            chat_dropped: CHAT_DROP_REASONS
                .map(|reason| counter(r, name::CHAT_DROPPED, vec![Label::new("reason", reason)])),
            recording_bytes: counter(r, name::RECORDING_BYTES, vec![]),
            recording_queue: gauge(r, name::RECORDING_QUEUE, vec![]),
            recording_stopped: gauge(r, name::RECORDING_STOPPED, vec![]),
            recording: OnceLock::new(),
            room_types: OnceLock::new(),
            rooms_by_clients: ROOM_CLIENT_BOUNDS
                .iter()
                .map(|le| le.to_string())
                .chain(["+Inf".to_owned()])
                .map(|le| gauge(r, name::ROOMS_BY_CLIENTS, vec![Label::new("le", le)]))
                .collect(),
            handle,
            recorder,
        });
        // Every documented close code has a series from the start, so an alert on one has
        // something to read before the first close.
        for code in DisconnectReason::ALL.iter().map(|r| Some(r.close_code())).chain([None]) {
            metrics.closes(code).increment(0);
        }
        metrics
    }

    /// The simulation thread, after each tick: its duration, and an overrun if it took longer
    /// than `budget`.
    pub fn tick(&self, took: Duration, budget: Duration) {
        self.tick_seconds.record(took);
        if took > budget {
            self.tick_overruns.increment(1);
        }
    }

    /// The simulation thread: `dropped` ticks were skipped to catch up.
    pub fn ticks_dropped(&self, dropped: u64) {
        self.ticks_dropped.increment(dropped);
    }

    /// The simulation thread, once a second: entities by kind and the recording writer's lag.
    pub fn sample(&self, sim: &mut Simulation, recording: Option<&RecordingRecorder>) {
        let gauges = self.entities.get_or_init(|| {
            let kinds = sim.schema().kinds().iter().map(|k| k.name.to_lowercase()).collect::<Vec<_>>();
            kinds
                .into_iter()
                .map(|kind| gauge(&self.recorder, name::ENTITIES, vec![Label::new("kind", kind)]))
                .collect()
        });
        let counts = sim.entities_per_kind();
        for (kind, gauge) in gauges.iter().enumerate() {
            let count = counts.iter().find(|(k, _)| usize::from(*k) == kind).map_or(0, |(_, n)| *n);
            gauge.set(count as f64);
        }
        if let Some(recording) = recording {
            self.recording_queue.set(recording.queued() as f64);
            self.recording_stopped.set(if recording.stopped() { 1.0 } else { 0.0 });
        }
    }

    /// The recording writer's count of bytes on disk, all parts together
    /// ([`name::RECORDING_BYTES`]; see `record::writer::Writer::bytes`).
    pub fn set_recording(&self, bytes: Arc<AtomicU64>) {
        let _ = self.recording.set(bytes);
    }

    /// A new session: counted as connecting until its `Hello`, and gone when the guard drops.
    pub fn client(self: &Arc<Self>) -> ClientGuard {
        self.clients[ClientState::Connecting as usize].increment(1.0);
        ClientGuard { metrics: self.clone(), state: AtomicU8::new(ClientState::Connecting as u8) }
    }

    /// A session read a WebSocket frame with `len` payload bytes.
    pub fn frame_in(&self, len: usize) {
        self.frames_in.increment(1);
        self.bytes_in.increment(len as u64);
    }

    /// A session wrote a WebSocket frame of `len` bytes.
    pub fn frame_out(&self, len: usize) {
        self.frames_out.increment(1);
        self.bytes_out.increment(len as u64);
    }

    /// A session ended with close `code` (`None`: the peer left or the socket failed).
    pub fn closed(&self, code: Option<u16>) {
        self.closes(code).increment(1);
    }

    fn closes(&self, code: Option<u16>) -> Counter {
        let code: SharedString = code.map_or(SharedString::const_str("none"), |c| c.to_string().into());
        counter(&self.recorder, name::CLOSES, vec![Label::new("code", code)])
    }

    /// The superseded-states counter, for a client's send queue to hold.
    pub fn superseded(&self) -> Counter {
        self.superseded.clone()
    }

    /// The counter of chat lines dropped in slow readers' queues, for a send queue to hold.
    pub fn chat_dropped_slow_reader(&self) -> Counter {
        self.chat_dropped[0].clone()
    }

    /// A chat line was dropped: over the server's chat budget.
    pub fn chat_dropped_budget(&self) {
        self.chat_dropped[1].increment(1);
    }

    /// Registers the room types' series (once; later calls are ignored).
    pub fn set_room_types(&self, names: &[String]) {
        let r = &self.recorder;
        let _ = self.room_types.set(
            names
                .iter()
                .map(|name| {
                    let label = || vec![Label::new("type", name.clone())];
                    RoomTypeSeries {
                        name: name.clone(),
                        open: gauge(r, name::ROOMS, label()),
                        made: counter(r, name::ROOMS_MADE, label()),
                        disposed: counter(r, name::ROOMS_DISPOSED, label()),
                    }
                })
                .collect(),
        );
    }

    fn room_type(&self, kind: &str) -> Option<&RoomTypeSeries> {
        self.room_types.get()?.iter().find(|t| t.name == kind)
    }

    /// A room of type `kind` was made.
    pub fn room_made(&self, kind: &str) {
        if let Some(series) = self.room_type(kind) {
            series.made.increment(1);
            series.open.increment(1.0);
        }
    }

    /// A room of type `kind` was disposed of.
    pub fn room_disposed(&self, kind: &str) {
        if let Some(series) = self.room_type(kind) {
            series.disposed.increment(1);
            series.open.decrement(1.0);
        }
    }

    /// The clients of every room now, for [`name::ROOMS_BY_CLIENTS`].
    pub fn sample_rooms(&self, clients: impl Iterator<Item = usize>) {
        let mut counts = [0usize; ROOM_CLIENT_BOUNDS.len() + 1];
        for n in clients {
            let first = ROOM_CLIENT_BOUNDS.iter().position(|&le| n <= le).unwrap_or(ROOM_CLIENT_BOUNDS.len());
            for count in &mut counts[first..] {
                *count += 1;
            }
        }
        for (gauge, count) in self.rooms_by_clients.iter().zip(counts) {
            gauge.set(count as f64);
        }
    }

    /// The text exposition of every metric now.
    pub fn render(&self) -> String {
        if let Some(bytes) = self.recording.get() {
            self.recording_bytes.absolute(bytes.load(Ordering::Relaxed));
        }
        let mut text = self.handle.render();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        self.tick_seconds.render(&mut text);
        text
    }
}

/// Counts one session in [`name::CLIENTS`] under its current state, until dropped.
pub struct ClientGuard {
    metrics: Arc<Metrics>,
    state: AtomicU8,
}

impl ClientGuard {
    /// The session took a `Hello`, to play or to watch.
    pub fn hello(&self, spectate: bool) {
        let to = if spectate { ClientState::Spectating } else { ClientState::Playing } as u8;
        let from = self.state.swap(to, Ordering::Relaxed);
        self.metrics.clients[usize::from(from)].decrement(1.0);
        self.metrics.clients[usize::from(to)].increment(1.0);
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.metrics.clients[usize::from(self.state.load(Ordering::Relaxed))].decrement(1.0);
    }
}

/// [`name::TICK_SECONDS`]: a count per bucket of [`TICK_BUCKETS`] (each tick counted in the
/// first bucket that holds it; the rendering makes them cumulative), the count and the sum.
/// Fixed memory, an atomic add per tick, nothing to drain.
#[derive(Debug, Default)]
struct TickHistogram {
    buckets: [AtomicU64; TICK_BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl TickHistogram {
    fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = TICK_BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The text exposition of the histogram.
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let name = name::TICK_SECONDS;
        let _ = writeln!(out, "# HELP {name} Seconds each simulation tick took.\n# TYPE {name} histogram");
        // Count first: a scrape racing a tick may then see a bucket ahead of the count, never
        // +Inf below a bucket.
        let count = self.count.load(Ordering::Relaxed);
        let mut cumulative = 0;
        for (le, bucket) in TICK_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", cumulative.min(count));
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}");
    }
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The `# HELP` line of `name`. The exporter keeps one help table for every kind, so
/// `describe_counter` serves gauges and histograms too.
fn describe(recorder: &PrometheusRecorder, name: &'static str, help: &'static str) {
    recorder.describe_counter(name.into(), None, help.into());
}

fn counter(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Counter {
    recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
}

fn gauge(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Gauge {
    recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn client_states_move_and_drop() {
        let metrics = Metrics::new();
        let a = metrics.client();
        let b = metrics.client();
        a.hello(false);
        b.hello(true);
        drop(b);
        let text = metrics.render();
        assert!(text.contains("arena_clients{state=\"playing\"} 1"), "{text}");
        assert!(text.contains("arena_clients{state=\"spectating\"} 0"), "{text}");
        assert!(text.contains("arena_clients{state=\"connecting\"} 0"), "{text}");
        metrics.tick(Duration::from_millis(20), Duration::from_millis(16));
        metrics.closed(Some(1008));
        metrics.closed(None);
        let text = metrics.render();
        assert!(text.contains("arena_tick_duration_seconds_count 1"), "{text}");
        assert!(text.contains("arena_tick_overruns_total 1"), "{text}");
        assert!(text.contains("arena_ws_closes_total{code=\"1008\"} 1"), "{text}");
        assert!(text.contains("arena_ws_closes_total{code=\"none\"} 1"), "{text}");
    }
}
