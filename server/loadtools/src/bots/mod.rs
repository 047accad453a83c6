//! `server bots`: a load tool that holds many WebSocket clients against one server and reports
//! what they received, as one JSON object on stdout (progress on stderr, about once a second).
//!
//! - [`client`]: one bot, one task, one connection (connect, `Hello`, read, ping, play).
//! - [`mode`]: how the bots join (idle, play, feel), which the fleet and each bot read.
//! - [`stats`]: the counters and histograms the bots share, fixed in size by the bot count.
//! - here: the command's arguments, the [`Fleet`] (start the bots with bounded connect
//!   concurrency, mark windows, close them all), [`run`] and the [`BotsReport`].
//!
//! Idle bots join as spectators (no entity, no player slot) and send only a `Ping` a second;
//! playing bots join as players and also send 60 inputs a second. A few bots (`--decode K`)
//! decode and apply every message as a real client does; the rest only count bytes and read
//! the first bytes of each message, so that one process can hold 5000 connections on a small
//! machine next to the server it loads. The bots talk to the one address the URL names and
//! to nothing else. `server bench w1` (in [`crate::bench`]) drives a [`Fleet`] against a
//! server it starts itself.

pub mod client;
pub mod feel;
pub mod mode;
pub mod stats;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::http::Uri;

use engine::net::conditioner::LinkConditioner;
pub use mode::Mode;
use stats::{Mark, Percentiles, Shared, Window};

/// `server bots`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct BotsArgs {
    /// WebSocket URL of the server (ws:// only). The bots send traffic to this address alone.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// Number of bot clients.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    /// idle: join as spectators; play: join as players and send inputs at 60 Hz (or
    /// --input-hz); feel: measure how play feels (see `server bots --help` and README).
    #[arg(long, value_enum, default_value_t = Mode::Idle)]
    pub mode: Mode,
    /// Seconds to measure, after every bot has joined (or the connect phase timed out).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub duration: f64,
    /// How many bots decode every message and apply every snapshot (counting errors); the
    /// others only count bytes and read the first bytes of each message.
    #[arg(long, default_value_t = 4)]
    pub decode: u32,
    /// Seconds between two `Ping`s of each bot (each answered by a `Pong` of 2 to 4 bytes,
    /// which the byte and message figures include); 0: no pings. The server's WebSocket pings still keep
    /// a silent bot alive.
    #[arg(long, default_value_t = 1.0, value_parser = ping_seconds)]
    pub ping_interval: f64,
    /// Most bots connecting and joining at the same time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,
    /// Longest connect phase, in seconds; the measurement starts after it even if some bots
    /// have not joined yet.
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    pub connect_timeout: f64,
    /// Bot names are this prefix and the bot's index (names are at most 24 bytes).
    #[arg(long, default_value = "bot")]
    pub name_prefix: String,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Testing only: delay every byte each bot sends and receives by this many milliseconds
    /// in each direction (the round trip grows by twice this); 0: off.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub sim_latency: u32,
    /// Testing only: spread each --sim-latency delay uniformly over ± this many milliseconds
    /// (floored at 0; bytes stay in order).
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub sim_jitter: u32,
    /// Play mode: inputs each bot sends per second, on its own clock (a client whose clock
    /// runs fast or slow: 57 or 63 against the server's 60).
    #[arg(long, value_name = "HZ", default_value_t = 60.0, value_parser = input_hz)]
    pub input_hz: f64,
    /// Ask the server's matchmaker for a seat in a room of this type (`POST
    /// /matchmake/joinOrCreate/TYPE` at `--url`'s host) before each WebSocket, and open the
    /// seat's URL; the join time then runs from that request to the first snapshot.
    #[arg(long, value_name = "TYPE")]
    pub matchmake: Option<String>,
}

/// Inputs per second, 1 to 1000 (clap value parser).
fn input_hz(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (1.0..=1000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a rate from 1 to 1000 inputs per second")),
    }
}

