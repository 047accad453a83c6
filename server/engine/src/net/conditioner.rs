//! The link conditioner: a testing aid that delays every byte of a connection, in each
//! direction, by a latency plus or minus a uniformly random jitter, as a long network path
//! would (`--sim-latency MS --sim-jitter MS` on the server and on `server bots`).
//!
//! It owns three things:
//! - [`LinkConditioner`], the settings (off by default);
//! - [`Conditioner`], the pure rule that gives each chunk of bytes its release time: arrival
//!   plus a delay drawn from `[latency - jitter, latency + jitter]` (floored at 0), and never
//!   before the previous chunk's release, because TCP does not reorder;
//! - [`condition`], which puts a pump task between a real socket and an in-process pipe and
//!   hands back the pipe's other end, [`Conditioned`], so that the WebSocket is built over it
//!   unchanged. When the conditioner is off, [`condition`] returns the socket itself: no task,
//!   no pipe, no copy.
//!
//! The randomness here shapes network timing only, never the simulation, so it is a small
//! local generator (SplitMix64), not the simulation's seeded one.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::splitmix::SplitMix;

/// Bytes one direction may hold back. Past it the pump stops reading that direction, which
/// leaves the rest in the kernel's buffers and pushes back on the sender as TCP does.
pub const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes read from one side at once: one chunk, with one release time.
const CHUNK_BYTES: usize = 16 * 1024;
/// Capacity of the in-process pipe between the WebSocket and the pump, each way.
const PIPE_BYTES: usize = 64 * 1024;
/// Once one side has closed, how long past the longest delay the pump keeps trying to deliver
/// what it still holds to the other: a peer that never reads must not keep the task alive.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// How a link is impaired: a one-way delay and its jitter, in milliseconds. Zero and zero
/// (the default) is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkConditioner {
    /// Mean delay added to every chunk of bytes, in each direction.
    pub latency_ms: u32,
    /// Each delay is drawn uniformly from `latency_ms ± jitter_ms` (floored at 0).
    pub jitter_ms: u32,
}

impl LinkConditioner {
    /// Whether any delay is added.
    pub fn is_on(&self) -> bool {
        self.latency_ms > 0 || self.jitter_ms > 0
    }

    /// The longest delay one chunk can get.
    pub fn longest(&self) -> Duration {
        Duration::from_millis(u64::from(self.latency_ms) + u64::from(self.jitter_ms))
    }

    /// The line logged once at start when the conditioner is on.
    pub fn banner(&self) -> String {
        format!(
            "link conditioner ON: every frame delayed {} ± {} ms each way (round trip about {} ± {} ms); for testing only",
            self.latency_ms,
            self.jitter_ms,
            2 * u64::from(self.latency_ms),
            2 * u64::from(self.jitter_ms)
        )
    }
}

/// A seed for one connection's delays, from its peer's address (unique among live
/// connections; the delays need variety, not secrecy).
pub fn seed_for(addr: SocketAddr) -> u64 {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (bits >> 64) as u64 ^ bits as u64
        }
    };
    ip.rotate_left(16) ^ u64::from(addr.port())
}

/// Gives each chunk of one direction its release time. Pure apart from its generator: no
/// clock, no I/O, so the rules are unit-tested directly.
#[derive(Debug, Clone)]
pub struct Conditioner {
    latency_us: u64,
    jitter_us: u64,
    rng: SplitMix,
    /// The previous chunk's release time: no chunk may overtake it.
    last_release: Option<Instant>,
}

impl Conditioner {
    /// A conditioner for one direction of one connection.
    pub fn new(link: LinkConditioner, seed: u64) -> Self {
        Conditioner {
            latency_us: u64::from(link.latency_ms) * 1000,
            jitter_us: u64::from(link.jitter_ms) * 1000,
            rng: SplitMix(seed),
            last_release: None,
        }
    }

    /// Draws one delay: uniform in `[latency - jitter, latency + jitter]` at microsecond
    /// resolution, floored at 0.
    pub fn delay(&mut self) -> Duration {
        if self.jitter_us == 0 {
            return Duration::from_micros(self.latency_us);
        }
        // The modulo's bias is below 2^-40 for any jitter the flags allow.
        let offset = self.rng.next_u64() % (2 * self.jitter_us + 1);
        Duration::from_micros((self.latency_us + offset).saturating_sub(self.jitter_us))
    }

