//! Puts the pieces together: the network layer in front of the rooms (or a replay), with the
//! routers between them; and takes them apart on shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

use crate::bridge::Bridge;
use crate::config::{Config, FrontArgs, ReplayArgs};
use crate::map::{self, MapError};
use crate::metrics::Metrics;
use crate::net::NetLimits;
use crate::net::drain::Drain;
use crate::net::front::admission::Admission;
use crate::net::front::auth::{Secret, SecretError};
use crate::net::front::health::Liveness;
use crate::net::front::matchmaker::Matchmaking;
use crate::net::front::origin::OriginPolicy;
use crate::net::front::proxy::TrustedProxies;
use crate::net::front::rooms::RoomDirectory;
use crate::net::front::seats::Seats;
use crate::net::front::tls::{Tls, TlsError};
use crate::net::front::web_files::WebRoot;
use crate::net::front::{Front, listener};
use crate::net::replication::delta_cache::DeltaCache;
use crate::net::replication::router::{self, Registry, Route};
use crate::net::session::chat_limit::ChatBudget;
use crate::net::session::name_slots::NameSlots;
use crate::net::session::{Shared, SimLink};
use crate::record::reader::Recording;
use crate::record::spectate::ReplayThread;
use crate::rooms::{MakeSim, RecordSettings, ReplayRoom, RoomType, Rooms, RoomsSettings};
use crate::sim::Simulation;
use crate::sim::game::Game;
use crate::sim::resources::SimSettings;
use crate::sim::stats::TickStats;