impl Default for BotsArgs {
    /// The command-line defaults.
    fn default() -> Self {
        BotsArgs {
            url: "ws://127.0.0.1:8080/ws".into(),
            count: 100,
            mode: Mode::Idle,
            duration: 10.0,
            decode: 4,
            ping_interval: 1.0,
            connect_concurrency: 64,
            connect_timeout: 60.0,
            name_prefix: "bot".into(),
            quiet: false,
            sim_latency: 0,
            sim_jitter: 0,
            input_hz: 60.0,
            matchmake: None,
        }
    }
}

/// A positive number of seconds, at most a day (clap value parser).
pub fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 86400]")),
    }
}

/// A ping interval: 0 (off) or a positive number of seconds (clap value parser).
pub fn ping_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(0.0) => Ok(0.0),
        Ok(v) if v.is_finite() && (0.001..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not 0 or a number of seconds in [0.001, 3600]")),
    }
}

/// Why the bots could not run at all (individual connection failures are in the report).
#[derive(Debug, thiserror::Error)]
pub enum BotsError {
    /// The arguments do not make sense.
    #[error("{0}")]
    Args(String),
    /// The URL cannot be resolved to an address.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The URL's host and port.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What a run of bots received, per client and per second over the measurement window (the
/// join and close figures cover the whole run). The JSON `server bots` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotsReport {
    /// The server's WebSocket URL.
    pub url: String,
    /// How the bots joined.
    pub mode: Mode,
    /// Bots started (`--count`).
    pub clients: u64,
    /// Bots whose WebSocket handshake succeeded.
    pub clients_connected: u64,
    /// Bots that got `Welcome`.
    pub clients_joined: u64,
    /// Bots that never got `Welcome`.
    pub clients_failed: u64,
    /// Why they failed: `"connect: connection refused"`, `"handshake: HTTP 503"`,
    /// `"closed before Welcome: 1013"`, `"no Welcome in time"`, …
    pub failures: BTreeMap<String, u64>,
    /// Connections the server ended, by close code (`"1008"`, …; `"none"`: no close frame).
    /// The bots' own closes at the end of the run are not counted.
    pub closes_by_code: BTreeMap<String, u64>,
    /// Seconds from start until every bot had joined or failed (or the connect timeout).
    pub connect_phase_s: f64,
    /// Length of the measurement window, seconds.
    pub window_s: f64,
    /// Bots joined at the start of the window: the per-client figures divide by this.
    pub clients_measured: u64,
    /// Payload bytes of received WebSocket messages, per client per second.
    pub bytes_per_client_per_s: f64,
    /// Received WebSocket messages per client per second.
    pub messages_per_client_per_s: f64,
    /// Received snapshots per client per second, mean over clients.
    pub snapshots_per_client_per_s: f64,
    /// The same for the client that received the fewest.
    pub snapshots_per_client_per_s_min: f64,
    /// Mean received message size, bytes.
    pub frame_bytes_mean: f64,
    /// Largest received message in the window, bytes.
    pub frame_bytes_max: u64,
    /// Bytes of a join (`Welcome`, `Scoreboard` if before the first snapshot, the first
    /// snapshot: a keyframe), mean over joins.
    pub join_bytes_mean: f64,
    /// Largest join.
    pub join_bytes_max: u64,
    /// Time between two snapshots of the same client, over all clients.
    pub snapshot_interarrival_ms: Percentiles,
    /// Play mode: time from sending an input to the first snapshot whose `last_input_seq`
    /// covers it. `null` in idle mode.
    pub input_latency_ms: Option<Percentiles>,
    /// Time from a bot's first step (its matchmaking request, or its TCP connect) to its
    /// first snapshot, over every join of the run (not only the window).
    pub join_ms: Percentiles,
    /// Inputs sent (play mode).
    pub inputs_sent: u64,
    /// Inputs per second each playing bot sent (its clock).
    pub input_hz: f64,
    /// Seconds between two pings of a bot (0: none).
    pub ping_interval_s: f64,
    /// `Ping` → `Pong` round trips (answered by the server's network layer).
    pub ping_rtt_ms: Percentiles,
    /// Bots that decoded every message (`--decode`).
    pub decoding_clients: u64,
    /// Messages they decoded in the window.
    pub decoded_messages: u64,
    /// Messages that did not decode or snapshots that did not apply, in the window.
    pub decode_errors: u64,
    /// The soft RLIMIT_NOFILE in force (raised when the bot count needs it).
    pub nofile_limit: u64,
}

