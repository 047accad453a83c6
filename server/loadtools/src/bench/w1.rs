//! `server bench w1`: the W1 crowd workload of `../shared/WORKLOADS.md`, end to end. Starts a
//! server child with `--npcs N`, connects M bots, and measures over a window after a warm-up
//! the W1 figures under their names: bytes and messages per client per second, server CPU
//! seconds per wall second, server VmRSS, ticks per second achieved and tick p50/p99; plus RSS
//! per client, snapshot rates, join bytes, closes, and the load tool's own CPU, so a reader
//! can tell when the bots rather than the server were the limit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::stats::{StatsError, fetch_stats};
use super::{CpuShare, TAIL_LINES, base_flags, cpu_share, server_command, table_tail};
use crate::bots::{BotsArgs, BotsError, BotsReport, Fleet, Mode, SPARE_FILES, raise_nofile_limit};
use crate::child::{ChildError, ServerChild};
use engine::procstat::{ProcError, cpu_seconds, rss_kib};

/// Connections the server may hold beyond the bots (the `/stats` requests, a browser).
const CONNECTION_MARGIN: u32 = 64;

/// `server bench w1`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct W1Args {
    /// NPCs in the crowd (the comparison default is 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub npcs: u32,
    /// Clients (the comparison default is 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: u32,
    /// Seconds of the measurement window.
    #[arg(long, default_value_t = 10.0, value_parser = crate::bots::positive_seconds)]
    pub duration: f64,
    /// Seconds between the last join and the window's start.
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    pub warmup: f64,
    /// idle: clients join as spectators, so the world holds exactly the N NPCs; play: as
    /// players sending 60 inputs a second (the world then also holds M players).
    #[arg(long, value_enum, default_value_t = Mode::Idle)]
    pub mode: Mode,
    /// The server child's `--view-radius` (world units; 0: off). Spectators see everything
    /// regardless, so it matters with `--mode play`.
    #[arg(long, value_name = "R", default_value_t = 0.0, value_parser = engine::limits::view_radius)]
    pub view_radius: f32,
    /// How many bots decode every message and apply every snapshot.
    #[arg(long, default_value_t = 4)]
    pub decode: u32,
    /// Seconds between two `Ping`s of each bot (0: none). W1 clients only receive state
    /// (`../shared/WORKLOADS.md`), so none by default; `1` adds the web client's Ping a second,
    /// and the byte and message figures then include the `Pong`s (2 to 4 bytes each).
    #[arg(long, default_value_t = 0.0, value_parser = crate::bots::ping_seconds)]
    pub ping_interval: f64,
    /// Most bots connecting at the same time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,
    /// An extra flag for the server child (repeatable), e.g. `--server-arg=--seed --server-arg=7`.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Copy the server's log to stderr, prefixed with `[server]`.
    #[arg(long)]
    pub verbose: bool,
    /// No progress lines from the bots.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for W1Args {
    /// The command-line defaults.
    fn default() -> Self {
        W1Args {
            npcs: 1000,
            clients: 100,
            duration: 10.0,
            warmup: 5.0,
            mode: Mode::Idle,
            view_radius: 0.0,
            decode: 4,
            ping_interval: 0.0,
            connect_concurrency: 64,
            server_args: Vec::new(),
            verbose: false,
            quiet: false,
        }
    }
}

/// A number of seconds, 0 allowed (clap value parser).
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in [0, 86400]")),
    }
}

