//! Command-line configuration (clap): the live server's flags ([`Config`]), the engine's
//! subcommands ([`Command`]) and the log format. The `server` binary puts them together with
//! the load tools' subcommands; `server --help` and `server replay --help` list every flag
//! with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::games::arena::Arena;
use crate::games::blobs::Blobs;
use crate::limits;
use crate::net::conditioner::LinkConditioner;
use crate::net::front::admission::ConnectRate;
use crate::net::front::auth::Role;
use crate::net::front::tls::TlsSource;
use crate::net::front::web_files::WebRoot;
use crate::record::format::DEFAULT_CHECKSUM_INTERVAL;
use crate::sim::Simulation;
use crate::sim::game::{Game, GameError};
use crate::sim::resources::SimSettings;

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Text for people: time, level, target, message, fields.
    Human,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

/// The engine's subcommands (the binary adds the load tools').
#[derive(Subcommand, Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "parsed once at start; boxing buys nothing")]
pub enum Command {
    /// Replay a recording: verify it as fast as possible, or serve it to browsers (--serve).
    Replay(ReplayArgs),
    /// Mint a signed token for a player, spectator or admin, and print it on stdout.
    Token(TokenArgs),
    /// Write a self-signed development certificate and key (cert.pem, key.pem) to a directory.
    Cert(CertArgs),
}

/// The public face of a server: TLS, who may connect, and connection limits. Shared by live
/// and replay servers.
#[derive(Args, Debug, Clone)]
pub struct FrontArgs {
    /// Serve https and wss with this certificate chain (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve https and wss with a certificate generated at start (development; prints its
    /// SHA-256 fingerprint).
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Extra host name for --tls-self-signed, besides localhost, 127.0.0.1 and ::1 (repeatable).
    #[arg(long, value_name = "NAME", requires = "tls_self_signed")]
    pub tls_name: Vec<String>,
    /// Require a token signed with this secret (at least 32 bytes) to connect; without it the
    /// server is open to anyone who can reach it.
    #[arg(long, value_name = "FILE", env = "ARENA_AUTH_SECRET_FILE")]
    pub auth_secret_file: Option<PathBuf>,
    /// A web origin allowed to open sockets here, like https://game.example (repeatable; `*`
    /// allows any). Default: the server's own origin and localhost/127.0.0.1/[::1] pages.
    #[arg(long, value_name = "ORIGIN")]
    pub allowed_origin: Vec<String>,
    /// Most simultaneous connections from one IP address (an IPv6 /64 counts as one); more
    /// get HTTP 429 (0: no limit).
    #[arg(long, default_value_t = 64)]
    pub max_connections_per_ip: u32,
    /// New connections a second from one address, after a burst of --connect-burst-per-ip;
    /// faster ones are answered 429 and closed at once (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub connect_rate_per_ip: u32,
    /// New connections from one address at once, before --connect-rate-per-ip applies.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connect_burst_per_ip: u32,
    /// A reverse proxy whose `Forwarded` / `X-Forwarded-For` headers name the client, as a
    /// network (`127.0.0.1`, `10.0.0.0/8`, `fd00::/8`; repeatable). Per-address limits, logs and
    /// the admin page then use the client's address. Without it those headers are ignored.
    #[arg(long, value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,
    /// With auth on, most WebSocket sessions one token's name (`sub`) holds at once; a further
    /// one is refused with HTTP 409 (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_sessions_per_name: u32,
    /// Chat lines a second from all clients together; beyond, lines are dropped and their
    /// senders told.
    #[arg(long, value_name = "N", default_value_t = crate::net::session::chat_limit::SERVER_LINES_PER_SECOND, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chat_lines_per_second: u32,
    /// Seconds a connection has to complete its TLS handshake and send its HTTP request head.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub handshake_timeout: u64,
    /// Seconds a drain (SIGTERM, `POST /api/drain`) gives clients, warned with `Draining`,
    /// before closing them with 1001; it ends sooner once all have left. 0: close at once. A
    /// second SIGTERM or Ctrl-C ends it at once.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain_timeout: u64,
    /// Testing only: delay every WebSocket frame by this many milliseconds in each direction
    /// (the round trip grows by twice this); 0: off.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub sim_latency: u32,
    /// Testing only: spread each --sim-latency delay uniformly over ± this many milliseconds
    /// (floored at 0; bytes stay in order).
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub sim_jitter: u32,
    /// Seconds a seat from the matchmaker stays reserved before its WebSocket must use it.
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seat_ttl: u64,
    /// Matchmaking calls a second from one address (twice as many at once); beyond, 429.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub matchmake_per_second: u32,
}

