//! The load tools: programs that load and measure a server from the outside, over its real
//! sockets, using only the engine's public API and the `shared` protocol.
//!
//! Module map:
//! - [`bots`]: `server bots`, many WebSocket clients against one server, and what they
//!   received as JSON; [`bots::feel`] is its `--mode feel`, bots that predict, interpolate and
//!   shoot as a browser does and report how play feels.
//! - [`bench`](mod@bench): `server bench w1` and `server bench soak`, workloads run against a
//!   server child this process starts, with the figures as JSON.
//! - [`child`]: the real `server` binary as a child process (start it, find its address in
//!   its log, keep its log, sample its CPU and memory, stop it, kill it when dropped): the one
//!   harness the bench, the integration tests (`tests/`) and the server's own tests use.
//!
//! Layers, top to bottom; a module imports only from the layers below its own:
//! [`bench`](mod@bench) > [`bots`], [`child`] > the `engine` and `shared` crates. Nothing in
//! the engine imports from here.

pub mod bench;
pub mod bots;
pub mod child;
