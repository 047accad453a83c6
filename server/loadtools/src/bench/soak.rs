//! `server bench soak`: churn against a server child for a long time, watching its memory.
//! Joiners arrive at a fixed rate (players or spectators, in a set mix), each stays a random
//! time in `[stay-min, stay-max]` (players sending inputs at 60 Hz), then closes politely; the
//! server's VmRSS is sampled throughout. The report (JSON on stdout, progress on stderr) gives
//! the samples, the RSS at the end of the warm-up and at the end, and least-squares slopes
//! over the whole run after warm-up and over its second half: a server whose tables are
//! reclaimed when their client leaves has a flat second half.
//!
//! The joiners are plain tasks of this process, each with its own connection to the child on
//! 127.0.0.1 (and nothing else); how many exist at once is bounded by the rate times the
//! longest stay. The report states the load tool's own CPU, so a reader can tell when it,
//! not the server, was the limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use serde::{Deserialize, Serialize};
use shared::arena::Input;
use shared::{ClientMessage, InputFrame, PROTOCOL_VERSION, codec};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use super::w1::BenchError;
use super::{TAIL_LINES, base_flags, server_command};
use crate::bots::{SPARE_FILES, raise_nofile_limit};
use crate::child::ServerChild;
use engine::procstat::{cpu_seconds, rss_kib};
use engine::splitmix::SplitMix;

/// Connections the server may hold beyond the joiners.
const CONNECTION_MARGIN: u32 = 64;
/// How long a joiner waits for the server's close frame after sending its own.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a joiner may take from connecting to its first message.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `server bench soak`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct SoakArgs {
    /// Joins per second (players and spectators together).
    #[arg(long, default_value_t = 10.0, value_parser = rate)]
    pub rate: f64,
    /// Seconds of churn after the warm-up.
    #[arg(long, default_value_t = 1800.0, value_parser = crate::bots::positive_seconds)]
    pub duration: f64,
    /// Seconds of churn before the baseline RSS is taken (the target compares the end with
    /// minute 5, the default).
    #[arg(long, default_value_t = 300.0, value_parser = seconds)]
    pub warmup: f64,
    /// Share of joiners who play (the rest spectate), 0 to 1.
    #[arg(long, default_value_t = 0.5, value_parser = fraction)]
    pub players: f64,
    /// Shortest stay of a joiner, seconds.
    #[arg(long, default_value_t = 5.0, value_parser = crate::bots::positive_seconds)]
    pub stay_min: f64,
    /// Longest stay of a joiner, seconds (at least `--stay-min`).
    #[arg(long, default_value_t = 16.0, value_parser = crate::bots::positive_seconds)]
    pub stay_max: f64,
    /// Inputs per second of a playing joiner.
    #[arg(long, default_value_t = 60.0, value_parser = rate)]
    pub input_hz: f64,
    /// NPCs in the server child.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub npcs: u32,
    /// Seconds between two RSS samples.
    #[arg(long, default_value_t = 10.0, value_parser = crate::bots::positive_seconds)]
    pub sample_interval: f64,
    /// An extra flag for the server child (repeatable).
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Copy the server's log to stderr, prefixed with `[server]`.
    #[arg(long)]
    pub verbose: bool,
    /// Churn against a server already running at this loopback address instead of a child
    /// (for a server under a heap profiler); its RSS is read through `--attach-pid`.
    #[arg(long, value_name = "ADDR", requires = "attach_pid", value_parser = loopback)]
    pub attach: Option<std::net::SocketAddr>,
    /// The pid of the `--attach`ed server, whose `/proc` figures are read.
    #[arg(long, value_name = "PID", requires = "attach")]
    pub attach_pid: Option<u32>,
}

impl Default for SoakArgs {
    /// The command-line defaults.
    fn default() -> Self {
        SoakArgs {
            rate: 10.0,
            duration: 1800.0,
            warmup: 300.0,
            players: 0.5,
            stay_min: 5.0,
            stay_max: 16.0,
            input_hz: 60.0,
            npcs: 200,
            sample_interval: 10.0,
            server_args: Vec::new(),
            verbose: false,
            attach: None,
            attach_pid: None,
        }
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("{s:?} is not a rate in (0, 1000] per second")),
    }
}