impl Default for FrontArgs {
    /// The flags' defaults: plain HTTP, open, default origins, 64 per address (20 at once, then
    /// 10 a second), no trusted proxy, 2 sessions per name, 20 chat lines a second, 5 s, 30 s, seats for 15 s,
    /// 20 matchmaking calls a second per address.
    fn default() -> Self {
        FrontArgs {
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            tls_name: Vec::new(),
            auth_secret_file: None,
            allowed_origin: Vec::new(),
            max_connections_per_ip: 64,
            connect_rate_per_ip: 10,
            connect_burst_per_ip: 20,
            trusted_proxy: Vec::new(),
            max_sessions_per_name: 2,
            chat_lines_per_second: crate::net::session::chat_limit::SERVER_LINES_PER_SECOND,
            handshake_timeout: 5,
            drain_timeout: 30,
            sim_latency: 0,
            sim_jitter: 0,
            seat_ttl: 15,
            matchmake_per_second: 20,
        }
    }
}

impl FrontArgs {
    /// Where the TLS certificate comes from, if TLS is on.
    pub fn tls(&self) -> Option<TlsSource> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
            _ if self.tls_self_signed => Some(TlsSource::SelfSigned(self.tls_name.clone())),
            _ => None,
        }
    }

    /// The connection rate per address --connect-rate-per-ip and --connect-burst-per-ip describe.
    pub fn connect_rate(&self) -> ConnectRate {
        match self.connect_rate_per_ip {
            0 => ConnectRate::OFF,
            rate => ConnectRate { per_second: f64::from(rate), burst: f64::from(self.connect_burst_per_ip) },
        }
    }

    /// The link conditioner --sim-latency and --sim-jitter describe (off when both are 0).
    pub fn link_conditioner(&self) -> LinkConditioner {
        LinkConditioner { latency_ms: self.sim_latency, jitter_ms: self.sim_jitter }
    }
}

/// `server token`.
#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// The secret file the server is started with.
    #[arg(long, value_name = "FILE", env = "ARENA_AUTH_SECRET_FILE")]
    pub auth_secret_file: PathBuf,
    /// The player's name (1 to 24 bytes, no control characters).
    #[arg(long)]
    pub name: String,
    /// How long the token is valid: 90s, 15m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = crate::net::front::auth::parse_ttl)]
    pub ttl: std::time::Duration,
    /// What the holder may do.
    #[arg(long, value_enum, default_value_t = Role::Player)]
    pub role: Role,
}

/// `server cert`.
#[derive(Args, Debug, Clone)]
pub struct CertArgs {
    /// Directory to write cert.pem and key.pem into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Extra host name besides localhost, 127.0.0.1 and ::1 (repeatable).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Vec<String>,
}

