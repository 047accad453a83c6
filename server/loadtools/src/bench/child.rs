//! The server under test, as a child process of the bench: started from this same binary,
//! found through its "listening on" log line, observed through `/proc` ([`engine::procstat`])
//! and `GET /stats`, and always stopped: [`ServerChild`] kills the child it started when
//! dropped, whatever happened.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use engine::sim::stats::TickStatsSnapshot;

/// Lines of the child's stderr kept for error messages.
const TAIL_LINES: usize = 30;
/// How long the child may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the child may take to exit after SIGTERM (it promises 2 s).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the bench could not start or observe its server.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// Spawning failed.
    #[error("cannot start the server: {0}")]
    Spawn(std::io::Error),
    /// It exited or went quiet before saying where it listens.
    #[error("the server did not report its address: {why}\n{tail}")]
    NoAddress {
        /// What happened.
        why: String,
        /// Its last stderr lines.
        tail: String,
    },
    /// `GET /stats` failed.
    #[error("GET /stats: {0}")]
    Stats(String),
}

/// A running server child. Dropping it kills the child (by its own handle: only the process
/// we started) and reaps it.
pub struct ServerChild {
    child: Child,
    addr: SocketAddr,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl ServerChild {
    /// Starts `exe` with `args` (which must include `--bind 127.0.0.1:0` or another address),
    /// and waits until it logs its address. With `echo`, its stderr is copied to ours with a
    /// `[server]` prefix.
    pub async fn start(exe: &std::path::Path, args: &[String], echo: bool) -> Result<ServerChild, ChildError> {
        // The address line is logged at info level by `server::server`: keep it visible
        // whatever RUST_LOG the user set.
        let filter = match std::env::var("RUST_LOG") {
            Ok(filter) if !filter.trim().is_empty() => format!("{filter},server::server=info"),
            _ => "info".to_owned(),
        };
        let mut child = Command::new(exe)
            .args(args)
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(ChildError::Spawn)?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            // Drains the pipe for the child's whole life, so the child never blocks on a full
            // pipe; the thread ends at EOF, when the child exits.
            std::thread::spawn(move || {
                let mut addr_tx = Some(addr_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        eprintln!("[server] {line}");
                    }
                    if let Some(rest) = line.split("listening on http://").nth(1)
                        && let Ok(addr) = rest.trim().trim_end_matches('/').parse::<SocketAddr>()
                        && let Some(tx) = addr_tx.take()
                    {
                        let _ = tx.send(addr);
                    }
                    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            });
        }
        // From here on the guard owns the child: any early return kills it.
        let mut running = ServerChild { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), tail };
        match tokio::time::timeout(START_TIMEOUT, addr_rx).await {
            Ok(Ok(addr)) => {
                running.addr = addr;
                Ok(running)
            }
            Ok(Err(_)) => {
                // The stderr thread ended: the child exited.
                let status = running.child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
                Err(ChildError::NoAddress { why: format!("it exited ({status})"), tail: running.tail() })
            }
            Err(_) => Err(ChildError::NoAddress {
                why: format!("nothing in {} s", START_TIMEOUT.as_secs()),
                tail: running.tail(),
            }),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its last stderr lines.
    pub fn tail(&self) -> String {
        self.tail.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it: SIGTERM (a clean shutdown, which the server finishes within 2 s), then
    /// SIGKILL if it is still there after a grace period. Returns its exit status.
    pub async fn stop(mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // `kill -TERM` on our own child's pid: the pid cannot have been reused, because an
        // exited child stays a zombie until we reap it. Without the `kill` program, SIGKILL.
        let termed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if termed {
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while tokio::time::Instant::now() < deadline {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Some(status);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The flags every benchmark's server child starts with: headless on an ephemeral loopback
/// port, `npcs` NPCs, room for `max_connections`, and no per-address limits (every bot of the
/// load tool connects from 127.0.0.1, as fast as it can).
pub fn base_flags(npcs: u32, max_connections: u32) -> Vec<String> {
    let flags = ["--bind", "127.0.0.1:0", "--no-web", "--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"];
    let mut flags: Vec<String> = flags.into_iter().map(String::from).collect();
    flags.extend(["--npcs".into(), npcs.to_string(), "--max-connections".into(), max_connections.to_string()]);
    flags
}

/// `GET /stats` over plain HTTP/1.1: the server's cumulative tick statistics.
pub async fn fetch_stats(addr: SocketAddr) -> Result<TickStatsSnapshot, ChildError> {
    let fetch = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let request = format!("GET /stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.map_err(|e| format!("read: {e}"))?;
        parse_stats_response(&response)
    };
    match tokio::time::timeout(Duration::from_secs(5), fetch).await {
        Ok(result) => result.map_err(ChildError::Stats),
        Err(_) => Err(ChildError::Stats("no answer in 5 s".into())),
    }
}

fn parse_stats_response(response: &[u8]) -> Result<TickStatsSnapshot, String> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered {status:?}"));
    }
    serde_json::from_slice(&response[split + 4..]).map_err(|e| format!("not tick statistics: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_response_is_checked_then_parsed() {
        let body = r#"{"tick_rate":60,"tick":120,"ticks_run":120,"overruns":1,"buckets":[[40,100],[60,20]]}"#;
        let ok = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
        let stats = parse_stats_response(ok.as_bytes()).expect("parses");
        assert_eq!((stats.tick_rate, stats.ticks_run, stats.overruns), (60, 120, 1));
        assert!(parse_stats_response(b"HTTP/1.1 404 Not Found\r\n\r\nnope").is_err());
        assert!(parse_stats_response(b"HTTP/1.1 200 OK\r\n\r\n{").is_err());
        assert!(parse_stats_response(b"HTTP/1.1 200 OK").is_err());
    }
}