    /// When a chunk that arrived at `arrival` may go on: `arrival` plus a fresh delay, but not
    /// before the previous chunk's release, so that jitter never reorders bytes.
    pub fn release(&mut self, arrival: Instant) -> Instant {
        let wanted = arrival + self.delay();
        let at = self.last_release.map_or(wanted, |last| wanted.max(last));
        self.last_release = Some(at);
        at
    }
}

/// A connection's byte stream: the socket itself, or the pipe to a conditioner's pump.
#[derive(Debug)]
pub enum Conditioned<S> {
    /// No conditioner: the socket, untouched.
    Direct(S),
    /// Through a pump task that delays each direction (see [`condition`]).
    Delayed(Pipe),
}

/// The WebSocket's end of a conditioned connection.
#[derive(Debug)]
pub struct Pipe {
    /// The in-process pipe to the pump.
    stream: DuplexStream,
    /// Dropped with this end, which tells the pump at once that this side is gone, even while
    /// it has stopped reading the pipe at its cap.
    _alive: oneshot::Sender<()>,
}

/// Wraps `io` in the conditioner `link` describes, seeded by `seed`. Off: `io` itself. On: a
/// pump task carries bytes both ways between `io` and a pipe, holding each chunk until its
/// release time, and the pipe's other end is returned. The task ends when either side closes
/// or fails (it then closes the other); it must be called within a tokio runtime.
pub fn condition<S>(io: S, link: LinkConditioner, seed: u64) -> Conditioned<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !link.is_on() {
        return Conditioned::Direct(io);
    }
    let (stream, _pump) = spawn_pump(io, link, seed);
    stream
}

/// Starts the pump; the handle lets tests see it end.
fn spawn_pump<S>(io: S, link: LinkConditioner, seed: u64) -> (Conditioned<S>, JoinHandle<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (app, ours) = tokio::io::duplex(PIPE_BYTES);
    let (alive, gone) = oneshot::channel();
    let pump = tokio::spawn(pump(io, ours, gone, link, seed));
    (Conditioned::Delayed(Pipe { stream: app, _alive: alive }), pump)
}

/// Carries both directions in one task until either ends; dropping the rest closes both
/// sides. The two directions draw from differently seeded generators.
async fn pump<S>(io: S, pipe: DuplexStream, app_gone: oneshot::Receiver<()>, link: LinkConditioner, seed: u64)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (net_read, net_write) = tokio::io::split(io);
    let (pipe_read, pipe_write) = tokio::io::split(pipe);
    let outgoing = carry(pipe_read, net_write, Conditioner::new(link, seed), link.longest());
    let incoming = carry(net_read, pipe_write, Conditioner::new(link, !seed), link.longest());
    tokio::pin!(outgoing, incoming);
    let (direction, ended) = tokio::select! {
        ended = &mut outgoing => ("outgoing", ended),
        ended = &mut incoming => ("incoming", ended),
        _ = app_gone => {
            // Nothing more can go in, but what the WebSocket wrote last (its close frame,
            // say) is still owed to the peer: deliver it, within bounds.
            let flushed = tokio::time::timeout(link.longest() + FLUSH_GRACE, outgoing).await;
            ("outgoing", flushed.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())))
        }
    };
    if let Err(e) = ended {
        tracing::debug!(direction, "link conditioner: {e}");
    }
}

/// One direction: reads chunks from `from`, stamps each with its release time, and writes
/// them to `to` in order once due. Reading goes on while writes wait (so arrival times stay
/// true), up to [`MAX_HELD_BYTES`]. At the end of `from` it delivers what it holds, within
/// the longest delay plus [`FLUSH_GRACE`], then shuts `to` down.
async fn carry<R, W>(mut from: R, mut to: W, mut conditioner: Conditioner, longest: Duration) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut held: VecDeque<(Instant, Bytes)> = VecDeque::new();
    let mut held_bytes = 0usize;
    let mut buf = BytesMut::new();
    // Set when `from` ends: the time by which the rest must be out.
    let mut give_up: Option<Instant> = None;
    loop {
        if give_up.is_some() && held.is_empty() {
            return match tokio::time::timeout(FLUSH_GRACE, to.shutdown()).await {
                Ok(shut) => shut,
                Err(_) => Err(io::ErrorKind::TimedOut.into()),
            };
        }
        let reading = give_up.is_none() && held_bytes < MAX_HELD_BYTES;
        if reading {
            buf.reserve(CHUNK_BYTES);
        }
        // Each branch is cancel-safe: a sleep, a `write` that wrote nothing unless it
        // completed, and `read_buf`, which keeps nothing unless it completed.
        tokio::select! {
            biased;
            written = write_when_due(&mut to, held.front()), if !held.is_empty() => {
                let n = written?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                held_bytes = held_bytes.saturating_sub(n);
                if let Some((_, chunk)) = held.front_mut() {
                    chunk.advance(n.min(chunk.len()));
                    if chunk.is_empty() {
                        held.pop_front();
                    }
                }
            }
            read = from.read_buf(&mut buf), if reading => {
                if read? == 0 {
                    give_up = Some(Instant::now() + longest + FLUSH_GRACE);
                } else {
                    let chunk = buf.split().freeze();
                    held_bytes += chunk.len();
                    held.push_back((conditioner.release(Instant::now()), chunk));
                }
            }
            () = sleep_until(give_up.unwrap_or_else(Instant::now)), if give_up.is_some() => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the peer did not take the last bytes in time"));
            }
            // Not reached (with nothing held and nothing to read, `give_up` is set), but a
            // select with every branch off would panic.
            else => return Ok(()),
        }
    }
}