/// Authoritative game server: fixed-tick simulation, WebSocket clients, built-in web client.
#[derive(Parser, Debug, Clone)]
#[command(name = "server", version, about)]
pub struct Config {
    /// Address to listen on for HTTP and WebSocket (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The game to run: `arena` (a top-down shooter; `--npcs` adds the W1 crowd) or `blobs`
    /// (agar-style, in a 4000 × 4000 world; `--pellets`).
    #[arg(long, default_value = "arena", value_parser = ["arena", "blobs"])]
    pub game: String,
    /// Blobs: pellets in the world.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::games::blobs::MAX_PELLETS)))]
    pub pellets: u32,
    /// Simulation ticks per second.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u16).range(1..=i64::from(limits::MAX_TICK_RATE)))]
    pub tick_rate: u16,
    /// Snapshots sent to clients per second (at most the tick rate).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=i64::from(limits::MAX_TICK_RATE)))]
    pub snapshot_rate: u16,
    /// Lag compensation: judge a shot against the targets as its shooter drew them, at most this
    /// many milliseconds back (its round trip, its interpolation delay and its input's wait in
    /// the jitter buffer; 300 covers a player at 150 ± 20 ms round trip). 0: judge against the
    /// present.
    #[arg(long, value_name = "MS", default_value_t = crate::games::arena::lag_comp::DEFAULT_MAX_REWIND_MS, value_parser = clap::value_parser!(u16).range(0..=i64::from(limits::MAX_REWIND_MS)))]
    pub max_rewind_ms: u16,
    /// Interest management: send each player only the entities within this many world units
    /// of its own player (and its own shots); an entity in view leaves it beyond 1.1 × this.
    /// Spectators still get everything. 0: everyone gets everything. Default: the game's
    /// (arena 0, a small map; blobs 1200, about two screens of its large world).
    #[arg(long, value_name = "R", value_parser = limits::view_radius)]
    pub view_radius: Option<f32>,
    /// Wandering NPCs to spawn (the W1 crowd benchmark workload).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(limits::MAX_NPCS)))]
    pub npcs: u32,
    /// Most players at once; later joins are refused with close code 1013.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_players: u16,
    /// Most simultaneous TCP connections (HTTP and WebSocket); more get HTTP 503.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seed of the simulation's random generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Map file (JSON); the built-in arena by default.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Serve the web client from this directory instead of the copy built into the binary.
    #[arg(long, value_name = "DIR", conflicts_with = "no_web")]
    pub web_root: Option<PathBuf>,
    /// Serve no web client (headless: only the WebSocket endpoint).
    #[arg(long)]
    pub no_web: bool,
    /// Record the run into a new file in this directory (off by default).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Ticks between two state checksums in a recording.
    #[arg(long, default_value_t = DEFAULT_CHECKSUM_INTERVAL, value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_CHECKSUM_INTERVAL)))]
    pub checksum_interval: u32,
    /// Seconds between two syncs of the recording to disk (`sync_data`): what a crash of the
    /// machine can lose at most. 0: at every flush (about once a second anyway).
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = sync_interval)]
    pub record_sync_interval: f64,
    /// Size at which a recording file is finished and the recording goes on in the next part
    /// (`match-….part2.rec`, …; each replays on its own). Bytes, or with K, M or G (powers of
    /// 1024); at least 4K.
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = byte_size)]
    pub record_max_bytes: u64,
    /// Simulation threads that step the rooms (and as many router threads for their fan-out).
    /// Default: the number of cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=i64::from(limits::MAX_SIM_THREADS)))]
    pub sim_threads: Option<u16>,
    /// Most rooms at once (the default room counts); beyond it, making a room answers 503.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_ROOMS)))]
    pub max_rooms: u32,
    /// A further room type, `NAME=GAME[,key=value…]` (repeatable), e.g.
    /// `duel=arena,max-players=2` or `big=blobs,pellets=5000,view-radius=1500`. Keys:
    /// max-players, npcs, pellets, max-rewind-ms, view-radius, tick-rate, snapshot-rate; the
    /// rest of the settings are this command line's. The default type is named after `--game`.
    #[arg(long, value_name = "NAME=GAME[,key=value…]", value_parser = RoomTypeSpec::parse)]
    pub room_type: Vec<RoomTypeSpec>,
    /// Seconds a room (other than the default room) stays after its last client leaves.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub room_empty_ttl: u32,
    /// TLS, tokens, origins and connection limits.
    #[command(flatten)]
    pub front: FrontArgs,
}

/// A `--room-type`: its name, and the command line with its settings applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomTypeSpec {
    /// The type's name.
    pub name: String,
    /// Its game.
    pub game: String,
    /// Its settings, `key=value`, in order.
    pub settings: Vec<(String, String)>,
}

impl RoomTypeSpec {
    /// Parses `NAME=GAME[,key=value…]` (clap value parser); the values are checked when they
    /// are applied ([`Config::for_room_type`]).
    pub fn parse(s: &str) -> Result<RoomTypeSpec, String> {
        let (name, rest) = s.split_once('=').ok_or("a room type is NAME=GAME[,key=value…]")?;
        let valid = |n: &str| {
            !n.is_empty() && n.len() <= 32 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !valid(name) {
            return Err(format!("{name:?} is not a room type name: 1 to 32 of A-Z a-z 0-9 - _"));
        }
        let mut parts = rest.split(',');
        let game = parts.next().unwrap_or_default().to_owned();
        let settings = parts
            .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("{s:?}: each setting after the game is key=value"))?;
        Ok(RoomTypeSpec { name: name.to_owned(), game, settings })
    }
}

impl Config {
    /// This command line with a room type's game and settings applied, or why not.
    pub fn for_room_type(&self, spec: &RoomTypeSpec) -> Result<Config, String> {
        fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
            key: &str,
            value: &str,
            low: T,
            high: T,
        ) -> Result<T, String> {
            match value.parse::<T>() {
                Ok(n) if n >= low && n <= high => Ok(n),
                _ => Err(format!("{key}={value}: not a whole number in [{low}, {high}]")),
            }
        }
        let mut config = self.clone();
        if !crate::games::catalog().names().any(|name| name == spec.game) {
            let known = crate::games::catalog().names().collect::<Vec<_>>().join(", ");
            return Err(format!("room type {}: no game {:?}; the games are: {known}", spec.name, spec.game));
        }
        config.game.clone_from(&spec.game);
        for (key, value) in &spec.settings {
            let (key, value) = (key.as_str(), value.as_str());
            match key {
                "max-players" => config.max_players = number(key, value, 1, u16::MAX)?,
                "npcs" => config.npcs = number(key, value, 0, limits::MAX_NPCS)?,
                "pellets" => config.pellets = number(key, value, 0, crate::games::blobs::MAX_PELLETS)?,
                "max-rewind-ms" => config.max_rewind_ms = number(key, value, 0, limits::MAX_REWIND_MS)?,
                "tick-rate" => config.tick_rate = number(key, value, 1, limits::MAX_TICK_RATE)?,
                "snapshot-rate" => config.snapshot_rate = number(key, value, 1, limits::MAX_TICK_RATE)?,
                "view-radius" => config.view_radius = Some(limits::view_radius(value)?),
                other => {
                    return Err(format!(
                        "room type {}: no setting {other:?}; the settings are max-players, npcs, pellets, \
                         max-rewind-ms, view-radius, tick-rate, snapshot-rate",
                        spec.name
                    ));
                }
            }
        }
        Ok(config)
    }
}

