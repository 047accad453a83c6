//! `server bench w2`: the W2 matches workload of `../shared/WORKLOADS.md`, end to end. Starts
//! a server child with a `w2` room type (the arena, 4 players and 16 W1 NPCs a room), sends
//! 4 R bots through its matchmaker (join or create: rooms fill in turn), each playing with 20
//! inputs a second, and measures over a window after a warm-up: bytes and snapshots per client
//! per second, server CPU and RSS (per room too), each room's ticks per second (from
//! `GET /api/rooms`), join time (matchmaking request to first snapshot) and input → state
//! latency; plus the load tool's own CPU, so a reader can tell when it was the limit.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::stats::get_json;
use super::w1::BenchError;
use super::{CpuShare, TAIL_LINES, base_flags, cpu_share, server_command, table_tail};
use crate::bots::stats::Percentiles;
use crate::bots::{BotsArgs, BotsReport, Fleet, Mode, SPARE_FILES, raise_nofile_limit};
use crate::child::ServerChild;
use engine::procstat::cpu_seconds;

/// The room type the server child defines for W2.
const ROOM_TYPE: &str = "w2=arena,max-players=4,npcs=16";
/// Players a W2 room holds.
const PLAYERS_PER_ROOM: u32 = 4;
/// Connections the server may hold beyond the bots.
const CONNECTION_MARGIN: u32 = 64;

/// `server bench w2`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct W2Args {
    /// Rooms (R); 4 R clients (the comparison default is 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub rooms: u32,
    /// Seconds of the measurement window.
    #[arg(long, default_value_t = 10.0, value_parser = crate::bots::positive_seconds)]
    pub duration: f64,
    /// Seconds between the last join and the window's start.
    #[arg(long, default_value_t = 5.0, value_parser = crate::bots::positive_seconds)]
    pub warmup: f64,
    /// How many bots decode every message and apply every snapshot.
    #[arg(long, default_value_t = 4)]
    pub decode: u32,
    /// Most bots matchmaking and connecting at the same time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,
    /// An extra flag for the server child (repeatable), e.g. `--server-arg=--sim-threads=1`.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Copy the server's log to stderr, prefixed with `[server]`.
    #[arg(long)]
    pub verbose: bool,
    /// No progress lines from the bots.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for W2Args {
    /// The command-line defaults.
    fn default() -> Self {
        W2Args {
            rooms: 100,
            duration: 10.0,
            warmup: 5.0,
            decode: 4,
            connect_concurrency: 64,
            server_args: Vec::new(),
            verbose: false,
            quiet: false,
        }
    }
}

/// The W2 figures and their context: the JSON `server bench w2` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct W2Report {
    /// "W2".
    pub workload: String,
    /// `--rooms`.
    pub rooms: u32,
    /// Clients (4 per room).
    pub clients: u32,
    /// The server child's flags.
    pub server_args: Vec<String>,
    /// The server child's pid (gone when the bench exits).
    pub server_pid: u32,
    /// The measured window, seconds of wall time.
    pub window_s: f64,
    /// Payload bytes received per client per second.
    pub bytes_per_client_per_s: f64,
    /// Snapshots per client per second, mean over clients.
    pub snapshots_per_client_per_s: f64,
    /// Snapshots per second of the client that got the fewest.
    pub snapshots_per_client_per_s_min: f64,
    /// Server CPU seconds per wall second over the window.
    pub server_cpu_s_per_s: f64,
    /// The same, per room.
    pub server_cpu_s_per_s_per_room: f64,
    /// Server VmRSS at the window's end, KiB.
    pub server_rss_kib: u64,
    /// Server VmRSS before any client (the default room only), KiB.
    pub server_rss_idle_kib: u64,
    /// (end − idle) / rooms, KiB.
    pub rss_per_room_kib: f64,
    /// W2 rooms open over the window.
    pub rooms_seen: usize,
    /// Ticks per second of the slowest W2 room over the window.
    pub room_ticks_per_s_min: f64,
    /// Ticks per second, mean over W2 rooms.
    pub room_ticks_per_s_mean: f64,
    /// Matchmaking request to first snapshot, over every join.
    pub join_ms: Percentiles,
    /// Input sent to the first snapshot that reports it applied, over every playing client
    /// in the window (W2 asks it of one probe client; every client is a stricter sample).
    pub input_to_state_ms: Option<Percentiles>,
    /// Connections the server closed, by close code.
    pub closes_by_code: BTreeMap<String, u64>,
    /// Decode or apply errors at the decoding bots.
    pub decode_errors: u64,
    /// CPU seconds per wall second of this process (the bots) over the window.
    pub load_tool_cpu_s_per_s: f64,
    /// Cores available.
    pub cores: u64,
    /// Whether server and bots together nearly used every core.
    pub load_tool_may_limit: bool,
    /// A sentence saying whether the load tool may have been the limit.
    pub note: String,
    /// How the server child ended when stopped.
    pub server_exit: String,
    /// The bots' whole report.
    pub bots: BotsReport,
}

