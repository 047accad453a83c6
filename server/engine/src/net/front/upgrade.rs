//! The checks of a WebSocket upgrade request, all made before anything is upgraded: method and
//! headers (RFC 6455, section 4.2.1), Origin, subprotocol, then the token. A pure function of
//! the request head, so it is unit-tested and fuzzed without sockets.
//!
//! Answers: 405 for a method other than GET; 400 for a request that is not a WebSocket
//! upgrade, a bad key, or only unknown subprotocols; 426 for another WebSocket version; 403 for
//! an Origin not allowed; 401 with `WWW-Authenticate` for a missing or invalid token when auth
//! is on; 403 for a `metrics` token, which only scrapes.

use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::auth::{Role, Secret, TokenError};
use super::origin::OriginPolicy;

/// The subprotocol this server speaks: `arena.v<protocol version>`.
pub fn subprotocol() -> String {
    format!("arena.v{}", shared::PROTOCOL_VERSION)
}

/// Prefix of a `Sec-WebSocket-Protocol` entry that carries a token (browsers cannot set
/// headers on a WebSocket; this and the `token` query parameter are what they can send).
pub const TOKEN_PROTOCOL_PREFIX: &str = "bearer.";
/// The `Sec-WebSocket-Protocol` entry prefix that carries a seat (`seat.TOKEN`).
pub const SEAT_PROTOCOL_PREFIX: &str = "seat.";

/// Who is connecting, as far as the upgrade could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name, which replaces the `Hello` name; `None` when auth is off.
    pub name: Option<String>,
    /// What the connection may do.
    pub role: Role,
}

impl Identity {
    /// A connection to a server running without auth.
    pub fn open() -> Identity {
        Identity { name: None, role: Role::Player }
    }
}

/// An upgrade that passed every check.
#[derive(Debug)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`.
    pub accept_key: String,
    /// The subprotocol selected, if the client offered ours.
    pub protocol: Option<String>,
    /// Who connects.
    pub identity: Identity,
    /// The matchmaker's seat, from `?seat=TOKEN` or a `seat.TOKEN` subprotocol entry.
    pub seat: Option<String>,
}

/// An HTTP answer instead of the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Status code.
    pub status: StatusCode,
    /// Extra headers.
    pub headers: Vec<(HeaderName, String)>,
    /// Plain-text body saying what to do.
    pub body: String,
}

impl Refusal {
    /// A refusal with a plain-text body.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Refusal {
        Refusal { status, headers: Vec::new(), body: body.into() }
    }

    /// Adds a header.
    pub fn with(mut self, name: HeaderName, value: impl Into<String>) -> Refusal {
        self.headers.push((name, value.into()));
        self
    }
}

/// What the checks need besides the request.
pub struct Gate<'a> {
    /// Allowed browser origins.
    pub origins: &'a OriginPolicy,
    /// The token key; `None` runs open.
    pub auth: Option<&'a Secret>,
    /// Unix seconds, for token expiry.
    pub now: u64,
    /// Whether the request came in over https (TLS here, or a trusted proxy's word): the
    /// scheme of the server's own origin.
    pub https: bool,
}