fn loopback(s: &str) -> Result<std::net::SocketAddr, String> {
    match s.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => Ok(addr),
        Ok(_) => Err(format!("{s}: the soak sends traffic to loopback addresses only")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction in [0, 1]")),
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in [0, 86400]")),
    }
}

/// One RSS sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the churn started.
    pub t_s: f64,
    /// Server VmRSS, KiB.
    pub rss_kib: u64,
    /// Joiners connected at that moment.
    pub live: u64,
    /// Joins started so far.
    pub joins: u64,
}

/// What `server bench soak` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakReport {
    /// "soak".
    pub workload: String,
    /// `--rate`.
    pub rate_per_s: f64,
    /// `--duration`, seconds.
    pub duration_s: f64,
    /// `--warmup`, seconds.
    pub warmup_s: f64,
    /// `--players`.
    pub players_fraction: f64,
    /// `--stay-min`, `--stay-max`, seconds.
    pub stay_s: (f64, f64),
    /// `--npcs`.
    pub npcs: u32,
    /// The server child's flags.
    pub server_args: Vec<String>,
    /// Server VmRSS before the first join, KiB.
    pub rss_idle_kib: u64,
    /// Server VmRSS at the end of the warm-up (the baseline), KiB.
    pub rss_warm_kib: u64,
    /// Server VmRSS at the end, KiB.
    pub rss_end_kib: u64,
    /// (end − warm) / warm, percent.
    pub rss_end_vs_warm_pct: f64,
    /// Least-squares slope of RSS after the warm-up, KB/s (1000 bytes).
    pub slope_after_warmup_kb_per_s: f64,
    /// Least-squares slope of RSS over the second half of the measured time, KB/s.
    pub slope_second_half_kb_per_s: f64,
    /// Joins started.
    pub joins: u64,
    /// Joiners that got a first message from the server.
    pub joined: u64,
    /// Joiners that left on their own after their stay.
    pub left: u64,
    /// Joiners that failed (connect, handshake, closed early), by reason.
    pub failures: BTreeMap<String, u64>,
    /// Inputs sent by players.
    pub inputs_sent: u64,
    /// Payload bytes received by all joiners.
    pub bytes_received: u64,
    /// Server CPU seconds per wall second over the measured time.
    pub server_cpu_s_per_s: f64,
    /// This process's CPU seconds per wall second over the measured time.
    pub load_tool_cpu_s_per_s: f64,
    /// Cores available.
    pub cores: u64,
    /// Whether server and load tool together nearly used every core.
    pub load_tool_may_limit: bool,
    /// How the server child ended when stopped.
    pub server_exit: String,
    /// Every sample.
    pub samples: Vec<Sample>,
}

/// Counters the joiners share.
#[derive(Default)]
struct Counters {
    joins: AtomicU64,
    joined: AtomicU64,
    left: AtomicU64,
    live: AtomicU64,
    inputs: AtomicU64,
    bytes: AtomicU64,
    failures: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn fail(&self, why: String) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *failures.entry(why).or_default() += 1;
    }
}

/// The server's flags for a run.
fn server_flags(args: &SoakArgs) -> Vec<String> {
    let most = (args.rate * (args.stay_max + CLOSE_GRACE.as_secs_f64() + 1.0)).ceil() as u32 + 1;
    let mut flags = base_flags(args.npcs, most.saturating_add(CONNECTION_MARGIN));
    flags.extend(["--max-players".into(), most.clamp(32, u32::from(u16::MAX)).to_string()]);
    flags.extend(args.server_args.iter().cloned());
    flags
}

/// Least-squares slope of RSS (KiB) against time, in KB/s; 0 with fewer than two samples.
pub fn slope_kb_per_s(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.t_s).sum::<f64>() / n;
    let mean_r = samples.iter().map(|s| s.rss_kib as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for s in samples {
        num += (s.t_s - mean_t) * (s.rss_kib as f64 - mean_r);
        den += (s.t_s - mean_t) * (s.t_s - mean_t);
    }
    if den == 0.0 { 0.0 } else { num / den * 1.024 }
}

