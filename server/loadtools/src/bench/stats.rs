//! `GET /stats` from the server child: its cumulative tick statistics, from which the bench
//! takes ticks per second and tick percentiles over a window; and [`get_json`], the plain
//! HTTP/1.1 GET it is made of, for the bench's other reads (`/api/rooms`).

use std::net::SocketAddr;
use std::time::Duration;

use engine::sim::stats::TickStatsSnapshot;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET /stats` failed: why.
#[derive(Debug, thiserror::Error)]
#[error("GET /stats: {0}")]
pub struct StatsError(String);

/// `GET /stats` over plain HTTP/1.1: the server's cumulative tick statistics.
pub async fn fetch_stats(addr: SocketAddr) -> Result<TickStatsSnapshot, StatsError> {
    get_json(addr, "/stats").await.map_err(StatsError)
}

/// `GET path` over plain HTTP/1.1, with a 5 s limit: the 200 answer's JSON body.
pub async fn get_json<T: DeserializeOwned>(addr: SocketAddr, path: &str) -> Result<T, String> {
    let fetch = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.map_err(|e| format!("read: {e}"))?;
        parse_json_response(&response)
    };
    match tokio::time::timeout(Duration::from_secs(5), fetch).await {
        Ok(result) => result,
        Err(_) => Err("no answer in 5 s".into()),
    }
}

fn parse_json_response<T: DeserializeOwned>(response: &[u8]) -> Result<T, String> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered {status:?}"));
    }
    serde_json::from_slice(&response[split + 4..]).map_err(|e| format!("not the JSON expected: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_response_is_checked_then_parsed() {
        let body = r#"{"tick_rate":60,"tick":120,"ticks_run":120,"overruns":1,"buckets":[[40,100],[60,20]]}"#;
        let ok = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
        let stats: TickStatsSnapshot = parse_json_response(ok.as_bytes()).expect("parses");
        assert_eq!((stats.tick_rate, stats.ticks_run, stats.overruns), (60, 120, 1));
        assert!(parse_json_response::<TickStatsSnapshot>(b"HTTP/1.1 404 Not Found\r\n\r\nnope").is_err());
        assert!(parse_json_response::<TickStatsSnapshot>(b"HTTP/1.1 200 OK\r\n\r\n{").is_err());
        assert!(parse_json_response::<TickStatsSnapshot>(b"HTTP/1.1 200 OK").is_err());
    }
}
