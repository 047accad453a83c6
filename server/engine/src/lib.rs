//! The engine: a fixed-tick bevy_ecs simulation, replication, recording and the WebSocket
//! front end, in one library that the `server` binary (`server/src/main.rs`) runs.
//!
//! Module map, following one message from socket to ECS and back:
//! - [`net::front`], the HTTP front: [`net::front::listener`] accepts TCP (and TLS);
//!   [`net::front::connection`] runs hyper, whose routes ([`net::front::http`]) serve files or
//!   check and upgrade `/ws` ([`net::front::upgrade`]); the upgraded socket becomes a
//!   [`net::session`], whose reader decodes and verifies each client message (`shared::codec`,
//!   `ClientMessage::verify`) and sends it over the [`bridge`] through its simulation's
//!   [`net::session::SimLink`].
//! - [`rooms`] are the matches a process hosts, each a simulation with its own link; the
//!   front finds a room by id (`/ws?room=ID`, else the default room).
//! - [`runner`]'s pool of simulation threads steps every room: each tick it drains the room's
//!   bridge into the [`sim::Simulation`]'s inbox, paced by the room's [`clock`]; the engine's systems ([`sim::systems`]) and the game's run in the
//!   [`sim::game::Stage`]s of a tick, and the snapshot stage reports what changed in the
//!   replicated state at each snapshot tick.
//! - The runner sends those changes and messages to its lane of the router pool; replication's
//!   ([`net::replication`]) [`net::replication::router`] thread makes the changes one
//!   quantized frame (`shared::snapshot`, with the bridge's `Framer`), off the tick, and puts
//!   it in each client's [`net::replication::send_queue`]; the session's writer encodes the
//!   delta from what its socket last got (shared through [`net::replication::delta_cache`])
//!   and writes it out.
//! - [`sim::stats`] publishes tick timings, served at `GET /stats`; [`metrics`](mod@metrics) holds the
//!   Prometheus counters, gauges and histograms served at `GET /metrics`.
//!
//! Games: [`sim::game`] is the game API (the `Game` trait, the stages, `Setup`, the
//! `Catalog` of games by name); [`games`] holds the games this server ships (the arena,
//! blobs), each written only through it. [`app`] runs any game as a server process.
//!
//! Recording and replay: the simulation journals what it consumes ([`sim::journal`]) and
//! digests its state ([`sim::checksum`]); [`record`] writes that to files on its own thread,
//! reads them back, replays them with verification, and serves replays to browsers through
//! the same network layer.
//!
//! [`harness`] steps a simulation in memory, with no sockets and no clock, for tests, benches
//! and tools.
//!
//! Also: [`config`] (the CLI), [`limits`] (the ranges of the settings, which the CLI and the
//! recording reader both enforce), [`map`] (arena files), [`server`] (start and shutdown),
//! [`setup_cli`] (`server token`, `server cert`).
//! [`splitmix`] is the randomness outside the simulation (link conditioner, bots);
//! [`procstat`] reads a process's CPU time and memory (the bench, the admin page).
//!
//! The load tools (`server bots`, `server bench`) and the server-child harness live in the
//! `loadtools` crate, above this one: they use only its public API, and nothing here
//! imports them.
//!
//! Layers, top to bottom; a module imports only from the layers below its own:
//! [`app`] > [`server`], [`setup_cli`] > [`config`], [`rooms`] > [`runner`] > [`net`] >
//! [`harness`] >
//! [`metrics`](mod@metrics) > [`record`], [`games`] > [`sim`] > [`bridge`], [`map`] >
//! [`clock`], [`limits`], [`procstat`], [`splitmix`] (and the `shared` crate).
//! Within [`net`], the same: [`net::front`] > [`net::session`] > [`net::replication`] >
//! [`net::bucket`], [`net::conditioner`], [`net::drain`].

pub mod app;
pub mod bridge;
pub mod clock;
pub mod config;
pub mod games;
pub mod harness;
pub mod limits;
pub mod map;
pub mod metrics;
pub mod net;
pub mod procstat;
pub mod record;
pub mod rooms;
pub mod runner;
pub mod server;
pub mod setup_cli;
pub mod sim;
pub mod splitmix;

pub use config::Config;
pub use server::{Server, StartError};