/// Checks an upgrade request head.
pub fn check(head: &Parts, gate: &Gate<'_>) -> Result<Accepted, Refusal> {
    if head.method != hyper::Method::GET {
        return Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "the WebSocket endpoint takes GET only\n")
            .with(header::ALLOW, "GET"));
    }
    let headers = &head.headers;
    let wants_upgrade =
        has_token(headers, &header::UPGRADE, "websocket") && has_token(headers, &header::CONNECTION, "upgrade");
    if !wants_upgrade || head.version < hyper::Version::HTTP_11 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "/ws only speaks WebSocket: send an HTTP/1.1 WebSocket upgrade request\n",
        ));
    }
    if text(headers, &header::SEC_WEBSOCKET_VERSION).map(str::trim) != Some("13") {
        return Err(Refusal::new(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version; this server speaks version 13\n",
        )
        .with(header::SEC_WEBSOCKET_VERSION, "13"));
    }
    // The key is 16 random bytes in base64: 24 characters ending in "==".
    let accept_key = match text(headers, &header::SEC_WEBSOCKET_KEY).map(str::trim) {
        Some(key) if key.len() == 24 && key.ends_with("==") => derive_accept_key(key.as_bytes()),
        _ => return Err(Refusal::new(StatusCode::BAD_REQUEST, "missing or malformed Sec-WebSocket-Key\n")),
    };
    if !gate.origins.allows(text(headers, &header::ORIGIN), text(headers, &header::HOST), gate.https) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "this page's origin may not connect to this server (see --allowed-origin)\n",
        ));
    }
    let offers = Offers::parse(headers);
    let ours = subprotocol();
    let protocol = match offers.protocols.as_slice() {
        [] => None,
        offered if offered.contains(&ours) => Some(ours),
        offered => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("unsupported subprotocol {}; this server speaks: {ours}\n", offered.join(", ")),
            ));
        }
    };
    let identity = match gate.auth {
        None => Identity::open(),
        Some(secret) => {
            let token = bearer(headers).or_else(|| query_token(head.uri.query())).or(offers.token);
            let claims = token.ok_or(TokenError::Missing).and_then(|t| secret.verify(&t, gate.now));
            match claims {
                Ok(claims) if claims.role.may_connect() => Identity { name: Some(claims.sub), role: claims.role },
                Ok(_) => {
                    return Err(Refusal::new(
                        StatusCode::FORBIDDEN,
                        "a metrics token only reads /metrics and /stats: it cannot open a game socket\n",
                    ));
                }
                Err(error) => return Err(unauthorized(error)),
            }
        }
    };
    let seat = query_value(head.uri.query(), "seat=").or(offers.seat);
    Ok(Accepted { accept_key, protocol, identity, seat })
}

/// The 401 for a token error, with its RFC 6750 challenge.
pub fn unauthorized(error: TokenError) -> Refusal {
    let challenge = match error {
        TokenError::Missing => r#"Bearer realm="arena""#.to_owned(),
        other => format!(r#"Bearer realm="arena", error="invalid_token", error_description="{other}""#),
    };
    Refusal::new(StatusCode::UNAUTHORIZED, format!("{error}: get one with `server token`, then connect with it as `Authorization: Bearer TOKEN`, `?token=TOKEN` or subprotocol `bearer.TOKEN`\n"))
        .with(header::WWW_AUTHENTICATE, challenge)
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = text(headers, &header::AUTHORIZATION)?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// What `Sec-WebSocket-Protocol` offers: subprotocols, and maybe a token and a seat entry.
struct Offers {
    protocols: Vec<String>,
    token: Option<String>,
    seat: Option<String>,
}

impl Offers {
    fn parse(headers: &HeaderMap) -> Offers {
        let mut offers = Offers { protocols: Vec::new(), token: None, seat: None };
        for entry in headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if let Some(token) = entry.strip_prefix(TOKEN_PROTOCOL_PREFIX) {
                offers.token = Some(token.to_owned());
            } else if let Some(seat) = entry.strip_prefix(SEAT_PROTOCOL_PREFIX) {
                offers.seat = Some(seat.to_owned());
            } else {
                offers.protocols.push(entry.to_owned());
            }
        }
        offers
    }
}

/// The `token` query parameter, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query_value(query, "token=")
}

/// The query parameter that starts with `prefix` (`name=`), percent-decoded.
fn query_value(query: Option<&str>, prefix: &str) -> Option<String> {
    let value = query?.split('&').find_map(|pair| pair.strip_prefix(prefix))?;
    percent_decode(value)
}

/// Decodes `%XX` escapes and `+`; `None` for a bad escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok())
}