/// A sync interval in seconds, 0 to 3600 (clap value parser).
fn sync_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=3600.0).contains(&secs) => Ok(secs),
        _ => Err(format!("{s:?} is not a number of seconds in [0, 3600]")),
    }
}

/// A size in bytes, `4096` or with a K, M or G suffix (powers of 1024), at least 4 KiB (clap
/// value parser).
fn byte_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(bytes) if bytes >= 4096 => Ok(bytes),
        _ => Err(format!("{s:?} is not a size of at least 4096 bytes (4096, 64K, 512M, 1G)")),
    }
}

/// `server replay FILE`.
#[derive(Args, Debug, Clone)]
#[command(after_help = crate::record::cli::EXIT_CODES)]
pub struct ReplayArgs {
    /// The recording file.
    pub file: PathBuf,
    /// Stop after this tick.
    #[arg(long, value_name = "TICK")]
    pub until: Option<u64>,
    /// Print the state at this tick in a readable form.
    #[arg(long, value_name = "TICK")]
    pub dump_state: Option<u64>,
    /// Do not verify the recorded checksums.
    #[arg(long)]
    pub no_verify: bool,
    /// Serve the replay to browsers (as spectators) instead of running it to the end.
    #[arg(long)]
    pub serve: bool,
    /// Address to serve on, with --serve.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub bind: SocketAddr,
    /// Serve the web client from this directory, with --serve.
    #[arg(long, value_name = "DIR", requires = "serve")]
    pub web_root: Option<PathBuf>,
    /// Most simultaneous TCP connections, with --serve.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// TLS, tokens, origins and connection limits, with --serve.
    #[command(flatten)]
    pub front: FrontArgs,
}

impl ReplayArgs {
    /// Where static files come from.
    pub fn web_root(&self) -> WebRoot {
        self.web_root.clone().map_or(WebRoot::Embedded, WebRoot::Dir)
    }

    /// What a replay without --serve runs ([`record::cli::run`](crate::record::cli::run)).
    pub fn cli_options(&self) -> crate::record::cli::Options {
        crate::record::cli::Options {
            file: self.file.clone(),
            until: self.until,
            dump_state: self.dump_state,
            verify: !self.no_verify,
        }
    }
}

impl Config {
    /// Parses command-line style arguments (the first is the program name); the error is
    /// clap's message.
    pub fn from_args<I, T>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args).map_err(|e| e.to_string())
    }

    /// The simulation settings the flags describe.
    pub fn sim_settings(&self) -> SimSettings {
        SimSettings {
            tick_rate: self.tick_rate,
            snapshot_rate: self.snapshot_rate.min(self.tick_rate),
            max_players: self.max_players,
            seed: self.seed,
        }
    }

    /// A simulation of the game the flags choose: the arena on `map`, blobs in its own world.
    pub fn simulation(&self, map: shared::MapData) -> Result<Simulation, GameError> {
        match self.game.as_str() {
            Arena::NAME => {
                Simulation::new(Arena { npcs: self.npcs, max_rewind_ms: self.max_rewind_ms }, self.sim_settings(), map)
            }
            Blobs::NAME => Simulation::new(Blobs { pellets: self.pellets }, self.sim_settings(), map),
            other => {
                let known = crate::games::catalog().names().collect::<Vec<_>>().join(", ");
                Err(GameError::Unknown(other.to_owned(), known))
            }
        }
    }

    /// Where static files come from.
    pub fn web_root(&self) -> WebRoot {
        match (&self.web_root, self.no_web) {
            (_, true) => WebRoot::Disabled,
            (Some(dir), false) => WebRoot::Dir(dir.clone()),
            (None, false) => WebRoot::Embedded,
        }
    }
}
