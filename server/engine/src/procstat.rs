//! A process's CPU time and resident memory, read from Linux's `/proc`: the bench's figures of
//! its server child and of itself, and the CPU seconds on the server's admin page. At the
//! bottom, because the network layer and the bench above it both read them.

/// Linux reports CPU times in clock ticks of 1/100 s (`USER_HZ`, fixed at 100 for user space).
pub const USER_HZ: f64 = 100.0;

/// `/proc` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read /proc/{pid}/{file}: {why}")]
pub struct ProcError {
    /// The process.
    pub pid: String,
    /// Which file.
    pub file: &'static str,
    /// Why.
    pub why: String,
}

/// Resident memory of a process, KiB (`VmRSS` in `/proc/PID/status`); `pid` may be `"self"`.
pub fn rss_kib(pid: &str) -> Result<u64, ProcError> {
    let err = |why: String| ProcError { pid: pid.to_owned(), file: "status", why };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| err(e.to_string()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| err("no VmRSS line".into()))
}

/// CPU time a process has used (user + system), seconds, from `/proc/PID/stat`; `pid` may be
/// `"self"`.
pub fn cpu_seconds(pid: &str) -> Result<f64, ProcError> {
    let err = |why: String| ProcError { pid: pid.to_owned(), file: "stat", why };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| err(e.to_string()))?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ).ok_or_else(|| err("unexpected layout".into()))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2) is
/// in parentheses and may hold spaces and parentheses, so fields are counted after the last ')'.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, at index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1234";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        let own = cpu_seconds("self").expect("our own /proc/self/stat reads");
        assert!(own >= 0.0);
        assert!(rss_kib("self").expect("our own VmRSS reads") > 0);
    }
}