/// Whether a comma-separated header contains `token`, case-insensitively.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::front::auth::Claims;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn head(extra: &[(&str, &str)], uri: &str) -> Parts {
        let mut builder = hyper::Request::get(uri)
            .header("Host", "game.example:8080")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", KEY);
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("valid request").into_parts().0
    }

    fn secret() -> Secret {
        Secret::from_bytes(&[42u8; 32]).expect("32 bytes")
    }

    fn token(role: Role, exp: u64) -> String {
        secret().mint(&Claims { sub: "ann".into(), role, iat: 0, exp })
    }

    fn open_gate(origins: &OriginPolicy) -> Gate<'_> {
        Gate { origins, auth: None, now: 1000, https: false }
    }

    #[test]
    fn a_plain_upgrade_is_accepted_with_the_rfc_accept_key() {
        let origins = OriginPolicy::default();
        let accepted = check(&head(&[], "/ws"), &open_gate(&origins)).expect("accepted");
        assert_eq!(accepted.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455's example");
        assert_eq!(accepted.protocol, None);
        assert_eq!(accepted.identity, Identity::open());
    }

    #[test]
    fn our_subprotocol_is_selected_and_unknown_ones_get_400() {
        let origins = OriginPolicy::default();
        let ours = subprotocol();
        let offered = format!("chat, {ours}");
        let accepted = check(&head(&[("Sec-WebSocket-Protocol", &offered)], "/ws"), &open_gate(&origins));
        assert_eq!(accepted.expect("accepted").protocol, Some(ours.clone()));
        let refused = check(&head(&[("Sec-WebSocket-Protocol", "chat, superchat")], "/ws"), &open_gate(&origins))
            .expect_err("only unknown subprotocols");
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.body.contains(&ours), "the body names what is supported: {}", refused.body);
    }

    #[test]
    fn foreign_origins_get_403() {
        let origins = OriginPolicy::default();
        let refused = check(&head(&[("Origin", "https://evil.example")], "/ws"), &open_gate(&origins));
        assert_eq!(refused.expect_err("foreign").status, StatusCode::FORBIDDEN);
        let own = check(&head(&[("Origin", "http://game.example:8080")], "/ws"), &open_gate(&origins));
        assert!(own.is_ok(), "the server's own pages connect");
    }

    #[test]
    fn tokens_are_read_from_header_query_or_subprotocol() {
        let origins = OriginPolicy::default();
        let secret = secret();
        let gate = Gate { origins: &origins, auth: Some(&secret), now: 1000, https: false };
        let good = token(Role::Spectator, 2000);
        let bearer = format!("Bearer {good}");
        let by_protocol = format!("{}, {TOKEN_PROTOCOL_PREFIX}{good}", subprotocol());
        for request in [
            head(&[("Authorization", &bearer)], "/ws"),
            head(&[], &format!("/ws?x=1&token={good}")),
            head(&[("Sec-WebSocket-Protocol", &by_protocol)], "/ws"),
        ] {
            let accepted = check(&request, &gate).expect("a valid token");
            assert_eq!(accepted.identity, Identity { name: Some("ann".into()), role: Role::Spectator });
        }
        let accepted = check(&head(&[("Sec-WebSocket-Protocol", &by_protocol)], "/ws"), &gate).expect("valid");
        assert_eq!(accepted.protocol, Some(subprotocol()), "the token entry is never echoed back");
    }

    #[test]
    fn missing_bad_and_expired_tokens_get_401_with_a_challenge() {
        let origins = OriginPolicy::default();
        let secret = secret();
        let gate = Gate { origins: &origins, auth: Some(&secret), now: 5000, https: false };
        let expired = format!("/ws?token={}", token(Role::Player, 2000));
        let forged = format!(
            "/ws?token={}",
            Secret::from_bytes(&[1u8; 32]).expect("key").mint(&Claims {
                sub: "eve".into(),
                role: Role::Admin,
                iat: 0,
                exp: 9000
            })
        );
        for (uri, why) in
            [("/ws", "missing"), ("/ws?token=abc", "malformed"), (&expired, "expired"), (&forged, "forged")]
        {
            let refused = check(&head(&[], uri), &gate).expect_err(why);
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{why}");
            let challenge = refused.headers.iter().find(|(n, _)| n == header::WWW_AUTHENTICATE);
            assert!(challenge.is_some_and(|(_, v)| v.starts_with("Bearer")), "{why}: {:?}", refused.headers);
            assert!(!refused.body.contains("eyJ"), "a token is never echoed: {}", refused.body);
        }
    }

    #[test]
    fn non_upgrades_wrong_versions_and_bad_keys_are_refused() {
        let origins = OriginPolicy::default();
        let gate = open_gate(&origins);
        let plain = hyper::Request::get("/ws").body(()).expect("request").into_parts().0;
        assert_eq!(check(&plain, &gate).expect_err("plain").status, StatusCode::BAD_REQUEST);
        let mut v8 = head(&[], "/ws");
        v8.headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(check(&v8, &gate).expect_err("v8").status, StatusCode::UPGRADE_REQUIRED);
        let mut no_key = head(&[], "/ws");
        no_key.headers.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("short"));
        assert_eq!(check(&no_key, &gate).expect_err("key").status, StatusCode::BAD_REQUEST);
        let mut post = head(&[], "/ws");
        post.method = hyper::Method::POST;
        assert_eq!(check(&post, &gate).expect_err("post").status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Eb+c").as_deref(), Some("a.b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }
}
