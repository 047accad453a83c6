//! Puts the pieces together: map, simulation thread, router thread, listener task; and takes
//! them apart again on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle as TaskHandle;

use crate::bridge::Bridge;
use crate::config::Config;
use crate::map::{self, MapError};
use crate::net::router::{self, Registry};
use crate::net::{NetContext, NetLimits, listener};
use crate::sim::Simulation;
use crate::sim::runner::SimThread;

/// How long shutdown waits for clients to acknowledge their close before it stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1200);

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The map could not be loaded.
    #[error(transparent)]
    Map(#[from] MapError),
    /// Binding the address or starting a thread failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: TaskHandle<()>,
    permits: Arc<Semaphore>,
    max_connections: u32,
    sim: SimThread,
    router: JoinHandle<()>,
    registry: Arc<Registry>,
}

impl Server {
    /// Starts a server with default network limits. Must be called within a tokio runtime.
    pub async fn start(config: &Config) -> Result<Server, StartError> {
        Self::start_with_limits(config, NetLimits::default()).await
    }

    /// Starts a server with the given network limits.
    pub async fn start_with_limits(config: &Config, limits: NetLimits) -> Result<Server, StartError> {
        let map = map::load(config.map.as_deref())?;
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| StartError::Io { what, source }
        };
        let listener =
            TcpListener::bind(config.bind).await.map_err(io(&format!("cannot listen on {}", config.bind)))?;
        let addr = listener.local_addr().map_err(io("cannot read the bound address"))?;

        let settings = config.sim_settings();
        let tick_rate = settings.tick_rate;
        tracing::info!(map = %map.id, npcs = settings.npcs, seed = settings.seed, tick_rate, snapshot_rate = settings.snapshot_rate, "starting");
        let bridge = Bridge::new();
        let sim = SimThread::spawn(Simulation::new(settings, map), tick_rate, bridge.from_net, bridge.to_net)
            .map_err(io("cannot start the simulation thread"))?;
        let registry = Arc::new(Registry::default());
        let router = router::spawn(bridge.from_sim, registry.clone()).map_err(io("cannot start the router thread"))?;

        let (stop, shutdown) = watch::channel(false);
        let ctx = Arc::new(NetContext {
            to_sim: bridge.to_sim,
            registry: registry.clone(),
            web: config.web_root(),
            next_client: AtomicU32::new(0),
            shutdown,
            limits,
        });
        let permits = Arc::new(Semaphore::new(config.max_connections as usize));
        let accept = tokio::spawn(listener::accept_loop(listener, ctx, permits.clone()));
        tracing::info!("listening on http://{addr}/");
        Ok(Server { addr, stop, accept, permits, max_connections: config.max_connections, sim, router, registry })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// WebSocket sessions currently registered.
    pub fn connected_clients(&self) -> usize {
        self.registry.len()
    }

    /// Stops accepting, closes every client with 1001, waits briefly for them, then stops the
    /// simulation and router threads.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        let all = self.max_connections;
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, self.permits.acquire_many(all)).await;
        if drained.is_err() {
            tracing::warn!("some connections did not close in time");
        }
        let (sim, router) = (self.sim, self.router);
        let joined = tokio::task::spawn_blocking(move || {
            let sim = sim.stop();
            // The router ends once the simulation thread has dropped its sender.
            let router = router.join();
            (sim.is_ok(), router.is_ok())
        })
        .await;
        if !matches!(joined, Ok((true, true))) {
            tracing::error!("a server thread panicked");
        }
        tracing::info!("stopped");
    }
}
