//! Puts the pieces together: the network layer in front of a driver thread (the live
//! simulation, or a replay), the router between them; and takes them apart on shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

use crate::bridge::{Bridge, ToNet, ToSim};
use crate::clock::unix_now;
use crate::config::{Config, FrontArgs, ReplayArgs};
use crate::map::{self, MapError};
use crate::metrics::Metrics;
use crate::net::NetLimits;
use crate::net::drain::Drain;
use crate::net::front::admission::Admission;
use crate::net::front::auth::{Secret, SecretError};
use crate::net::front::health::Liveness;
use crate::net::front::origin::OriginPolicy;
use crate::net::front::proxy::TrustedProxies;
use crate::net::front::tls::{Tls, TlsError};
use crate::net::front::web_files::WebRoot;
use crate::net::front::{Front, listener};
use crate::net::replication::delta_cache::DeltaCache;
use crate::net::replication::router::{self, Registry};
use crate::net::session::chat_limit::ChatBudget;
use crate::net::session::name_slots::NameSlots;
use crate::net::session::{Shared, SimLink};
use crate::record::reader::Recording;
use crate::record::spectate::ReplayThread;
use crate::record::writer::{Recorder, Writer, WriterOptions, header_for};
use crate::runner::SimThread;
use crate::sim::Simulation;
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
    Live { sim: SimThread, writer: Option<Writer> },
    Replay(ReplayThread),
}

impl Driver {
    /// Stops the driver thread (and finishes the recording); false if a thread panicked.
    fn stop(self) -> bool {
        match self {
            Driver::Live { sim, writer } => {
                let sim_ok = sim.stop().is_ok();
                let writer_ok = writer.is_none_or(|w| match w.join() {
                    Ok(path) => {
                        tracing::info!(path = %path.display(), "recording saved");
                        true
                    }
                    Err(e) => {
                        tracing::error!("recording failed: {e}");
                        false
                    }
                });
                sim_ok && writer_ok
            }
            Driver::Replay(replay) => replay.stop().is_ok(),
        }
    }
}

/// The network-facing settings shared by live and replay servers, from which `launch` builds
/// the [`Front`].
struct FrontSettings {
    bind: SocketAddr,
    stats: Arc<TickStats>,
    metrics: Arc<Metrics>,
    web: WebRoot,
    max_connections: u32,
    limits: NetLimits,
    replay: bool,
    /// The running game's input check.
    check_input: crate::sim::game::InputCheck,
    args: FrontArgs,
    /// `--view-radius` (0: every client is sent everything; always 0 for replays).
    view_radius: f32,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: TaskHandle<()>,
    admission: Arc<Admission>,
    driver: Driver,
    router: JoinHandle<()>,
    registry: Arc<Registry>,
    recording: Option<PathBuf>,
    drain: Arc<Drain>,
    drain_timeout: Duration,
}

impl Server {
    /// Starts a live server with default network limits. Must be called within a tokio runtime.
    pub async fn start(config: &Config) -> Result<Server, StartError> {
        Self::start_with_limits(config, NetLimits::default()).await
    }

    /// Starts a live server with the given network limits.
    pub async fn start_with_limits(config: &Config, limits: NetLimits) -> Result<Server, StartError> {
        let map = map::load(config.map.as_deref())?;
        let sim = config.simulation(map)?;
        Self::start_simulation(config, sim, limits).await
    }

