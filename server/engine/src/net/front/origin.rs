//! The Origin allow-list: which web pages may open a socket to this server from a visitor's
//! browser. Browsers apply no same-origin policy to WebSockets, so without this check any
//! site could play (or chat) as its visitors (cross-site WebSocket hijacking).
//!
//! A request with no `Origin` header comes from a non-browser client and passes. Otherwise the
//! origin must be the server's own (its scheme is the one the request came in by, and its host
//! and port equal the request's `Host`), or on the list: `--allowed-origin` entries, or by default `http(s)://localhost`, `127.0.0.1` and
//! `[::1]` on any port. `--allowed-origin '*'` turns the check off.

/// The parsed allow-list.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// Exact origins, normalized (`scheme://host[:port]`, lower case, default port dropped).
    listed: Vec<String>,
    /// `*` was given.
    any: bool,
    /// No list was given: loopback pages on any port are allowed (development).
    loopback_default: bool,
}

impl Default for OriginPolicy {
    fn default() -> Self {
        OriginPolicy { listed: Vec::new(), any: false, loopback_default: true }
    }
}

impl OriginPolicy {
    /// A policy from `--allowed-origin` values; an empty list means the default.
    pub fn new(entries: &[String]) -> Result<OriginPolicy, String> {
        let mut policy = OriginPolicy { listed: Vec::new(), any: false, loopback_default: entries.is_empty() };
        for entry in entries {
            if entry.trim() == "*" {
                policy.any = true;
                continue;
            }
            let origin = parse(entry).ok_or_else(|| {
                format!("--allowed-origin `{entry}` is not an origin like https://game.example or http://host:8080")
            })?;
            policy.listed.push(origin.normalized());
        }
        Ok(policy)
    }

    /// Whether a request with this `Origin` and `Host` header, which came in over https or
    /// not, may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>, https: bool) -> bool {
        let Some(origin) = origin else { return true };
        if self.any {
            return true;
        }
        let Some(parsed) = parse(origin) else { return false };
        let own_scheme = if https { "https" } else { "http" };
        if parsed.scheme == own_scheme
            && host.is_some_and(|host| parsed.authority() == strip_default_port(&host.trim().to_ascii_lowercase()))
        {
            return true;
        }
        if self.loopback_default && ["localhost", "127.0.0.1", "[::1]"].contains(&parsed.host.as_str()) {
            return true;
        }
        self.listed.contains(&parsed.normalized())
    }
}

/// An origin's parts.
struct Origin {
    scheme: String,
    host: String,
    /// `None` for the scheme's default port.
    port: Option<u16>,
}

impl Origin {
    fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    fn normalized(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }
}

/// Parses `scheme://host[:port]` (http or https; no path, user or query).
fn parse(text: &str) -> Option<Origin> {
    let text = text.trim().to_ascii_lowercase();
    let text = text.strip_suffix('/').unwrap_or(&text);
    let (scheme, rest) = text.split_once("://")?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    // An IPv6 literal keeps its brackets; the port follows the closing one.
    let (host, port) = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains(']') => (&rest[..colon], Some(rest[colon + 1..].parse::<u16>().ok()?)),
        _ => (rest, None),
    };
    if host.is_empty() {
        return None;
    }
    Some(Origin { scheme: scheme.into(), host: host.into(), port: port.filter(|&p| p != default_port) })
}

/// Whether a `Host` header names this machine by a loopback name (`localhost`, `127.0.0.1`,
/// `[::1]`, any port). A page that reached us by any other name may be a DNS-rebinding attack
/// (a foreign domain pointed at 127.0.0.1), even when the peer is loopback.
pub fn is_loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let host = host.trim().to_ascii_lowercase();
    let name = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') && host[colon + 1..].parse::<u16>().is_ok() => &host[..colon],
        Some(_) if !host.starts_with('[') => return false,
        _ => &host[..],
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// `Host` values name the default port only sometimes; compare without it.
fn strip_default_port(host: &str) -> &str {
    host.strip_suffix(":80").or_else(|| host.strip_suffix(":443")).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_browser_clients_and_the_servers_own_pages_pass() {
        let policy = OriginPolicy::new(&["https://game.example".into()]).expect("valid");
        assert!(policy.allows(None, Some("anything"), false), "no Origin: not a browser");
        assert!(policy.allows(Some("http://play.example:8080"), Some("play.example:8080"), false), "own origin");
        assert!(policy.allows(Some("https://Play.Example"), Some("play.example:443"), true), "default port, case");
        assert!(!policy.allows(Some("http://play.example:8081"), Some("play.example:8080"), false), "other port");
        assert!(!policy.allows(Some("https://play.example:8080"), Some("play.example:8080"), false), "other scheme");
        assert!(!policy.allows(Some("http://play.example"), Some("play.example"), true), "http page, https port");
    }

    #[test]
    fn the_default_allows_loopback_pages_only() {
        let policy = OriginPolicy::default();
        for ok in ["http://localhost:5173", "https://127.0.0.1", "http://[::1]:8080", "http://localhost"] {
            assert!(policy.allows(Some(ok), Some("game.example"), false), "{ok}");
        }
        for bad in
            ["https://evil.example", "null", "http://localhost.evil.example", "file://", "http://127.0.0.1.nip.io"]
        {
            assert!(!policy.allows(Some(bad), Some("game.example"), false), "{bad}");
        }
    }

    #[test]
    fn a_list_replaces_the_loopback_default() {
        let policy = OriginPolicy::new(&["https://game.example".into(), "http://lan-box:8080/".into()]).expect("valid");
        assert!(policy.allows(Some("https://game.example:443"), Some("api.example"), false));
        assert!(policy.allows(Some("http://lan-box:8080"), Some("api.example"), false));
        assert!(!policy.allows(Some("http://game.example"), Some("api.example"), false), "scheme matters");
        assert!(!policy.allows(Some("http://localhost:3000"), Some("api.example"), false), "no loopback default");
    }

    #[test]
    fn loopback_hosts_by_name() {
        for ok in ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8080"] {
            assert!(is_loopback_host(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "[::1]x",
            "localhost:",
            "localhost:99999",
            "",
        ] {
            assert!(!is_loopback_host(Some(bad)), "{bad}");
        }
        assert!(!is_loopback_host(None));
    }

    #[test]
    fn star_allows_all_and_bad_entries_are_refused() {
        assert!(OriginPolicy::new(&["*".into()]).expect("valid").allows(Some("null"), None, false));
        for bad in ["game.example", "ftp://x", "https://", "https://a/b", "http://h:99999"] {
            assert!(OriginPolicy::new(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
