//! A game session on an upgraded connection: the connection-state machine, the checks on every
//! client message, and the one place connections are closed.
//!
//! Each binary message is decoded by `shared::codec`, checked by `ClientMessage::verify` for
//! the connection's state, and only then sent to the simulation. Anything else ends this
//! connection alone, with `Disconnect` and a close code (see `shared/WIRE.md`).
//!
//! A session runs on what it is handed ([`context`]: the process's [`Shared`] parts and what
//! the upgrade vouched for, its [`Pass`]) and the [`SimLink`] of its simulation, as two tasks:
//! the reader (`reader.rs`) and the writer (`writer.rs`). Beside it: the limits on chat ([`chat_limit`]) and on
//! sessions per token name ([`name_slots`]), the admin page's board of sessions ([`clients`])
//! and the connection log ([`conn_log`]). The session fills and drains queues of the
//! replication layer ([`crate::net::replication`]) and knows nothing of HTTP.

pub mod chat_limit;
pub mod clients;
pub mod conn_log;
pub mod context;
pub mod link;
pub mod name_slots;
mod reader;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::StreamExt;

pub use context::{Pass, Shared, Ws};
pub use link::SimLink;
use reader::Reader;
use writer::{CLOSE_GRACE, End, ReaderState, Writer};

use crate::bridge::ToSim;
use crate::net::replication::send_queue::{MAX_RELIABLE_FRAMES, SendQueue};

/// Runs the session until the connection ends; the simulation hears of its start and end.
///
/// Reading and writing are two loops on the two halves of the socket, each in its own task
/// (so each is woken by its own events only): a write blocked on a client that does not read
/// never stops us reading from it (its inputs, its pings, its close), and a flood of reads
/// never starves the writes. The writer owns the session's end.
///
/// `pass` is what the upgrade's token said: its name replaces the `Hello` name, and a
/// spectator token joins as a spectator whatever the `Hello` asks. `shared` is the process's,
/// `link` the simulation's this session plays in.
pub async fn run(ws: Ws, addr: SocketAddr, pass: Pass, shared: Arc<Shared>, link: Arc<SimLink>) {
    let capacity = MAX_RELIABLE_FRAMES + shared.limits.message_burst as usize;
    let queue = SendQueue::with_capacity(capacity)
        .with_chat_capacity(link.chat_budget.per_second() as usize)
        .counting_superseded(shared.metrics.superseded())
        .counting_chat_dropped(shared.metrics.chat_dropped_slow_reader());
    let queue = Arc::new(queue);
    let client = link.registry.register(queue.clone());
    let _ = link.to_sim.send(ToSim::Connected { client, addr });
    shared.conn_log.started(client, addr);
    // What the admin page shows of it; its name also goes in the connection's last log line.
    let info = shared.clients.insert(client, addr, &link.room, queue.clone());
    let (sink, stream) = ws.split();
    let mut reader = Reader::new(stream, client, queue.clone(), pass, info.clone(), shared.clone(), link.clone());
    let mut reading = tokio::spawn(async move {
        let end = reader.run().await;
        (end, reader)
    });
    let mut writer = Writer::new(sink, client, queue.clone(), info.clone(), shared.clone(), link.clone());
    let (end, reader) = writer.run(&mut reading).await;
    let closed = matches!(end, End::Closed(_));
    // After our close, wait briefly for the peer's (RFC 6455, section 7.1.1).
    let still_reading = match reader {
        ReaderState::Violated(mut reader) => {
            if closed {
                let _ = tokio::time::timeout(CLOSE_GRACE, reader.read_to_close()).await;
            }
            false
        }
        ReaderState::Gone => false,
        ReaderState::Running => !closed || tokio::time::timeout(CLOSE_GRACE, &mut reading).await.is_err(),
    };
    // The reader must be gone before the simulation hears that the client is.
    if still_reading {
        reading.abort();
        let _ = reading.await;
    }
    // The simulation hears first; only then may the id be handed out again.
    let _ = link.to_sim.send(ToSim::Disconnected { client });
    link.registry.remove(client);
    let close_code = match end {
        End::Closed(reason) => reason.close_code(),
        End::PeerGone => 0,
    };
    shared.metrics.closed((close_code != 0).then_some(close_code));
    let reason = match end {
        End::Closed(reason) => format!("{reason:?}"),
        End::PeerGone => "the client left".to_owned(),
    };
    shared.clients.remove(client);
    shared.conn_log.ended(client, addr, info.name.get().map(String::as_str), close_code, &reason);
    tracing::debug!(%client, superseded = queue.superseded(), "disconnected");
}