    /// Starts a live server running `sim` (any game: see `crate::app::run`), with the
    /// network, recording and view settings of `config` and the given network limits.
    pub async fn start_simulation(
        config: &Config,
        mut sim: Simulation,
        limits: NetLimits,
    ) -> Result<Server, StartError> {
        let settings = sim.settings().clone();
        tracing::info!(game = sim.game().name, map = %sim.map().id, seed = settings.seed,
            tick_rate = settings.tick_rate, snapshot_rate = settings.snapshot_rate, "starting");
        let stats = Arc::new(TickStats::new(settings.tick_rate));
        let metrics = Metrics::new();
        let front = FrontSettings {
            bind: config.bind,
            stats: stats.clone(),
            metrics: metrics.clone(),
            web: config.web_root(),
            max_connections: config.max_connections,
            limits,
            replay: false,
            check_input: sim.input_check(),
            args: config.front.clone(),
            view_radius: config.view_radius.unwrap_or(sim.default_view_radius()),
        };
        let record_dir = config.record.clone();
        let checksum_interval = config.checksum_interval;
        let sync_every = Duration::from_secs_f64(config.record_sync_interval);
        let max_bytes = config.record_max_bytes;
        Self::launch(front, move |from_net, to_net| {
            let tick_rate = settings.tick_rate;
            let (writer, recorder) = match &record_dir {
                None => (None, None),
                Some(dir) => {
                    let header = header_for(&sim, checksum_interval, unix_now());
                    let options = WriterOptions { sync_every, max_bytes, ..WriterOptions::for_tick_rate(tick_rate) };
                    let (writer, tx) = Writer::create_in(dir, &header, options)
                        .map_err(io(format!("cannot create a recording in {}", dir.display())))?;
                    tracing::info!(path = %writer.path().display(), "recording");
                    metrics.set_recording(writer.bytes());
                    let recorder = Recorder::attach(&mut sim, tx, checksum_interval);
                    (Some(writer), Some(recorder))
                }
            };
            let path = writer.as_ref().map(|w| w.path().to_path_buf());
            let sim = SimThread::spawn(sim, tick_rate, from_net, to_net, recorder, stats, metrics)
                .map_err(io("cannot start the simulation thread"))?;
            Ok((Driver::Live { sim, writer }, path))
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
            stats: Arc::new(TickStats::new(recording.header.tick_rate)),
            metrics: Metrics::new(),
            web: args.web_root(),
            max_connections: args.max_connections,
            limits: NetLimits::default(),
            replay: true,
            // A replay takes no input (spectators' are dropped), so any game part passes.
            check_input: |_| Ok(()),
            args: args.front.clone(),
            // Every viewer of a replay is a spectator, and the recorded players' client ids
            // are not the viewers'.
            view_radius: 0.0,
        };
        Self::launch(front, move |from_net, to_net| {
            let replay = ReplayThread::spawn(recording, catalog, from_net, to_net)
                .map_err(io("cannot start the replay thread"))?;
            Ok((Driver::Replay(replay), None))
        })
        .await
    }

    async fn launch(
        settings: FrontSettings,
        driver: impl FnOnce(Receiver<ToSim>, Sender<ToNet>) -> Result<(Driver, Option<PathBuf>), StartError>,
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
        let bridge = Bridge::new();
        let (driver, recording) = driver(bridge.from_net, bridge.to_net)?;
        let registry = Arc::new(Registry::with_view_radius(settings.view_radius));
        let router = router::spawn(bridge.from_sim, registry.clone()).map_err(io("cannot start the router thread"))?;
        let (stop, shutdown) = watch::channel(false);
        let proxies = TrustedProxies::new(&settings.args.trusted_proxy).map_err(StartError::Flag)?;
        let admission = Admission::with_rate(
            settings.max_connections,
            settings.args.max_connections_per_ip,
            settings.args.connect_rate(),
        );
        let drain = Arc::new(Drain::default());
        let link = Arc::new(SimLink {
            to_sim: bridge.to_sim,
            registry: registry.clone(),
            deltas: DeltaCache::default(),
            check_input: settings.check_input,
            replay: settings.replay,
            stats: settings.stats,
            chat_budget: ChatBudget::new(settings.args.chat_lines_per_second),
        });
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
            link,
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
                "no --auth-secret-file: the admin API (/api/drain, /api/announce, /api/admin/*) is open to \
                 requests from this machine addressed to localhost, 127.0.0.1 or [::1], and refused to all others"
            );
        }
        let acceptor = tls.map(|tls| tls.acceptor);
        let drain_timeout = front.drain_timeout;
        let accept = tokio::spawn(listener::accept_loop(listener, front, admission.clone(), acceptor));
        tracing::info!("listening on {scheme}://{addr}/");
        Ok(Server { addr, stop, accept, admission, driver, router, registry, recording, drain, drain_timeout })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// WebSocket sessions currently registered.
    pub fn connected_clients(&self) -> usize {
        self.registry.len()
    }

    /// The recording file being written, if recording.
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
            tracing::info!(seconds = self.drain_timeout.as_secs(), clients = self.registry.len(), "draining");
        }
        let deadline = self.drain.deadline().unwrap_or_else(std::time::Instant::now);
        let everyone_left = async {
            while !self.registry.is_empty() {
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
    /// driver (finishing any recording) and router threads.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, self.admission.drained()).await;
        if drained.is_err() {
            tracing::warn!("some connections did not close in time");
        }
        let (driver, router) = (self.driver, self.router);
        let joined = tokio::task::spawn_blocking(move || {
            let driver_ok = driver.stop();
            // The router ends once the driver thread has dropped its sender.
            let router_ok = router.join().is_ok();
            driver_ok && router_ok
        })
        .await;
        if !matches!(joined, Ok(true)) {
            tracing::error!("a server thread failed");
        }
        tracing::info!("stopped");
    }
}
