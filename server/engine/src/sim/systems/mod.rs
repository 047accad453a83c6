//! The engine's systems of a tick: receive (the inbox, joins and leaves), inputs (each player's
//! input for the tick), chat, and the snapshot. A game's own systems run between them, in the
//! [`Stage`](super::game::Stage)s.

pub mod chat;
pub mod inputs;
pub mod receive;
pub mod snapshot;
