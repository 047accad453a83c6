//! The server under test as a child process: the one harness the bench, the integration
//! tests and the server's own tests start the real `server` binary with.
//!
//! A [`ServerCommand`] names the binary (this executable for the bench, or the one a test
//! finds beside itself with [`beside_test_executable`]), its flags and its `RUST_LOG`; its
//! [`spawn`](ServerCommand::spawn) (blocking) or [`start`](ServerCommand::start) (async)
//! waits for the child's "listening on" log line. The [`ServerChild`] it returns keeps every
//! stderr line (or the last few) for assertions and error messages, samples the child's CPU
//! and memory through `/proc` ([`engine::procstat`]), stops it with SIGTERM, and kills it when
//! dropped, whatever happened. Every signal goes to the child's own PID: only the process this
//! harness started.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use engine::procstat::{self, ProcError};

/// How long a child may take to print its address, unless told otherwise.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`ServerChild::stop`] waits after SIGTERM (the server promises 2 s) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Log lines an error message about a failed start quotes.
const ERROR_TAIL: usize = 40;
/// Log lines printed when a test panics with the child still held.
const PANIC_TAIL: usize = 60;
/// How often the async start looks for the address (the reader is a thread, not a task).
const POLL: Duration = Duration::from_millis(10);

/// Why a server child could not be found, started, stopped or observed.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// No binary where it was looked for.
    #[error("no server binary at {0}")]
    Missing(PathBuf),
    /// The path of the running executable, from which the binary is found.
    #[error("cannot find this executable: {0}")]
    Exe(std::io::Error),
    /// Spawning failed.
    #[error("cannot start the server: {0}")]
    Spawn(std::io::Error),
    /// It exited or went quiet before saying where it listens.
    #[error("the server did not report its address: {why}\n{tail}")]
    NoAddress {
        /// What happened.
        why: String,
        /// Its last log lines.
        tail: String,
    },
    /// `kill -TERM PID` could not be run or failed.
    #[error("kill -TERM {pid} failed: {why}")]
    Signal {
        /// The child's PID.
        pid: u32,
        /// What went wrong.
        why: String,
    },
    /// It still ran when it should have exited.
    #[error("the server still runs after {0:?}")]
    StillRunning(Duration),
    /// Waiting for it or killing it failed.
    #[error("cannot wait for the server: {0}")]
    Wait(std::io::Error),
    /// Reading its `/proc` entry.
    #[error(transparent)]
    Proc(#[from] ProcError),
}

/// The binary `name` that Cargo built beside the running test: test executables live in
/// `target/<profile>/deps/`, binaries in `target/<profile>/`. For a package that cannot name
/// another package's binary (`CARGO_BIN_EXE_*` is per package).
pub fn beside_test_executable(name: &str) -> Result<PathBuf, ChildError> {
    let exe = std::env::current_exe().map_err(ChildError::Exe)?;
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .ok_or_else(|| ChildError::Missing(exe.clone()))?;
    if binary.is_file() { Ok(binary) } else { Err(ChildError::Missing(binary)) }
}

/// How to start a server child: the binary, its flags, its log filter and what to keep of
/// its log. The flags must bind somewhere (`--bind 127.0.0.1:0` for a free port).
#[derive(Debug, Clone)]
pub struct ServerCommand {
    program: PathBuf,
    args: Vec<OsString>,
    rust_log: String,
    echo: bool,
    keep_lines: usize,
    start_timeout: Duration,
}

impl ServerCommand {
    /// The binary at `program`, no flags yet, `RUST_LOG=info`, every log line kept, 30 s to
    /// start.
    pub fn new(program: impl Into<PathBuf>) -> ServerCommand {
        ServerCommand {
            program: program.into(),
            args: Vec::new(),
            rust_log: "info".to_owned(),
            echo: false,
            keep_lines: usize::MAX,
            start_timeout: START_TIMEOUT,
        }
    }

    /// Adds flags.
    pub fn args<I, S>(mut self, args: I) -> ServerCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The child's `RUST_LOG`. It must let `engine::server`'s info line through: that is
    /// where the address is read from.
    pub fn rust_log(mut self, filter: impl Into<String>) -> ServerCommand {
        self.rust_log = filter.into();
        self
    }

    /// Copies the child's log to this process's stderr, each line prefixed with `[server]`.
    pub fn echo(mut self, echo: bool) -> ServerCommand {
        self.echo = echo;
        self
    }

    /// Keeps only the last `lines` log lines (a long run need not hold its whole log).
    pub fn keep_lines(mut self, lines: usize) -> ServerCommand {
        self.keep_lines = lines.max(1);
        self
    }

    /// How long the child may take to say where it listens.
    pub fn start_timeout(mut self, timeout: Duration) -> ServerCommand {
        self.start_timeout = timeout;
        self
    }