/// The outcome of [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit now.
    pub now: u64,
    /// Whether `now` covers what was asked.
    pub enough: bool,
}

/// Raises this process's soft RLIMIT_NOFILE towards `need` (never above the hard limit), and
/// says so on stderr, as `who`. Children started afterwards inherit it.
pub fn raise_nofile_limit(need: u64, who: &str) -> NofileLimit {
    let before = rlimit::Resource::NOFILE.get().map_or(u64::MAX, |(soft, _)| soft);
    if before >= need {
        return NofileLimit { before, now: before, enough: true };
    }
    match rlimit::increase_nofile_limit(need) {
        Ok(now) => {
            if now > before {
                eprintln!("{who}: raised the open-file limit (RLIMIT_NOFILE soft) from {before} to {now}");
            }
            if now < need {
                eprintln!(
                    "{who}: needs about {need} open files but the hard limit allows {now}; connections beyond it will fail"
                );
            }
            NofileLimit { before, now, enough: now >= need }
        }
        Err(e) => {
            eprintln!("{who}: cannot raise the open-file limit from {before} (needs about {need}): {e}");
            NofileLimit { before, now: before, enough: false }
        }
    }
}

/// Open files a process needs besides its sockets (runtime, pipes, stdio, /proc reads).
pub const SPARE_FILES: u64 = 64;