/// Why a bench run failed. The server child is stopped in every case.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Starting or observing the server.
    #[error(transparent)]
    Child(#[from] ChildError),
    /// Reading the server's or this process's `/proc`.
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// Starting the bots.
    #[error(transparent)]
    Bots(#[from] BotsError),
    /// `GET /stats` failed.
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// `GET /api/rooms` failed (W2).
    #[error("GET /api/rooms: {0}")]
    Rooms(String),
    /// The server exited during the run.
    #[error("the server exited during the run\n{0}")]
    ServerDied(String),
    /// SIGINT or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

/// The W1 figures and their context: the JSON `server bench w1` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct W1Report {
    /// "W1".
    pub workload: String,
    /// `--npcs`.
    pub npcs: u32,
    /// `--clients`.
    pub clients: u32,
    /// `--mode`.
    pub mode: Mode,
    /// `--view-radius` (0: off).
    #[serde(default)]
    pub view_radius: f32,
    /// `--duration`, seconds.
    pub duration_s: f64,
    /// `--warmup`, seconds.
    pub warmup_s: f64,
    /// `--decode`.
    pub decode: u32,
    /// `--ping-interval`, seconds (0: no pings; else the message figures include a `Pong` per
    /// interval).
    pub ping_interval_s: f64,
    /// The server child's flags.
    pub server_args: Vec<String>,
    /// The server child's pid (gone when the bench exits).
    pub server_pid: u32,
    /// The measured window, seconds of wall time.
    pub window_s: f64,
    /// W1: payload bytes received per client per second.
    pub bytes_per_client_per_s: f64,
    /// W1: WebSocket messages received per client per second.
    pub messages_per_client_per_s: f64,
    /// W1: server CPU seconds (utime + stime) per wall second over the window.
    pub server_cpu_s_per_s: f64,
    /// W1: server resident memory (VmRSS) at the window's end, KiB.
    pub server_rss_kib: u64,
    /// W1: simulation ticks per second achieved over the window.
    pub ticks_per_s: f64,
    /// W1: tick duration p50, ms (bucket floor, within 6%).
    pub tick_p50_ms: f64,
    /// W1: tick duration p99, ms.
    pub tick_p99_ms: f64,
    /// The configured tick rate.
    pub tick_rate: u16,
    /// Ticks over their budget in the window.
    pub tick_overruns: u64,
    /// Server VmRSS before any client connected, KiB.
    pub server_rss_idle_kib: u64,
    /// Server VmRSS once every client had joined, KiB.
    pub server_rss_joined_kib: u64,
    /// (joined − idle) / clients joined, KiB.
    pub rss_per_client_kib: f64,
    /// Clients that joined.
    pub clients_joined: u64,
    /// Snapshots per client per second, mean over clients.
    pub snapshots_per_client_per_s: f64,
    /// Snapshots per second of the client that got the fewest.
    pub snapshots_per_client_per_s_min: f64,
    /// Snapshot inter-arrival p99 over all clients, ms.
    pub snapshot_interarrival_p99_ms: f64,
    /// Bytes of a join (Welcome, Scoreboard, keyframe), mean.
    pub join_bytes_mean: f64,
    /// Largest join.
    pub join_bytes_max: u64,
    /// Connections the server closed, by close code.
    pub closes_by_code: BTreeMap<String, u64>,
    /// Decode or apply errors at the decoding bots.
    pub decode_errors: u64,
    /// CPU seconds per wall second of this process (the bots) over the window.
    pub load_tool_cpu_s_per_s: f64,
    /// This process's VmRSS at the window's end, KiB.
    pub load_tool_rss_kib: u64,
    /// Cores available.
    pub cores: u64,
    /// Whether server and bots together nearly used every core: then the bots may have been
    /// the limit, not the server.
    pub load_tool_may_limit: bool,
    /// A sentence saying which.
    pub note: String,
    /// How the server child ended when stopped (SIGTERM: exit status 0).
    pub server_exit: String,
    /// The bots' whole report.
    pub bots: BotsReport,
}

/// The server's flags for a run.
fn server_flags(args: &W1Args) -> Vec<String> {
    let mut flags = base_flags(args.npcs, args.clients.saturating_add(CONNECTION_MARGIN));
    if args.mode == Mode::Play {
        // Spectators take no player slot; players do.
        flags.extend(["--max-players".into(), args.clients.clamp(32, u16::MAX.into()).to_string()]);
    }
    if args.view_radius > 0.0 {
        flags.extend(["--view-radius".into(), args.view_radius.to_string()]);
    }
    flags.extend(args.server_args.iter().cloned());
    flags
}

/// One sample of everything measured at a window's edge.
struct Edge {
    at: Instant,
    stats: engine::sim::stats::TickStatsSnapshot,
    server_cpu: f64,
    own_cpu: f64,
    bots: crate::bots::stats::Mark,
}

async fn edge(server: &ServerChild, fleet: &Fleet) -> Result<Edge, BenchError> {
    let stats = fetch_stats(server.addr()).await?;
    Ok(Edge {
        at: Instant::now(),
        stats,
        server_cpu: server.cpu_seconds()?,
        own_cpu: cpu_seconds("self")?,
        bots: fleet.mark(),
    })
}

fn check_alive(server: &mut ServerChild) -> Result<(), BenchError> {
    if server.running() { Ok(()) } else { Err(BenchError::ServerDied(server.log_tail(TAIL_LINES))) }
}

/// Runs W1 once. The server child is stopped before this returns, also on error (its guard
/// kills it when dropped).
pub async fn run(args: &W1Args) -> Result<W1Report, BenchError> {
    // One socket per client on each side: the bots here, the server in the child, which
    // inherits the raised limit.
    raise_nofile_limit(u64::from(args.clients) + SPARE_FILES, "bench");
    let flags = server_flags(args);
    let mut server = server_command(&flags, args.verbose)?.start().await?;
    let pid = server.pid();
    eprintln!("bench: server pid {pid} on {} with {} NPCs", server.addr(), args.npcs);
    // Let the crowd spawn and the allocator settle before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server.rss_kib()?;

    let bots_args = BotsArgs {
        url: format!("ws://{}/ws", server.addr()),
        count: args.clients,
        mode: args.mode,
        duration: args.duration,
        decode: args.decode,
        ping_interval: args.ping_interval,
        connect_concurrency: args.connect_concurrency,
        name_prefix: "w1-".into(),
        quiet: args.quiet,
        ..BotsArgs::default()
    };
    eprintln!("bench: connecting {} clients ({})", args.clients, args.mode.as_str());
    let fleet = Fleet::connect(&bots_args).await?;
    check_alive(&mut server)?;
    let rss_joined = server.rss_kib()?;
    eprintln!("bench: {} joined; warm-up {} s, then {} s measured", fleet.joined(), args.warmup, args.duration);
    fleet.wait(Duration::from_secs_f64(args.warmup)).await;

    let start = edge(&server, &fleet).await?;
    fleet.wait(Duration::from_secs_f64(args.duration)).await;
    let end = edge(&server, &fleet).await?;
    check_alive(&mut server)?;
    let rss_end = server.rss_kib()?;
    let own_rss = rss_kib("self")?;
    let bots = fleet.report(&start.bots, &end.bots);
    fleet.close().await;
    let exit = server.stop().await.map_or_else(|| "unknown".to_owned(), |s| s.to_string());

    let wall = end.at.saturating_duration_since(start.at).as_secs_f64().max(1e-9);
    let ticks = end.stats.since(&start.stats);
    let server_cpu = (end.server_cpu - start.server_cpu) / wall;
    let own_cpu = (end.own_cpu - start.own_cpu) / wall;
    let CpuShare { cores, saturated, mut note } = cpu_share(server_cpu, own_cpu);
    let ticks_per_s = ticks.ticks_run as f64 / wall;
    if ticks_per_s < 0.95 * f64::from(end.stats.tick_rate) {
        note.push_str(&format!("; the server fell behind its tick rate of {}", end.stats.tick_rate));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(W1Report {
        workload: "W1".into(),
        npcs: args.npcs,
        clients: args.clients,
        mode: args.mode,
        view_radius: args.view_radius,
        duration_s: args.duration,
        warmup_s: args.warmup,
        decode: args.decode,
        ping_interval_s: args.ping_interval,
        server_args: flags,
        server_pid: pid,
        window_s: wall,
        bytes_per_client_per_s: bots.bytes_per_client_per_s,
        messages_per_client_per_s: bots.messages_per_client_per_s,
        server_cpu_s_per_s: server_cpu,
        server_rss_kib: rss_end,
        ticks_per_s,
        tick_p50_ms: ms(ticks.quantile(0.5)),
        tick_p99_ms: ms(ticks.quantile(0.99)),
        tick_rate: end.stats.tick_rate,
        tick_overruns: ticks.overruns,
        server_rss_idle_kib: rss_idle,
        server_rss_joined_kib: rss_joined,
        rss_per_client_kib: if bots.clients_joined == 0 {
            0.0
        } else {
            rss_joined.saturating_sub(rss_idle) as f64 / bots.clients_joined as f64
        },
        clients_joined: bots.clients_joined,
        snapshots_per_client_per_s: bots.snapshots_per_client_per_s,
        snapshots_per_client_per_s_min: bots.snapshots_per_client_per_s_min,
        snapshot_interarrival_p99_ms: bots.snapshot_interarrival_ms.p99_ms,
        join_bytes_mean: bots.join_bytes_mean,
        join_bytes_max: bots.join_bytes_max,
        closes_by_code: bots.closes_by_code.clone(),
        decode_errors: bots.decode_errors,
        load_tool_cpu_s_per_s: own_cpu,
        load_tool_rss_kib: own_rss,
        cores,
        load_tool_may_limit: saturated,
        note,
        server_exit: exit,
        bots,
    })
}

/// The short human-readable table (for stderr).
pub fn table(r: &W1Report) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut lines = vec![
        format!(
            "W1: {} NPCs, {} clients ({}, {} joined){}, {:.1} s window after {:.1} s warm-up",
            r.npcs,
            r.clients,
            r.mode.as_str(),
            r.clients_joined,
            if r.view_radius > 0.0 { format!(", view radius {}", r.view_radius) } else { String::new() },
            r.window_s,
            r.warmup_s
        ),
        format!("  bytes per client per second      {:>10.1}", r.bytes_per_client_per_s),
        format!("  messages per client per second   {:>10.2}", r.messages_per_client_per_s),
        format!("  server CPU seconds per second    {:>10.3}", r.server_cpu_s_per_s),
        format!(
            "  server RSS                       {:>10.1} MiB  (idle {:.1} MiB, {:.1} KiB per client)",
            mib(r.server_rss_kib),
            mib(r.server_rss_idle_kib),
            r.rss_per_client_kib
        ),
        format!(
            "  ticks per second                 {:>10.2}  (of {}; {} overruns)",
            r.ticks_per_s, r.tick_rate, r.tick_overruns
        ),
        format!("  tick p50 / p99                   {:>10.3} / {:.3} ms", r.tick_p50_ms, r.tick_p99_ms),
        format!(
            "  snapshots per client per second  {:>10.2}  (min {:.2}; inter-arrival p99 {:.1} ms)",
            r.snapshots_per_client_per_s, r.snapshots_per_client_per_s_min, r.snapshot_interarrival_p99_ms
        ),
        format!("  join bytes                       {:>10.0}  (max {})", r.join_bytes_mean, r.join_bytes_max),
        format!("  load tool CPU seconds per second {:>10.3}  (of {} cores)", r.load_tool_cpu_s_per_s, r.cores),
    ];
    if let Some(latency) = &r.bots.input_latency_ms {
        lines.push(format!("  input → snapshot p50 / p99       {:>10.1} / {:.1} ms", latency.p50_ms, latency.p99_ms));
    }
    table_tail(&mut lines, &r.bots, &r.note);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: W1Args,
    }

    #[test]
    fn default_matches_the_command_line_defaults() {
        assert_eq!(Wrapper::try_parse_from(["w1"]).map(|w| w.args).ok(), Some(W1Args::default()));
        assert!(Wrapper::try_parse_from(["w1", "--duration", "0"]).is_err(), "an empty window is refused");
        assert!(Wrapper::try_parse_from(["w1", "--warmup", "0"]).is_ok(), "no warm-up is allowed");
    }

    #[test]
    fn server_flags_fit_the_mode() {
        let idle = W1Args { npcs: 7, clients: 5000, ..W1Args::default() };
        let flags = server_flags(&idle).join(" ");
        assert!(flags.contains("--npcs 7") && flags.contains("--max-connections 5064"), "{flags}");
        assert!(!flags.contains("--max-players"), "spectators need no player slots: {flags}");
        let parsed = Wrapper::try_parse_from(["w1", "--mode", "play", "--server-arg=--seed", "--server-arg", "7"])
            .map(|w| w.args)
            .expect("parses");
        let flags = server_flags(&parsed).join(" ");
        assert!(flags.ends_with("--max-players 100 --seed 7"), "{flags}");
        assert!(!flags.contains("--view-radius"), "off by default: {flags}");
        let parsed = Wrapper::try_parse_from(["w1", "--mode", "play", "--view-radius", "400"]).map(|w| w.args);
        let flags = server_flags(&parsed.expect("parses")).join(" ");
        assert!(flags.ends_with("--max-players 100 --view-radius 400"), "{flags}");
        assert!(Wrapper::try_parse_from(["w1", "--view-radius", "-1"]).is_err());
        assert!(Wrapper::try_parse_from(["w1", "--view-radius", "inf"]).is_err());
    }
}