/// The server's flags for a run.
fn server_flags(args: &W2Args) -> Vec<String> {
    let clients = args.rooms.saturating_mul(PLAYERS_PER_ROOM);
    let mut flags = base_flags(0, clients.saturating_add(CONNECTION_MARGIN));
    flags.extend(["--room-type".into(), ROOM_TYPE.into()]);
    // The default room counts against --max-rooms.
    flags.extend(["--max-rooms".into(), args.rooms.saturating_add(1).to_string()]);
    // Every bot matchmakes from 127.0.0.1.
    flags.extend(["--matchmake-per-second".into(), "100000".into()]);
    flags.extend(args.server_args.iter().cloned());
    flags
}

/// `GET /api/rooms?type=w2`: each room's tick.
async fn room_ticks(addr: SocketAddr) -> Result<HashMap<String, u64>, BenchError> {
    let rooms: Vec<serde_json::Value> = get_json(addr, "/api/rooms?type=w2").await.map_err(BenchError::Rooms)?;
    Ok(rooms.iter().filter_map(|room| Some((room["id"].as_str()?.to_owned(), room["tick"].as_u64()?))).collect())
}

struct Edge {
    at: Instant,
    ticks: HashMap<String, u64>,
    server_cpu: f64,
    own_cpu: f64,
    bots: crate::bots::stats::Mark,
}

async fn edge(server: &ServerChild, fleet: &Fleet) -> Result<Edge, BenchError> {
    Ok(Edge {
        at: Instant::now(),
        ticks: room_ticks(server.addr()).await?,
        server_cpu: server.cpu_seconds()?,
        own_cpu: cpu_seconds("self")?,
        bots: fleet.mark(),
    })
}