/// Writes the front chunk's bytes once its release time has come; pending forever if none.
async fn write_when_due<W: AsyncWrite + Unpin>(to: &mut W, front: Option<&(Instant, Bytes)>) -> io::Result<usize> {
    let Some((release, chunk)) = front else { return std::future::pending().await };
    sleep_until(*release).await;
    to.write(chunk).await
}

impl<S: AsyncRead + Unpin> AsyncRead for Conditioned<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conditioned::Direct(io) => Pin::new(io).poll_read(cx, buf),
            Conditioned::Delayed(pipe) => Pin::new(&mut pipe.stream).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conditioned<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conditioned::Direct(io) => Pin::new(io).poll_write(cx, buf),
            Conditioned::Delayed(pipe) => Pin::new(&mut pipe.stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conditioned::Direct(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Conditioned::Delayed(pipe) => Pin::new(&mut pipe.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conditioned::Direct(io) => io.is_write_vectored(),
            Conditioned::Delayed(pipe) => pipe.stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conditioned::Direct(io) => Pin::new(io).poll_flush(cx),
            Conditioned::Delayed(pipe) => Pin::new(&mut pipe.stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conditioned::Direct(io) => Pin::new(io).poll_shutdown(cx),
            Conditioned::Delayed(pipe) => Pin::new(&mut pipe.stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests: a panic is the failure report")]

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn link(latency_ms: u32, jitter_ms: u32) -> LinkConditioner {
        LinkConditioner { latency_ms, jitter_ms }
    }

    #[test]
    fn off_by_default_and_adds_nothing_when_off() {
        assert!(!LinkConditioner::default().is_on());
        assert!(link(0, 1).is_on() && link(1, 0).is_on());
        let mut off = Conditioner::new(LinkConditioner::default(), 7);
        let t0 = Instant::now();
        for i in 0..100 {
            let arrival = t0 + i * MS;
            assert_eq!(off.release(arrival), arrival);
        }
    }

    #[test]
    fn delays_stay_within_latency_plus_or_minus_jitter_and_cover_the_range() {
        let mut c = Conditioner::new(link(75, 10), 42);
        let t0 = Instant::now();
        let (mut low, mut high) = (Duration::MAX, Duration::ZERO);
        // Arrivals 100 ms apart: further than any two delays differ, so ordering never bites.
        for i in 0..2000 {
            let arrival = t0 + i * 100 * MS;
            let delay = c.release(arrival) - arrival;
            assert!((65 * MS..=85 * MS).contains(&delay), "delay {delay:?}");
            low = low.min(delay);
            high = high.max(delay);
        }
        assert!(low < 66 * MS && high > 84 * MS, "jitter spans the range: {low:?}..{high:?}");
        let mut steady = Conditioner::new(link(40, 0), 1);
        assert_eq!(steady.release(t0), t0 + 40 * MS, "no jitter: exactly the latency");
    }

    #[test]
    fn jitter_above_latency_floors_at_zero() {
        let mut c = Conditioner::new(link(5, 20), 3);
        let mut zeros = 0;
        for _ in 0..1000 {
            let delay = c.delay();
            assert!(delay <= 25 * MS);
            zeros += usize::from(delay.is_zero());
        }
        assert!(zeros > 300, "about 15/41 of the draws are below zero, floored: {zeros}");
    }

    #[test]
    fn release_times_keep_arrival_order() {
        let mut c = Conditioner::new(link(40, 30), 9);
        let t0 = Instant::now();
        let mut last = t0;
        let mut held_behind = 0;
        // Arrivals 1 ms apart with 60 ms of jitter spread: many would overtake without the rule.
        for i in 0..1000 {
            let arrival = t0 + i * MS;
            let release = c.release(arrival);
            assert!(release >= last, "chunk {i} released before its predecessor");
            // Held behind a slower predecessor never pushes a chunk past the longest delay:
            // that predecessor arrived earlier.
            assert!((arrival + 10 * MS..=arrival + 70 * MS).contains(&release), "chunk {i}");
            held_behind += usize::from(release == last);
            last = release;
        }
        assert!(held_behind > 100, "the rule was exercised: {held_behind} chunks waited for a predecessor");
    }

    #[test]
    fn seeds_differ_by_peer() {
        let a = seed_for("127.0.0.1:40000".parse().unwrap());
        let b = seed_for("127.0.0.1:40001".parse().unwrap());
        let c = seed_for("[::1]:40000".parse().unwrap());
        assert!(a != b && a != c && b != c);
    }

    #[tokio::test]
    async fn off_returns_the_socket_itself() {
        let (a, _b) = tokio::io::duplex(64);
        assert!(matches!(condition(a, LinkConditioner::default(), 1), Conditioned::Direct(_)));
    }

    /// A conditioned stream over one end of a pipe: both directions arrive late, complete and in
    /// order, and the pump ends when either side closes.
    #[tokio::test]
    async fn pump_delays_both_ways_in_order_and_ends_with_either_side() {
        let (socket, mut peer) = tokio::io::duplex(1024);
        let (mut conditioned, pump) = spawn_pump(socket, link(30, 10), 5);

        // Out: 50 small writes back to back arrive intact, in order, no sooner than 20 ms.
        let sent = Instant::now();
        let mut expected = Vec::new();
        for i in 0u8..50 {
            conditioned.write_all(&[i, i, i]).await.unwrap();
            expected.extend_from_slice(&[i, i, i]);
        }
        let mut got = vec![0; expected.len()];
        tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut got)).await.unwrap().unwrap();
        assert!(sent.elapsed() >= 20 * MS, "arrived after {:?}", sent.elapsed());
        assert_eq!(got, expected);

        // Back: the same the other way.
        let sent = Instant::now();
        peer.write_all(b"pong").await.unwrap();
        let mut back = [0; 4];
        tokio::time::timeout(Duration::from_secs(5), conditioned.read_exact(&mut back)).await.unwrap().unwrap();
        assert!(sent.elapsed() >= 20 * MS);
        assert_eq!(&back, b"pong");

        // Bytes written just before the close still arrive, then end of stream, and the pump
        // is gone.
        conditioned.write_all(b"bye").await.unwrap();
        drop(conditioned);
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), peer.read_to_end(&mut rest)).await.unwrap().unwrap();
        assert_eq!(rest, b"bye");
        tokio::time::timeout(Duration::from_secs(5), pump).await.expect("pump ends").unwrap();
    }

    #[tokio::test]
    async fn pump_ends_when_the_socket_side_closes() {
        let (socket, peer) = tokio::io::duplex(1024);
        let (mut conditioned, pump) = spawn_pump(socket, link(10, 0), 5);
        drop(peer);
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), conditioned.read_to_end(&mut rest)).await.unwrap().unwrap();
        assert!(rest.is_empty());
        tokio::time::timeout(Duration::from_secs(5), pump).await.expect("pump ends").unwrap();
    }

    /// A peer that never reads: the pump holds a bounded amount, then stops reading; once the
    /// app side closes, it gives up after the grace instead of living on.
    #[tokio::test]
    async fn a_peer_that_never_reads_is_bounded() {
        let (socket, _peer) = tokio::io::duplex(1024);
        let (mut conditioned, pump) = spawn_pump(socket, link(1, 0), 5);
        let block = vec![7u8; 64 * 1024];
        let mut written = 0usize;
        let filling = async {
            loop {
                conditioned.write_all(&block).await.unwrap();
                written += block.len();
            }
        };
        // The writes must block once the pump holds its cap plus the pipe.
        let blocked = tokio::time::timeout(Duration::from_secs(1), filling).await;
        assert!(blocked.is_err(), "writes never blocked");
        assert!(written <= MAX_HELD_BYTES + CHUNK_BYTES + 2 * PIPE_BYTES + block.len(), "wrote {written}");
        drop(conditioned);
        let ended = tokio::time::timeout(FLUSH_GRACE + Duration::from_secs(3), pump).await;
        assert!(ended.is_ok(), "pump outlived the grace");
    }
}
