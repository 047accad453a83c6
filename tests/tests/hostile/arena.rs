//! The server under attack in the four per-area tests: the binary with auth and the suite's
//! limits, three witnesses playing on it, and the checks every test ends with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration_tests::hostile::{Carrier, ServerChild, Witness, WitnessReport, mint, spawn_server};
use shared::DisconnectReason;

/// `--max-connections`.
pub(crate) const MAX_CONNECTIONS: usize = 200;
/// `--max-connections-per-ip`: the witnesses, 50 slowloris and 10 silent connections and a
/// fresh join fit under it with room to spare.
pub(crate) const PER_IP: usize = 70;
/// `--max-players`.
pub(crate) const MAX_PLAYERS: usize = 8;
/// `--handshake-timeout`, in seconds.
pub(crate) const HANDSHAKE_SECS: u64 = 2;
/// Witnesses per server; all are players.
pub(crate) const WITNESSES: usize = 3;
/// The longest any one test may run before it fails (the server child is killed then too).
const TEST_LIMIT: Duration = Duration::from_secs(80);
/// The least time witnesses count snapshots: 200 of them at 20/s.
const MIN_WITNESS_TIME: Duration = Duration::from_secs(10);
/// The binary's default: time from upgrade to `Hello` (not a flag).
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A server under attack, its secrets, and the witnesses playing on it.
pub(crate) struct Arena {
    server: ServerChild,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) secret: PathBuf,
    pub(crate) witnesses: Vec<Witness>,
    /// Every token handed out, to check that none reaches the log.
    pub(crate) tokens: Vec<String>,
}

impl Arena {
    /// Starts the binary with auth and the suite's limits, and joins the witnesses (one per
    /// token carrier).
    pub(crate) fn start() -> Arena {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"hostile-suite secret: 48 bytes, not for real use").expect("secret written");
        let (max_connections, per_ip, players, handshake) =
            (MAX_CONNECTIONS.to_string(), PER_IP.to_string(), MAX_PLAYERS.to_string(), HANDSHAKE_SECS.to_string());
        let secret_arg = secret.display().to_string();
        let server = spawn_server(&[
            // SIGTERM closes at once: the witnesses check the 1001 (drains: tests/drain.rs).
            "--drain-timeout",
            "0",
            "--auth-secret-file",
            &secret_arg,
            "--max-connections",
            &max_connections,
            "--max-connections-per-ip",
            &per_ip,
            "--max-players",
            &players,
            "--handshake-timeout",
            &handshake,
            // The suite holds hundreds of sockets from a few loopback addresses with a handful
            // of tokens: the connection rate and the sessions per name are tried in audit.rs.
            "--connect-rate-per-ip",
            "0",
            "--max-sessions-per-name",
            "0",
        ]);
        let addr = server.addr();
        let mut arena = Arena { server, addr, dir, secret, witnesses: Vec::new(), tokens: Vec::new() };
        for (i, carrier) in [Carrier::Query, Carrier::Header, Carrier::Subprotocol].into_iter().enumerate() {
            let name = format!("witness{}", i + 1);
            let token = arena.token(&name, "player");
            arena.witnesses.push(Witness::join(addr, &name, &token, carrier));
        }
        arena
    }

    /// A token for `name` in `role`, minted by the binary, valid for an hour.
    pub(crate) fn token(&mut self, name: &str, role: &str) -> String {
        let token = mint(&self.secret, name, role, "1h");
        self.tokens.push(token.clone());
        token
    }

    /// Runs the attacks, bounded by [`TEST_LIMIT`], on a runtime of the test's own (the
    /// witnesses have theirs).
    pub(crate) fn attack<T>(&self, attacks: impl Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        runtime.block_on(async {
            tokio::time::timeout(TEST_LIMIT, attacks).await.expect("the attacks finished within the test's limit")
        })
    }

    /// The end of every test: each witness got >= 99% of its snapshots and was never
    /// disconnected; SIGTERM closes them with 1001 and the server exits 0 within 2 s (plus
    /// the time to notice); nothing panicked and no token was logged.
    pub(crate) fn finish(mut self) {
        // 99% of fewer than 200 snapshots leaves no room for the one in flight at each end of
        // the count: the witnesses play on until they have been counting for that long.
        for witness in &self.witnesses {
            std::thread::sleep(MIN_WITNESS_TIME.saturating_sub(witness.playing_for()));
        }
        let reports: Vec<WitnessReport> = self.witnesses.iter().map(Witness::report).collect();
        for report in &reports {
            println!("{report}");
        }
        for report in &reports {
            assert!(report.ended_early.is_none(), "{} was disconnected: {:?}", report.name, report.ended_early);
            assert!(report.percent() >= 99.0, "a witness fell below 99%: {report}");
        }
        let signalled = Instant::now();
        let status = self.server.terminate(Duration::from_secs(4)).expect("the server exits after SIGTERM");
        println!("server exited {status} {} ms after SIGTERM", signalled.elapsed().as_millis());
        for witness in std::mem::take(&mut self.witnesses) {
            let closing = witness.closed(Duration::from_secs(3));
            assert_eq!(
                (closing.reason, closing.code),
                (Some(DisconnectReason::ServerShutdown), Some(1001)),
                "shutdown closes witnesses with 1001: {closing:?}"
            );
        }
        assert!(status.success(), "the server exits 0 on SIGTERM: {status}");
        assert!(signalled.elapsed() < Duration::from_secs(3), "exit took {:?}", signalled.elapsed());
        let log = self.server.log();
        let panics: Vec<&String> = log.iter().filter(|l| l.contains("panicked")).collect();
        assert!(panics.is_empty(), "the server panicked: {panics:?}");
        for token in &self.tokens {
            assert!(!log.iter().any(|l| l.contains(token.as_str())), "a token was logged");
        }
        drop(self.dir);
    }
}
