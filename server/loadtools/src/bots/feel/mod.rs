//! `server bots --mode feel`: how the game feels through a link, measured by players that play
//! like people do: they predict themselves, draw the others through the browser's adaptive
//! interpolation, and shoot at what they see (see [`player`]). One JSON object on stdout:
//!
//! - own-player correction: at each snapshot, how far reconciling moved the predicted position
//!   (world units; respawns excluded and counted apart), mean, p99 and max;
//! - remote snaps per minute: others drawn more than 3 × their kind's top speed per 60 fps
//!   frame from the frame before (respawns excluded), per bot-minute;
//! - hit registration: of the shots a shooter saw hit its strafing target as drawn, the share
//!   the server counted (the target's health fell within 2 s of the shot).
//!
//! Run it through the link conditioner (`--sim-latency`, `--sim-jitter`, on the bots' side or
//! the server's) to feel a bad link on loopback.

pub mod player;
pub mod predict;
pub mod view;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use engine::net::conditioner::LinkConditioner;

/// Seconds after joining before anything is measured (spawn, first snapshots, settling).
pub const WARMUP_S: f64 = 3.0;

/// The figures of a feel run.
#[derive(Debug, Clone, Serialize)]
pub struct FeelReport {
    /// Always "feel".
    pub mode: &'static str,
    /// Server URL.
    pub url: String,
    /// Bots.
    pub clients: usize,
    /// Seconds measured.
    pub duration_s: f64,
    /// The bots' link conditioner, one way.
    pub sim_latency_ms: u32,
    /// Its jitter.
    pub sim_jitter_ms: u32,
    /// Ping round trips (milliseconds): the link as the bots had it, both conditioners in.
    pub rtt_ms: Spread,
    /// Own-player corrections.
    pub own_correction: Spread,
    /// Own-player corrections over 100 units (respawns), not in `own_correction`.
    pub own_respawn_snaps: u64,
    /// Others drawn jumping.
    pub remote_snaps: u64,
    /// Per bot-minute.
    pub remote_snaps_per_min: f64,
    /// Entity-frames of others looked at.
    pub remote_samples: u64,
    /// Interpolation delay the bots ended with, mean, ms.
    pub interp_delay_ms: f64,
    /// Frames drawn past the newest snapshot (the buffer ran dry; others extrapolated).
    pub underrun_frames: u64,
    /// Hit registration.
    pub hit_registration: HitRegistration,
    /// Bots that failed, and why.
    pub errors: Vec<String>,
}

/// Mean, median, p99 and max of a sample, and its size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Samples.
    pub samples: usize,
}

impl Spread {
    fn of(mut values: Vec<f32>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_unstable_by(f32::total_cmp);
        let n = values.len();
        let at = |q: f64| f64::from(values[((q * n as f64).ceil() as usize).clamp(1, n) - 1]);
        Spread {
            mean: values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64,
            p50: at(0.5),
            p99: at(0.99),
            max: f64::from(values[n - 1]),
            samples: n,
        }
    }
}

/// What the shooters saw and what the server counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HitRegistration {
    /// Shots fired.
    pub shots: u64,
    /// Shots that hit the target as the shooter drew it (overkill left out).
    pub seen_hits: u64,
    /// Shots seen to hit a target already seen killed, which the server rightly ignores.
    pub overkill: u64,
    /// Of those, counted by the server.
    pub registered: u64,
    /// Hits the server counted in all.
    pub server_hits: u64,
    /// registered / seen_hits (0 when nothing was seen to hit).
    pub share: f64,
}

/// Runs `count` feel bots against `addr` for `duration` after a warm-up.
pub async fn run(addr: SocketAddr, url: String, count: usize, duration: Duration, link: LinkConditioner) -> FeelReport {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(WARMUP_S);
    let until = measure_from + duration;
    let mut bots = JoinSet::new();
    for index in 0..count {
        let setup = player::Setup { addr, url: url.clone(), link, index, until, measure_from };
        bots.spawn(player::run(setup));
    }
    let mut all = Vec::with_capacity(count);
    while let Some(done) = bots.join_next().await {
        match done {
            Ok(figures) => all.push(figures),
            Err(e) => all.push(player::BotFigures { error: Some(format!("task: {e}")), ..Default::default() }),
        }
    }
    let minutes = duration.as_secs_f64() / 60.0;
    let remote_snaps: u64 = all.iter().map(|f| f.remote_snaps).sum();
    let mut hits = HitRegistration {
        shots: all.iter().map(|f| f.shots).sum(),
        seen_hits: all.iter().map(|f| f.seen_hits).sum(),
        overkill: all.iter().map(|f| f.overkill).sum(),
        registered: all.iter().map(|f| f.registered).sum(),
        server_hits: all.iter().map(|f| f.server_hits).sum(),
        share: 0.0,
    };
    if hits.seen_hits > 0 {
        hits.share = hits.registered as f64 / hits.seen_hits as f64;
    }
    FeelReport {
        mode: "feel",
        url,
        clients: count,
        duration_s: duration.as_secs_f64(),
        sim_latency_ms: link.latency_ms,
        sim_jitter_ms: link.jitter_ms,
        rtt_ms: Spread::of(all.iter().flat_map(|f| f.rtts_ms.iter().copied()).collect()),
        own_correction: Spread::of(all.iter().flat_map(|f| f.corrections.iter().copied()).collect()),
        own_respawn_snaps: all.iter().map(|f| f.own_snaps).sum(),
        remote_snaps,
        remote_snaps_per_min: remote_snaps as f64 / (minutes * count.max(1) as f64),
        remote_samples: all.iter().map(|f| f.remote_samples).sum(),
        underrun_frames: all.iter().map(|f| f.underruns).sum(),
        interp_delay_ms: all.iter().map(|f| f.delay_s * 1000.0).sum::<f64>() / all.len().max(1) as f64,
        hit_registration: hits,
        errors: all.iter().filter_map(|f| f.error.clone()).collect(),
    }
}
