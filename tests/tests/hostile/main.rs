//! The hostile suite: the real `server` binary, as a child process with auth and small limits,
//! is attacked over real sockets on 127.0.0.1 while witness clients keep playing (Hello, then
//! an Input at 60 Hz, reading every snapshot). Each attack must get exactly the answer
//! `shared/WIRE.md` documents (an HTTP status before the upgrade, a close code after it), the
//! server must keep serving, and at the end every witness must have received at least 99% of
//! the snapshots due to it and still be connected, until SIGTERM closes it with 1001.
//!
//! Five tests, each with its own server and witnesses:
//! - [`before_upgrade`]: refusals before the upgrade (with the connection caps, slowloris and
//!   the admin API);
//! - [`after_upgrade`]: close codes after it;
//! - [`bursts`]: bursts within the documented allowance, which must be answered, not closed;
//! - [`fuzz`]: fuzzed messages, a ping-frame flood and clients that never read;
//! - [`wire_tables`]: every case of WIRE.md's tables in one run against one server (about
//!   20 s), with witnesses and raw clients of its own ([`wire_tables::clients`]).
//!
//! The first four share [`arena`]: the server, its witnesses and the checks they end with.
//! Every client connects from loopback, mostly 127.0.0.1, so the per-address limit
//! (`PER_IP`) is sized for the witnesses plus the largest group an attack holds open at once;
//! the caps are reached on purpose only, from several 127.x addresses where needed. The
//! server child is killed if a test fails.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod after_upgrade;
mod arena;
mod before_upgrade;
mod bursts;
mod fuzz;
mod wire_tables;

/// A WebSocket key as RFC 6455's example has it.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