    /// Starts the child and blocks until it logs its address.
    pub fn spawn(self) -> Result<ServerChild, ChildError> {
        let timeout = self.start_timeout;
        let (mut child, found) = self.launch()?;
        match found.recv_timeout(timeout) {
            Ok(addr) => {
                child.addr = addr;
                Ok(child)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(child.exited_early()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(child.quiet(timeout)),
        }
    }

    /// Starts the child and waits, without blocking the runtime, until it logs its address.
    /// Dropping the future drops the child, which kills it.
    pub async fn start(self) -> Result<ServerChild, ChildError> {
        let timeout = self.start_timeout;
        let (mut child, found) = self.launch()?;
        let deadline = Instant::now() + timeout;
        loop {
            match found.try_recv() {
                Ok(addr) => {
                    child.addr = addr;
                    return Ok(child);
                }
                Err(mpsc::TryRecvError::Disconnected) => return Err(child.exited_early()),
                Err(mpsc::TryRecvError::Empty) if Instant::now() >= deadline => return Err(child.quiet(timeout)),
                Err(mpsc::TryRecvError::Empty) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Spawns the child and the thread that reads its log; the receiver gets its address.
    fn launch(self) -> Result<(ServerChild, mpsc::Receiver<SocketAddr>), ChildError> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .env("RUST_LOG", &self.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(ChildError::Spawn)?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (found, listening) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            let (lines, echo, keep) = (log.clone(), self.echo, self.keep_lines);
            // Reads the pipe for the child's whole life, so that the child never blocks on a
            // full pipe; ends at EOF, when the child exits (which also tells a waiting start).
            std::thread::spawn(move || {
                let mut found = Some(found);
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[server] {line}");
                    }
                    if let Some(addr) = listening_addr(&line)
                        && let Some(tx) = found.take()
                    {
                        let _ = tx.send(addr);
                    }
                    let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
                    if lines.len() == keep {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            });
        }
        Ok((ServerChild { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log }, listening))
    }
}

/// The address in a "listening on http://ADDR/" line, human or JSON (where a quote follows
/// the URL), plain or TLS.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on http").nth(1)?;
    let rest = rest.strip_prefix("s://").or_else(|| rest.strip_prefix("://"))?;
    rest.split(['/', '"']).next()?.trim().parse().ok()
}

/// A running server child. Dropping it kills the child (by its own handle: only the process
/// it started) and reaps it; in a panicking thread it first prints the end of the child's log,
/// which usually says what went wrong.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServerChild {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every log line kept so far, oldest first.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    /// The last `n` log lines kept, as one string.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().skip(log.len().saturating_sub(n)).cloned().collect::<Vec<_>>().join("\n")
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its CPU time so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> Result<f64, ChildError> {
        Ok(procstat::cpu_seconds(&self.pid().to_string())?)
    }

    /// Its resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Result<u64, ChildError> {
        Ok(procstat::rss_kib(&self.pid().to_string())?)
    }

    /// Waits at most `within` for the child to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus, ChildError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().map_err(ChildError::Wait)? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(ChildError::StillRunning(within));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (a clean shutdown) and waits at most `within` for the child to exit.
    pub fn terminate(&mut self, within: Duration) -> Result<ExitStatus, ChildError> {
        self.sigterm()?;
        self.wait_exit(within)
    }

    /// SIGKILL, then reaps the child: an abrupt end, as a crash or an OOM kill would be.
    pub fn kill(&mut self) -> Result<ExitStatus, ChildError> {
        self.child.kill().map_err(ChildError::Wait)?;
        self.child.wait().map_err(ChildError::Wait)
    }

    /// Stops it without blocking the runtime: SIGTERM, then SIGKILL if it is still there after
    /// a grace period. Its exit status, if it could be had.
    pub async fn stop(mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        if self.sigterm().is_ok() {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Some(status);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// `kill -TERM` on our own child's PID, which cannot have been reused: an exited child
    /// stays a zombie until it is reaped, and only this handle reaps it.
    fn sigterm(&self) -> Result<(), ChildError> {
        let pid = self.pid();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| ChildError::Signal { pid, why: e.to_string() })?;
        if status.success() { Ok(()) } else { Err(ChildError::Signal { pid, why: status.to_string() }) }
    }

    /// The error for a child whose log ended before its address: it exited.
    fn exited_early(&mut self) -> ChildError {
        let status = self.child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
        ChildError::NoAddress { why: format!("it exited ({status})"), tail: self.log_tail(ERROR_TAIL) }
    }

    /// The error for a child that said nothing of its address in time.
    fn quiet(&self, timeout: Duration) -> ChildError {
        ChildError::NoAddress { why: format!("nothing in {} s", timeout.as_secs()), tail: self.log_tail(ERROR_TAIL) }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- last lines of the server's log ---\n{}", self.log_tail(PANIC_TAIL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_human_and_json_lines() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().expect("an address");
        let human = "2026-01-01T00:00:00Z  INFO engine::server: listening on http://127.0.0.1:4321/";
        let json = r#"{"fields":{"message":"listening on http://127.0.0.1:4321/"},"target":"engine::server"}"#;
        let tls = "INFO engine::server: listening on https://127.0.0.1:4321/";
        assert_eq!(listening_addr(human), Some(addr));
        assert_eq!(listening_addr(json), Some(addr));
        assert_eq!(listening_addr(tls), Some(addr));
        assert_eq!(listening_addr("INFO engine::server: connection started"), None);
        assert_eq!(listening_addr("listening on http://not-an-address/"), None);
    }

    #[test]
    fn a_child_that_exits_without_an_address_says_so_with_its_log() {
        // `sh` stands in for a server that fails at start: it logs a line and exits 3.
        let err = ServerCommand::new("sh")
            .args(["-c", "echo 'bad flag' >&2; exit 3"])
            .spawn()
            .expect_err("no address, so no child");
        let text = err.to_string();
        assert!(text.contains("exited") && text.contains("bad flag"), "{text}");
    }

    #[test]
    fn a_child_is_found_through_its_address_line_and_killed_on_drop() {
        let script = "echo 'listening on http://127.0.0.1:9/' >&2; echo second >&2; exec sleep 30";
        let mut child = ServerCommand::new("sh").args(["-c", script]).spawn().expect("starts");
        assert_eq!(child.addr(), "127.0.0.1:9".parse().expect("an address"));
        assert!(child.running());
        let pid = child.pid();
        drop(child);
        // Reaped by the drop: no /proc entry for the PID (unless already reused, unlikely
        // within a test).
        assert!(procstat::cpu_seconds(&pid.to_string()).is_err(), "pid {pid} is gone");
    }
}