/// One joiner: connect, `Hello`, read (and play) for `stay`, close politely.
async fn joiner(
    url: Arc<str>,
    addr: std::net::SocketAddr,
    index: u64,
    play: bool,
    stay: Duration,
    input_hz: f64,
    c: Arc<Counters>,
) {
    let connect = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {}", e.kind()))?;
        let _ = stream.set_nodelay(true);
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(codec::MAX_SERVER_MESSAGE_BYTES));
        tokio_tungstenite::client_async_with_config(&*url, stream, Some(config))
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| format!("handshake: {e}"))
    };
    let mut ws = match tokio::time::timeout(JOIN_TIMEOUT, connect).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(why)) => return c.fail(why),
        Err(_) => return c.fail("connect timeout".into()),
    };
    c.live.fetch_add(1, Ordering::Relaxed);
    let hello =
        ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: format!("soak-{index}"), spectate: !play };
    let outcome = async {
        let bytes = codec::encode(&hello).map_err(|e| format!("encode: {e}"))?;
        ws.send(Message::Binary(bytes.into())).await.map_err(|e| format!("send Hello: {e}"))?;
        let end = tokio::time::Instant::now() + stay;
        let mut input = tokio::time::interval(Duration::from_secs_f64(1.0 / input_hz));
        input.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut rng = SplitMix(0xD1B5_4A32_D192_ED03 ^ index);
        let (mut seq, mut heading, mut joined) = (0u32, 0.0f32, false);
        loop {
            tokio::select! {
                message = ws.next() => match message {
                    Some(Ok(Message::Binary(b))) => {
                        c.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        if !joined {
                            joined = true;
                            c.joined.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!("closed by the server: {}", frame.map_or(1005, |f| u16::from(f.code))));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("connection ended".into()),
                },
                _ = input.tick(), if play && joined => {
                    seq = seq.wrapping_add(1);
                    if seq % 60 == 1 {
                        heading = rng.angle();
                    }
                    let (sin, cos) = heading.sin_cos();
                    let input = Input { movement: Vec2::new(cos, sin), aim: heading, buttons: 0 };
                    let message = ClientMessage::Input(InputFrame::new(seq, 0, &input));
                    let bytes = codec::encode(&message).map_err(|e| format!("encode: {e}"))?;
                    ws.send(Message::Binary(bytes.into())).await.map_err(|e| format!("send: {e}"))?;
                    c.inputs.fetch_add(1, Ordering::Relaxed);
                }
                _ = tokio::time::sleep_until(end) => return Ok(()),
            }
        }
    }
    .await;
    match outcome {
        Ok(()) => {
            let bye = CloseFrame { code: CloseCode::Normal, reason: "soak: stay over".into() };
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                if ws.close(Some(bye)).await.is_ok() {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            })
            .await;
            c.left.fetch_add(1, Ordering::Relaxed);
        }
        Err(why) => c.fail(why),
    }
    c.live.fetch_sub(1, Ordering::Relaxed);
}

/// The server under load: a child of ours, or one already running.
enum Target {
    Child(ServerChild),
    Attached { addr: std::net::SocketAddr, pid: u32 },
}

impl Target {
    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Target::Child(child) => child.addr(),
            Target::Attached { addr, .. } => *addr,
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Target::Child(child) => child.pid(),
            Target::Attached { pid, .. } => *pid,
        }
    }

    fn running(&mut self) -> bool {
        match self {
            Target::Child(child) => child.running(),
            Target::Attached { pid, .. } => std::path::Path::new(&format!("/proc/{pid}")).exists(),
        }
    }

    fn tail(&self) -> String {
        match self {
            Target::Child(child) => child.log_tail(TAIL_LINES),
            Target::Attached { .. } => String::new(),
        }
    }

    async fn stop(self) -> String {
        match self {
            Target::Child(child) => child.stop().await.map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
            Target::Attached { .. } => "attached: left running".to_owned(),
        }
    }
}