/// Runs W2 once. The server child is stopped before this returns, also on error.
pub async fn run(args: &W2Args) -> Result<W2Report, BenchError> {
    let clients = args.rooms.saturating_mul(PLAYERS_PER_ROOM);
    raise_nofile_limit(u64::from(clients) * 2 + SPARE_FILES, "bench");
    let flags = server_flags(args);
    let mut server = server_command(&flags, args.verbose)?.start().await?;
    let pid = server.pid();
    eprintln!("bench: server pid {} on {}: W2, {} rooms of 4", server.pid(), server.addr(), args.rooms);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server.rss_kib()?;
    let bots_args = BotsArgs {
        url: format!("ws://{}/ws", server.addr()),
        count: clients,
        mode: Mode::Play,
        duration: args.duration,
        decode: args.decode,
        ping_interval: 0.0,
        connect_concurrency: args.connect_concurrency,
        name_prefix: "w2-".into(),
        quiet: args.quiet,
        input_hz: 20.0,
        matchmake: Some("w2".into()),
        ..BotsArgs::default()
    };
    eprintln!("bench: matchmaking {clients} clients");
    let fleet = Fleet::connect(&bots_args).await?;
    if !server.running() {
        return Err(BenchError::ServerDied(server.log_tail(TAIL_LINES)));
    }
    eprintln!("bench: {} joined; warm-up {} s, then {} s measured", fleet.joined(), args.warmup, args.duration);
    fleet.wait(Duration::from_secs_f64(args.warmup)).await;
    let start = edge(&server, &fleet).await?;
    fleet.wait(Duration::from_secs_f64(args.duration)).await;
    let end = edge(&server, &fleet).await?;
    if !server.running() {
        return Err(BenchError::ServerDied(server.log_tail(TAIL_LINES)));
    }
    let rss_end = server.rss_kib()?;
    let bots = fleet.report(&start.bots, &end.bots);
    fleet.close().await;
    let exit = server.stop().await.map_or_else(|| "unknown".to_owned(), |s| s.to_string());

    let wall = end.at.saturating_duration_since(start.at).as_secs_f64().max(1e-9);
    let rates: Vec<f64> = end
        .ticks
        .iter()
        .filter_map(|(id, tick)| Some(tick.saturating_sub(*start.ticks.get(id)?) as f64 / wall))
        .collect();
    let min_rate = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let mean_rate = if rates.is_empty() { 0.0 } else { rates.iter().sum::<f64>() / rates.len() as f64 };
    let server_cpu = (end.server_cpu - start.server_cpu) / wall;
    let own_cpu = (end.own_cpu - start.own_cpu) / wall;
    let CpuShare { cores, saturated, mut note } = cpu_share(server_cpu, own_cpu);
    if rates.len() < args.rooms as usize {
        note.push_str(&format!("; only {} of {} rooms were open through the window", rates.len(), args.rooms));
    }
    Ok(W2Report {
        workload: "W2".into(),
        rooms: args.rooms,
        clients,
        server_args: flags,
        server_pid: pid,
        window_s: wall,
        bytes_per_client_per_s: bots.bytes_per_client_per_s,
        snapshots_per_client_per_s: bots.snapshots_per_client_per_s,
        snapshots_per_client_per_s_min: bots.snapshots_per_client_per_s_min,
        server_cpu_s_per_s: server_cpu,
        server_cpu_s_per_s_per_room: server_cpu / f64::from(args.rooms),
        server_rss_kib: rss_end,
        server_rss_idle_kib: rss_idle,
        rss_per_room_kib: rss_end.saturating_sub(rss_idle) as f64 / f64::from(args.rooms),
        rooms_seen: rates.len(),
        room_ticks_per_s_min: if rates.is_empty() { 0.0 } else { min_rate },
        room_ticks_per_s_mean: mean_rate,
        join_ms: bots.join_ms,
        input_to_state_ms: bots.input_latency_ms,
        closes_by_code: bots.closes_by_code.clone(),
        decode_errors: bots.decode_errors,
        load_tool_cpu_s_per_s: own_cpu,
        cores,
        load_tool_may_limit: saturated,
        note,
        server_exit: exit,
        bots,
    })
}

/// The short human-readable table (for stderr).
pub fn table(r: &W2Report) -> String {
    let mut lines = vec![
        format!(
            "W2: {} rooms, {} clients ({} joined), {:.1} s window",
            r.rooms, r.clients, r.bots.clients_joined, r.window_s
        ),
        format!("  bytes per client per second      {:>10.1}", r.bytes_per_client_per_s),
        format!(
            "  snapshots per client per second  {:>10.2}  (min {:.2})",
            r.snapshots_per_client_per_s, r.snapshots_per_client_per_s_min
        ),
        format!(
            "  server CPU seconds per second    {:>10.3}  ({:.5} per room)",
            r.server_cpu_s_per_s, r.server_cpu_s_per_s_per_room
        ),
        format!(
            "  server RSS                       {:>10.1} MiB  (idle {:.1} MiB, {:.1} KiB per room)",
            r.server_rss_kib as f64 / 1024.0,
            r.server_rss_idle_kib as f64 / 1024.0,
            r.rss_per_room_kib
        ),
        format!(
            "  room ticks per second            {:>10.2}  (slowest {:.2}, {} rooms)",
            r.room_ticks_per_s_mean, r.room_ticks_per_s_min, r.rooms_seen
        ),
        format!("  join p50 / p99                   {:>10.1} / {:.1} ms", r.join_ms.p50_ms, r.join_ms.p99_ms),
    ];
    if let Some(latency) = &r.input_to_state_ms {
        lines.push(format!("  input → state p50 / p99          {:>10.1} / {:.1} ms", latency.p50_ms, latency.p99_ms));
    }
    lines.push(format!("  load tool CPU seconds per second {:>10.3}  (of {} cores)", r.load_tool_cpu_s_per_s, r.cores));
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
        args: W2Args,
    }

    #[test]
    fn defaults_and_flags() {
        assert_eq!(Wrapper::try_parse_from(["w2"]).map(|w| w.args).ok(), Some(W2Args::default()));
        let flags = server_flags(&W2Args { rooms: 400, ..W2Args::default() }).join(" ");
        assert!(flags.contains("--room-type w2=arena,max-players=4,npcs=16"), "{flags}");
        assert!(flags.contains("--max-rooms 401") && flags.contains("--max-connections 1664"), "{flags}");
    }
}