/// How long shutdown waits for clients to acknowledge their close before it stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1200);

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The map could not be loaded.
    #[error(transparent)]
    Map(#[from] MapError),
    /// Binding the address, creating the recording or starting a thread failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The recording cannot be read.
    #[error(transparent)]
    Recording(#[from] crate::record::reader::RecordingError),
    /// The recording cannot be replayed by this build.
    #[error(transparent)]
    Replay(#[from] crate::record::replay::ReplayError),
    /// The game cannot be set up.
    #[error(transparent)]
    Game(#[from] crate::sim::game::GameError),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The auth secret cannot be used.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A front-end flag is invalid.
    #[error("{0}")]
    Flag(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// What runs behind the network layer.
enum Driver {
    /// Rooms on the simulation pool, and the task that disposes of idle ones.
    Rooms { rooms: Arc<Rooms>, reaper: TaskHandle<()> },
    /// A recording played to spectators, with a router thread of its own.
    Replay { replay: ReplayThread, router: JoinHandle<()>, registry: Arc<Registry> },
}

impl Driver {
    fn clients(&self) -> usize {
        match self {
            Driver::Rooms { rooms, .. } => rooms.clients(),
            Driver::Replay { registry, .. } => registry.len(),
        }
    }

    /// Stops the driver's threads (and finishes the recordings); false if a thread panicked
    /// or a recording failed.
    fn stop(self) -> bool {
        match self {
            Driver::Rooms { rooms, reaper } => {
                reaper.abort();
                rooms.stop()
            }
            Driver::Replay { replay, router, .. } => {
                let replay_ok = replay.stop().is_ok();
                // The router ends once the replay thread has dropped its sender.
                replay_ok && router.join().is_ok()
            }
        }
    }
}

/// The network-facing settings shared by live and replay servers, from which `launch` builds
/// the [`Front`].
struct FrontSettings {
    bind: SocketAddr,
    metrics: Arc<Metrics>,
    web: WebRoot,
    max_connections: u32,
    limits: NetLimits,
    replay: bool,
    args: FrontArgs,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: TaskHandle<()>,
    admission: Arc<Admission>,
    driver: Driver,
    recording: Option<PathBuf>,
    drain: Arc<Drain>,
    drain_timeout: Duration,
}

impl Server {
    /// Starts a live server with default network limits. Must be called within a tokio runtime.
    pub async fn start(config: &Config) -> Result<Server, StartError> {
        Self::start_with_limits(config, NetLimits::default()).await
    }

    /// Starts a live server with the given network limits: the default room type runs the
    /// game `--game` names, and each `--room-type` its own.
    pub async fn start_with_limits(config: &Config, limits: NetLimits) -> Result<Server, StartError> {
        let map = map::load(config.map.as_deref())?;
        // Made once here so that a bad game or setting stops the start, with its reason.
        let first = config.simulation(map.clone())?;
        let mut types = vec![built_in(first.game().name.to_string(), config.clone(), &map)];
        for spec in &config.room_type {
            let typed = config.for_room_type(spec).map_err(StartError::Flag)?;
            typed.simulation(map.clone())?;
            if types.iter().any(|t| t.name == spec.name) {
                return Err(StartError::Flag(format!("room type {} is defined twice", spec.name)));
            }
            types.push(built_in(spec.name.clone(), typed, &map));
        }
        Self::start_rooms(config, first, types, limits).await
    }

    /// Starts a live server of `game` (any game: see `crate::app::run`), with the network,
    /// room, recording and view settings of `config` and the given network limits.
    pub async fn start_game<G: Game>(config: &Config, game: G, limits: NetLimits) -> Result<Server, StartError> {
        let map = map::load(config.map.as_deref())?;
        let settings = config.sim_settings();
        let first = Simulation::new(game.clone(), settings.clone(), map.clone())?;
        let make: MakeSim =
            Arc::new(move |seed| Simulation::new(game.clone(), SimSettings { seed, ..settings.clone() }, map.clone()));
        let types = vec![RoomType { name: G::NAME.to_owned(), make, view_radius: config.view_radius }];
        Self::start_rooms(config, first, types, limits).await
    }

    /// Starts the rooms of `types` behind a front, with a default room of the first type
    /// (whose first simulation, `first`, says what it runs).
    async fn start_rooms(
        config: &Config,
        first: Simulation,
        types: Vec<RoomType>,
        limits: NetLimits,
    ) -> Result<Server, StartError> {
        let settings = first.settings().clone();
        let kind = first.game().name.to_string();
        tracing::info!(game = %kind, map = %first.map().id, seed = settings.seed,
            tick_rate = settings.tick_rate, snapshot_rate = settings.snapshot_rate, "starting");
        drop(first);
        let metrics = Metrics::new();
        let front = FrontSettings {
            bind: config.bind,
            metrics: metrics.clone(),
            web: config.web_root(),
            max_connections: config.max_connections,
            limits,
            replay: false,
            args: config.front.clone(),
        };
        let threads = config
            .sim_threads
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1));
        let rooms_settings = RoomsSettings {
            max_rooms: config.max_rooms as usize,
            empty_ttl: Duration::from_secs(u64::from(config.room_empty_ttl)),
            threads,
            seed: settings.seed,
            chat_lines_per_second: config.front.chat_lines_per_second,
            record: config.record.clone().map(|dir| RecordSettings {
                dir,
                checksum_interval: config.checksum_interval,
                sync_every: Duration::from_secs_f64(config.record_sync_interval),
                max_bytes: config.record_max_bytes,
            }),
        };
        Self::launch(front, move |drain, seats| {
            let rooms = Rooms::start(types, Some(&kind), rooms_settings, metrics, drain, seats)
                .map_err(|e| StartError::Flag(e.to_string()))?;
            let recording = rooms.default_recording();
            let reaper = tokio::spawn(reap(rooms.clone()));
            let directory: Arc<dyn RoomDirectory> = rooms.clone();
            Ok((Driver::Rooms { rooms, reaper }, directory, recording))
        })
        .await
    }

    /// Starts a server that plays the recording `args.file` to every browser that connects.
    pub async fn start_replay_file(args: &ReplayArgs) -> Result<Server, StartError> {
        Self::start_replay(args, Recording::open(&args.file)?).await
    }

    /// Starts a server that plays `recording` to every browser that connects.
    pub async fn start_replay(args: &ReplayArgs, recording: Recording) -> Result<Server, StartError> {
        let catalog = crate::games::catalog();
        crate::record::replay::Replayer::check_replayable(&recording, &catalog)?;
        let front = FrontSettings {
            bind: args.bind,
            metrics: Metrics::new(),
            web: args.web_root(),
            max_connections: args.max_connections,
            limits: NetLimits::default(),
            replay: true,
            args: args.front.clone(),
        };
        let stats = Arc::new(TickStats::new(recording.header.tick_rate));
        let chat_lines_per_second = args.front.chat_lines_per_second;
        Self::launch(front, move |_drain, _seats| {
            let bridge = Bridge::new();
            // Every viewer of a replay is a spectator, and the recorded players' client ids
            // are not the viewers': everyone is sent everything.
            let registry = Arc::new(Registry::new(0.0, Arc::default()));
            let link = Arc::new(SimLink {
                room: String::new(),
                to_sim: bridge.to_sim,
                registry: registry.clone(),
                deltas: DeltaCache::default(),
                // A replay takes no input (spectators' are dropped), so any game part passes.
                check_input: |_| Ok(()),
                replay: true,
                stats,
                chat_budget: ChatBudget::new(chat_lines_per_second),
            });
            let replay = ReplayThread::spawn(recording, catalog, bridge.from_net, bridge.to_net)
                .map_err(io("cannot start the replay thread"))?;
            let router = router::spawn(bridge.from_sim, Route::new(registry.clone()))
                .map_err(io("cannot start the router thread"))?;
            let directory: Arc<dyn RoomDirectory> = Arc::new(ReplayRoom(link));
            Ok((Driver::Replay { replay, router, registry }, directory, None))
        })
        .await
    }

    async fn launch(
        settings: FrontSettings,
        driver: impl FnOnce(Arc<Drain>, Arc<Seats>) -> Result<(Driver, Arc<dyn RoomDirectory>, Option<PathBuf>), StartError>,
    ) -> Result<Server, StartError> {
        let mut limits = settings.limits;
        if settings.args.handshake_timeout != FrontArgs::default().handshake_timeout {
            limits.handshake_timeout = Duration::from_secs(settings.args.handshake_timeout);
        }
        if settings.args.link_conditioner().is_on() {
            limits.link = settings.args.link_conditioner();
        }
        if limits.link.is_on() {
            tracing::warn!("{}", limits.link.banner());
        }
        let origins = OriginPolicy::new(&settings.args.allowed_origin).map_err(StartError::Flag)?;
        let auth = settings.args.auth_secret_file.as_deref().map(Secret::from_file).transpose()?;
        let tls = settings.args.tls().map(|source| Tls::load(&source)).transpose()?;
        let listener =
            TcpListener::bind(settings.bind).await.map_err(io(format!("cannot listen on {}", settings.bind)))?;
        let addr = listener.local_addr().map_err(io("cannot read the bound address"))?;
        let drain = Arc::new(Drain::default());
        let seats = Arc::new(Seats::new(Duration::from_secs(settings.args.seat_ttl)));
        let (driver, rooms, recording) = driver(drain.clone(), seats.clone())?;
        let (stop, shutdown) = watch::channel(false);
        let proxies = TrustedProxies::new(&settings.args.trusted_proxy).map_err(StartError::Flag)?;
        let admission = Admission::with_rate(
            settings.max_connections,
            settings.args.max_connections_per_ip,
            settings.args.connect_rate(),
        );
        let shared = Arc::new(Shared {
            limits,
            shutdown,
            drain: drain.clone(),
            metrics: settings.metrics,
            clients: Default::default(),
            conn_log: Default::default(),
        });
        let front = Arc::new(Front {
            shared,
            rooms,
            replay: settings.replay,
            seats,
            matchmaking: Matchmaking::new(settings.args.matchmake_per_second),
            web: settings.web,
            origins,
            auth,
            proxies,
            admission: admission.clone(),
            name_slots: NameSlots::new(settings.args.max_sessions_per_name),
            liveness: Liveness::default(),
            drain_timeout: Duration::from_secs(settings.args.drain_timeout),
        });
        let scheme = match &tls {
            Some(tls) => {
                tracing::info!(sha256 = %tls.fingerprint, "TLS certificate");
                "https"
            }
            None => "http",
        };
        if front.auth.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "no --auth-secret-file: anyone who can reach this address can join, under any name");
        }
        if front.auth.is_none() {
            tracing::info!(
                "no --auth-secret-file: the admin API (/api/drain, /api/announce, /api/rooms, /api/admin/*) is \
                 open to requests from this machine addressed to localhost, 127.0.0.1 or [::1], and refused to \
                 all others"
            );
        }
        let acceptor = tls.map(|tls| tls.acceptor);
        let drain_timeout = front.drain_timeout;
        let accept = tokio::spawn(listener::accept_loop(listener, front, admission.clone(), acceptor));
        tracing::info!("listening on {scheme}://{addr}/");
        Ok(Server { addr, stop, accept, admission, driver, recording, drain, drain_timeout })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// WebSocket sessions currently registered, in every room.
    pub fn connected_clients(&self) -> usize {
        self.driver.clients()
    }

    /// The default room's recording file, if recording.
    pub fn recording_path(&self) -> Option<&std::path::Path> {
        self.recording.as_deref()
    }

    /// Resolves when a drain has been asked for over HTTP (`POST /api/drain`).
    pub async fn drain_requested(&self) {
        self.drain.started().await;
    }

    /// Drains: takes no new players, warns every client with `Draining`, and returns once the
    /// drain timeout is up, every client has left, or `cut_short` resolves (a second signal).
    /// Then [`Server::shutdown`] closes whoever is left with 1001.
    pub async fn drain(&self, cut_short: impl std::future::Future<Output = ()>) {
        if self.drain.start(self.drain_timeout) {
            tracing::info!(seconds = self.drain_timeout.as_secs(), clients = self.connected_clients(), "draining");
        }
        let deadline = self.drain.deadline().unwrap_or_else(std::time::Instant::now);
        let everyone_left = async {
            while self.connected_clients() > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => tracing::info!("drain time is up"),
            _ = everyone_left => tracing::info!("every client left"),
            _ = cut_short => tracing::info!("drain cut short"),
        }
    }

    /// Stops accepting, closes every client with 1001, waits briefly for them, then stops the
    /// simulation (finishing every recording) and router threads.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, self.admission.drained()).await;
        if drained.is_err() {
            tracing::warn!("some connections did not close in time");
        }
        let driver = self.driver;
        let joined = tokio::task::spawn_blocking(move || driver.stop()).await;
        if !matches!(joined, Ok(true)) {
            tracing::error!("a server thread failed");
        }
        tracing::info!("stopped");
    }
}

/// A room type of a game this server ships, with `config`'s settings.
fn built_in(name: String, config: Config, map: &shared::MapData) -> RoomType {
    let (view_radius, map) = (config.view_radius, map.clone());
    let make: MakeSim = Arc::new(move |seed| {
        let mut config = config.clone();
        config.seed = seed;
        config.simulation(map.clone())
    });
    RoomType { name, make, view_radius }
}

/// Disposes of idle rooms every second, for the server's life.
async fn reap(rooms: Arc<Rooms>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let rooms = rooms.clone();
        // Disposing joins a room's recording writer: not on the async threads.
        let _ = tokio::task::spawn_blocking(move || rooms.dispose_idle()).await;
    }
}