/// Runs the soak once. The server child is stopped before this returns, also on error.
pub async fn run(args: &SoakArgs) -> Result<SoakReport, BenchError> {
    let stay_max = args.stay_max.max(args.stay_min);
    let flags = server_flags(args);
    let most = u64::from((args.rate * (stay_max + 4.0)).ceil() as u32);
    raise_nofile_limit(most + SPARE_FILES, "bench");
    let mut server = match (args.attach, args.attach_pid) {
        (Some(addr), Some(pid)) => Target::Attached { addr, pid },
        _ => Target::Child(server_command(&flags, args.verbose)?.start().await?),
    };
    let pid = server.pid().to_string();
    eprintln!(
        "soak: server pid {pid} on {}, {} NPCs; {} joins/s ({:.0}% players), stays {}–{} s, warm-up {} s, then {} s",
        server.addr(),
        args.npcs,
        args.rate,
        args.players * 100.0,
        args.stay_min,
        stay_max,
        args.warmup,
        args.duration
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss_kib(&pid)?;
    let url: Arc<str> = format!("ws://{}/ws", server.addr()).into();
    let counters = Arc::new(Counters::default());
    let mut tasks = JoinSet::new();
    let mut rng = SplitMix(0x5EED_50A4);
    let start = Instant::now();
    let total = args.warmup + args.duration;
    let mut next_join = tokio::time::Instant::now();
    let join_every = Duration::from_secs_f64(1.0 / args.rate);
    let sample_every = Duration::from_secs_f64(args.sample_interval);
    let mut next_sample = tokio::time::Instant::now() + sample_every;
    let mut samples = Vec::new();
    let (mut rss_warm, mut warm_edge) = (None, None);
    let (mut index, mut players_started) = (0u64, 0.0f64);
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= total {
            break;
        }
        if warm_edge.is_none() && elapsed >= args.warmup {
            rss_warm = Some(rss_kib(&pid)?);
            warm_edge = Some((Instant::now(), cpu_seconds(&pid)?, cpu_seconds("self")?));
        }
        tokio::select! {
            () = tokio::time::sleep_until(next_join) => {
                next_join += join_every;
                // The mix is exact, not drawn: the n-th joiner plays when that keeps the share.
                let play = players_started < args.players * (index + 1) as f64;
                if play {
                    players_started += 1.0;
                }
                let stay = args.stay_min + (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (stay_max - args.stay_min);
                counters.joins.fetch_add(1, Ordering::Relaxed);
                tasks.spawn(joiner(url.clone(), server.addr(), index, play, Duration::from_secs_f64(stay), args.input_hz, counters.clone()));
                index += 1;
            }
            () = tokio::time::sleep_until(next_sample) => {
                next_sample += sample_every;
                if !server.running() {
                    return Err(BenchError::ServerDied(server.tail()));
                }
                let sample = Sample {
                    t_s: elapsed,
                    rss_kib: rss_kib(&pid)?,
                    live: counters.live.load(Ordering::Relaxed),
                    joins: counters.joins.load(Ordering::Relaxed),
                };
                eprintln!(
                    "soak: {:>6.0} s  RSS {:>8} KiB  live {:>4}  joins {:>7}  failures {}",
                    sample.t_s,
                    sample.rss_kib,
                    sample.live,
                    sample.joins,
                    counters.failures.lock().map_or(0, |f| f.values().sum::<u64>())
                );
                samples.push(sample);
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    if !server.running() {
        return Err(BenchError::ServerDied(server.tail()));
    }
    let rss_end = rss_kib(&pid)?;
    let (warm_at, warm_cpu, warm_own) = match warm_edge {
        Some(edge) => edge,
        None => (start, 0.0, 0.0),
    };
    let wall = warm_at.elapsed().as_secs_f64().max(1e-9);
    let server_cpu = (cpu_seconds(&pid)? - warm_cpu) / wall;
    let own_cpu = (cpu_seconds("self")? - warm_own) / wall;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let exit = server.stop().await;

    let rss_warm = rss_warm.unwrap_or(rss_idle);
    let after: Vec<Sample> = samples.iter().copied().filter(|s| s.t_s >= args.warmup).collect();
    let half = args.warmup + args.duration / 2.0;
    let second: Vec<Sample> = samples.iter().copied().filter(|s| s.t_s >= half).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let failures = counters.failures.lock().map(|f| f.clone()).unwrap_or_default();
    Ok(SoakReport {
        workload: "soak".into(),
        rate_per_s: args.rate,
        duration_s: args.duration,
        warmup_s: args.warmup,
        players_fraction: args.players,
        stay_s: (args.stay_min, stay_max),
        npcs: args.npcs,
        server_args: flags,
        rss_idle_kib: rss_idle,
        rss_warm_kib: rss_warm,
        rss_end_kib: rss_end,
        rss_end_vs_warm_pct: (rss_end as f64 - rss_warm as f64) / (rss_warm.max(1) as f64) * 100.0,
        slope_after_warmup_kb_per_s: slope_kb_per_s(&after),
        slope_second_half_kb_per_s: slope_kb_per_s(&second),
        joins: counters.joins.load(Ordering::Relaxed),
        joined: counters.joined.load(Ordering::Relaxed),
        left: counters.left.load(Ordering::Relaxed),
        failures,
        inputs_sent: counters.inputs.load(Ordering::Relaxed),
        bytes_received: counters.bytes.load(Ordering::Relaxed),
        server_cpu_s_per_s: server_cpu,
        load_tool_cpu_s_per_s: own_cpu,
        cores,
        load_tool_may_limit: server_cpu + own_cpu >= super::SATURATED * cores as f64,
        server_exit: exit,
        samples,
    })
}

/// The short human-readable summary (for stderr).
pub fn table(r: &SoakReport) -> String {
    [
        format!(
            "soak: {} joins/s ({:.0}% players, stays {}–{} s), {} NPCs, {} s after {} s warm-up",
            r.rate_per_s,
            r.players_fraction * 100.0,
            r.stay_s.0,
            r.stay_s.1,
            r.npcs,
            r.duration_s,
            r.warmup_s
        ),
        format!(
            "  RSS idle {} KiB, after warm-up {} KiB, end {} KiB ({:+.2}%)",
            r.rss_idle_kib, r.rss_warm_kib, r.rss_end_kib, r.rss_end_vs_warm_pct
        ),
        format!(
            "  slope after warm-up {:.4} KB/s, second half {:.4} KB/s",
            r.slope_after_warmup_kb_per_s, r.slope_second_half_kb_per_s
        ),
        format!("  joins {}, joined {}, left {}, failures {:?}", r.joins, r.joined, r.left, r.failures),
        format!(
            "  server CPU {:.3} s/s, load tool CPU {:.3} s/s of {} cores{}",
            r.server_cpu_s_per_s,
            r.load_tool_cpu_s_per_s,
            r.cores,
            if r.load_tool_may_limit { " (they competed: the load tool may have been the limit)" } else { "" }
        ),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SoakArgs,
    }

    #[test]
    fn default_matches_the_command_line_defaults() {
        assert_eq!(Wrapper::try_parse_from(["soak"]).map(|w| w.args).ok(), Some(SoakArgs::default()));
        assert!(Wrapper::try_parse_from(["soak", "--players", "1.5"]).is_err());
        assert!(Wrapper::try_parse_from(["soak", "--rate", "0"]).is_err());
    }

    #[test]
    fn slope_is_least_squares_in_kb_per_s() {
        let line: Vec<Sample> = (0..10)
            .map(|i| Sample { t_s: f64::from(i) * 10.0, rss_kib: 1000 + 5 * i as u64, live: 0, joins: 0 })
            .collect();
        // 5 KiB every 10 s = 0.5 KiB/s = 0.512 KB/s.
        assert!((slope_kb_per_s(&line) - 0.512).abs() < 1e-9, "{}", slope_kb_per_s(&line));
        assert_eq!(slope_kb_per_s(&line[..1]), 0.0);
    }
}
