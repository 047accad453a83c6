//! Fan-out: what the simulation sends reaches each client's queue, and world states become
//! snapshot bytes once for everyone who needs the same ones.
//!
//! The [`router`] thread takes the simulation's [`crate::bridge::ToNet`] and puts each message
//! in the [`send_queue`] of every client it is for (by interest, for world states); the
//! [`delta_cache`] encodes each (baseline, target) snapshot body once, for every session that
//! writes it. This layer knows nothing of sockets, HTTP or sessions: a session only drains its
//! queue.

pub mod delta_cache;
pub mod router;
pub mod send_queue;