/// The address a `ws://host:port/path` URL names.
async fn resolve(url: &str) -> Result<SocketAddr, BotsError> {
    let uri: Uri = url.parse().map_err(|e| BotsError::Args(format!("bad --url {url:?}: {e}")))?;
    if uri.scheme_str() != Some("ws") {
        return Err(BotsError::Args(format!("--url {url:?}: only ws:// URLs are supported")));
    }
    let host = uri.host().ok_or_else(|| BotsError::Args(format!("--url {url:?} has no host")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| BotsError::Resolve { host: format!("{host}:{port}"), source })?;
    addrs.next().ok_or_else(|| BotsError::Resolve {
        host: format!("{host}:{port}"),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    })
}

/// A running set of bots.
pub struct Fleet {
    args: BotsArgs,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    progress: Option<JoinHandle<()>>,
    connect_phase: Duration,
    nofile: NofileLimit,
}

impl Fleet {
    /// Starts `args.count` bots and returns once each has joined or failed, or after
    /// `args.connect_timeout`. Raises the open-file limit first if the count needs it.
    pub async fn connect(args: &BotsArgs) -> Result<Fleet, BotsError> {
        let count = args.count as usize;
        let longest_index = count.saturating_sub(1).to_string().len();
        if args.name_prefix.is_empty()
            || args.name_prefix.chars().any(char::is_control)
            || args.name_prefix.len() + longest_index > shared::message::MAX_NAME_BYTES
        {
            return Err(BotsError::Args(format!(
                "--name-prefix must be 1 to {} bytes without control characters for {count} bots",
                shared::message::MAX_NAME_BYTES - longest_index
            )));
        }
        let addr = resolve(&args.url).await?;
        let link = LinkConditioner { latency_ms: args.sim_latency, jitter_ms: args.sim_jitter };
        if link.is_on() {
            eprintln!("bots: {}", link.banner());
        }
        let nofile = raise_nofile_limit(args.count as u64 + SPARE_FILES, "bots");
        let started = Instant::now();
        let shared = Arc::new(Shared::new(count));
        let common = Arc::new(client::Common {
            addr,
            url: args.url.clone(),
            mode: args.mode,
            decode: args.decode as usize,
            name_prefix: args.name_prefix.clone(),
            ping_interval: (args.ping_interval > 0.0).then(|| Duration::from_secs_f64(args.ping_interval)),
            gate: Arc::new(Semaphore::new(args.connect_concurrency.max(1) as usize)),
            join_timeout: Duration::from_secs(10),
            shared: shared.clone(),
            link,
            input_hz: args.input_hz,
            matchmake: args.matchmake.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for index in 0..count {
            tasks.spawn(client::run(common.clone(), index, stop_rx.clone()));
        }
        let progress =
            (!args.quiet).then(|| tokio::spawn(progress(shared.clone(), args.count, started, stop_rx.clone())));
        let deadline = started + Duration::from_secs_f64(args.connect_timeout);
        while shared.settled.load(Ordering::Relaxed) < count as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect_phase = started.elapsed();
        if shared.settled.load(Ordering::Relaxed) < count as u64 {
            eprintln!(
                "bots: connect phase timed out after {:.1} s with {} of {count} bots joined",
                connect_phase.as_secs_f64(),
                shared.joined.load(Ordering::Relaxed)
            );
        }
        Ok(Fleet { args: args.clone(), shared, stop, tasks, progress, connect_phase, nofile })
    }

    /// The shared counters.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Bots joined so far.
    pub fn joined(&self) -> u64 {
        self.shared.joined.load(Ordering::Relaxed)
    }

    /// Copies the counters now: the start or end of a window. Take marks in order (each one
    /// resets the window maxima).
    pub fn mark(&self) -> Mark {
        self.shared.mark()
    }

    /// Waits `duration`, or less if every connection is gone.
    pub async fn wait(&self, duration: Duration) {
        let end = tokio::time::Instant::now() + duration;
        while tokio::time::Instant::now() < end {
            if self.shared.active.load(Ordering::Relaxed) == 0 && self.shared.settled.load(Ordering::Relaxed) > 0 {
                return;
            }
            tokio::time::sleep_until(end.min(tokio::time::Instant::now() + Duration::from_millis(100))).await;
        }
    }

    /// The report for the window between two marks.
    pub fn report(&self, from: &Mark, to: &Mark) -> BotsReport {
        let w = Window::between(from, to);
        let s = &self.shared;
        let join_count = s.join_count.load(Ordering::Relaxed);
        BotsReport {
            url: self.args.url.clone(),
            mode: self.args.mode,
            clients: self.args.count.into(),
            clients_connected: s.connected.load(Ordering::Relaxed),
            clients_joined: s.joined.load(Ordering::Relaxed),
            clients_failed: s.failed.load(Ordering::Relaxed),
            failures: s.failures(),
            closes_by_code: s.closes(),
            connect_phase_s: self.connect_phase.as_secs_f64(),
            window_s: w.seconds,
            clients_measured: w.clients,
            bytes_per_client_per_s: w.bytes_per_client_per_s,
            messages_per_client_per_s: w.messages_per_client_per_s,
            snapshots_per_client_per_s: w.snapshots_per_client_per_s,
            snapshots_per_client_per_s_min: w.snapshots_per_client_per_s_min,
            frame_bytes_mean: w.frame_bytes_mean,
            frame_bytes_max: w.frame_bytes_max,
            join_bytes_mean: if join_count == 0 {
                0.0
            } else {
                s.join_bytes_sum.load(Ordering::Relaxed) as f64 / join_count as f64
            },
            join_bytes_max: s.join_bytes_max.load(Ordering::Relaxed),
            snapshot_interarrival_ms: w.interarrival,
            input_latency_ms: (self.args.mode == Mode::Play).then_some(w.input_latency),
            join_ms: s.join_time.take().percentiles(),
            inputs_sent: s.inputs_sent.load(Ordering::Relaxed),
            input_hz: self.args.input_hz,
            ping_interval_s: self.args.ping_interval,
            ping_rtt_ms: w.ping_rtt,
            decoding_clients: u64::from(self.args.decode.min(self.args.count)),
            decoded_messages: w.decoded,
            decode_errors: w.decode_errors,
            nofile_limit: self.nofile.now,
        }
    }

    /// Closes every connection politely (close 1000, then waits briefly for the server's
    /// answer) and ends every bot task.
    pub async fn close(mut self) {
        let _ = self.stop.send(true);
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        // Each bot waits at most 2 s for the server's close; leave room, then give up.
        if tokio::time::timeout(Duration::from_secs(5), all_done).await.is_err() {
            eprintln!("bots: {} connections did not close in time; dropping them", self.tasks.len());
            self.tasks.abort_all();
        }
        if let Some(progress) = self.progress.take() {
            let _ = progress.await;
        }
    }
}

/// One stderr line a second: how far the connect phase got and what is flowing.
async fn progress(shared: Arc<Shared>, count: u32, started: Instant, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.tick().await;
    let (mut last_bytes, mut last_messages, mut last_at) = (0, 0, Instant::now());
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (bytes, messages) = shared.totals();
        let dt = last_at.elapsed().as_secs_f64().max(1e-3);
        let closes = shared.closes();
        let closes = if closes.is_empty() { String::new() } else { format!(" closes {closes:?}") };
        eprintln!(
            "bots: {:>4.0} s  connected {}/{count} joined {} failed {} open {} | {:.0} msg/s {:.2} MB/s{closes}",
            started.elapsed().as_secs_f64(),
            shared.connected.load(Ordering::Relaxed),
            shared.joined.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed),
            shared.active.load(Ordering::Relaxed),
            (messages - last_messages) as f64 / dt,
            (bytes - last_bytes) as f64 / dt / 1e6,
        );
        (last_bytes, last_messages, last_at) = (bytes, messages, Instant::now());
    }
}

/// Connects the bots, measures for `args.duration`, closes them and reports.
pub async fn run(args: &BotsArgs) -> Result<BotsReport, BotsError> {
    let fleet = Fleet::connect(args).await?;
    let from = fleet.mark();
    fleet.wait(Duration::from_secs_f64(args.duration)).await;
    let to = fleet.mark();
    let report = fleet.report(&from, &to);
    fleet.close().await;
    Ok(report)
}

/// `server bots`: runs on its own runtime and prints the report as one JSON object on stdout.
/// Fails (exit 1) when the bots cannot start or no bot joined.
pub fn main(args: &BotsArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bots: {}", BotsError::Runtime(e));
            return ExitCode::FAILURE;
        }
    };
    if args.mode == Mode::Feel {
        return runtime.block_on(feel_main(args));
    }
    match runtime.block_on(run(args)) {
        Ok(report) => {
            match serde_json::to_string_pretty(&report) {
                Ok(json) => println!("{json}"),
                Err(e) => {
                    eprintln!("bots: cannot write the report: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if report.clients_joined == 0 {
                eprintln!("bots: no bot joined");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bots: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `server bots --mode feel`: the feel bots' report on stdout; fails when a bot failed.
async fn feel_main(args: &BotsArgs) -> ExitCode {
    let addr = match resolve(&args.url).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("bots: {e}");
            return ExitCode::FAILURE;
        }
    };
    let link = LinkConditioner { latency_ms: args.sim_latency, jitter_ms: args.sim_jitter };
    if link.is_on() && !args.quiet {
        eprintln!("bots: {}", link.banner());
    }
    let duration = Duration::from_secs_f64(args.duration);
    let report = feel::run(addr, args.url.clone(), args.count as usize, duration, link).await;
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("bots: cannot write the report: {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("bots: {} bot(s) failed: {}", report.errors.len(), report.errors.join("; "));
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BotsArgs,
    }

    #[test]
    fn default_matches_the_command_line_defaults() {
        let parsed = Wrapper::try_parse_from(["bots"]).map(|w| w.args);
        assert_eq!(parsed.ok(), Some(BotsArgs::default()));
        assert!(Wrapper::try_parse_from(["bots", "--duration", "0"]).is_err(), "zero seconds is refused");
        assert!(Wrapper::try_parse_from(["bots", "--count", "0"]).is_err(), "zero bots is refused");
        let no_pings = Wrapper::try_parse_from(["bots", "--ping-interval", "0"]).map(|w| w.args.ping_interval);
        assert_eq!(no_pings.ok(), Some(0.0), "pings can be turned off");
    }

    #[tokio::test]
    async fn only_ws_urls_with_a_host_resolve() {
        assert_eq!(resolve("ws://127.0.0.1:9/ws").await.ok(), Some(SocketAddr::from(([127, 0, 0, 1], 9))));
        assert_eq!(resolve("ws://[::1]:9/ws").await.ok().map(|a| a.is_ipv6()), Some(true));
        for bad in ["wss://127.0.0.1:9/ws", "http://127.0.0.1/", "not a url", "ws:///ws"] {
            assert!(matches!(resolve(bad).await, Err(BotsError::Args(_))), "{bad} should be refused");
        }
    }
}
