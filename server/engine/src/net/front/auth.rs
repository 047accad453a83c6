//! Signed tokens: who may connect, under which name, in which role.
//!
//! A token is a JWT signed with HMAC-SHA256 (HS256): `base64url(header).base64url(claims).
//! base64url(signature)`, header `{"alg":"HS256","typ":"JWT"}`, claims `{"sub": name,
//! "role": "player"|"spectator"|"admin"|"metrics", "iat": unix seconds, "exp": unix seconds}`. Any JWT
//! library can mint one from the same secret; `server token` does it here. Only HS256 is
//! accepted (never `none`), the signature is checked in constant time (`ring::hmac::verify`)
//! before the claims are read, and tokens are never logged.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// Shortest secret accepted: 256 bits, the strength of the MAC.
pub const MIN_SECRET_BYTES: usize = 32;
/// Longest token considered; a longer one is refused before any work.
pub const MAX_TOKEN_BYTES: usize = 2048;
/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 30;

/// The one JOSE header we write and accept.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Plays (or watches, if it asks to).
    Player,
    /// Only watches: joins as a spectator whatever its `Hello` says.
    Spectator,
    /// Plays, and may use the admin API (`/api/*`) and scrape `/metrics` and `/stats`.
    Admin,
    /// Only scrapes `/metrics` and `/stats` (a Prometheus scraper): no game socket (403 before
    /// the upgrade) and no admin API (403), so a leaked scraper token cannot drain, kick,
    /// announce or take a player slot.
    Metrics,
}

impl Role {
    /// Whether this role may read `/metrics` and `/stats` when auth is on.
    pub fn may_scrape(self) -> bool {
        matches!(self, Role::Admin | Role::Metrics)
    }

    /// Whether this role may open a game socket (`/ws`).
    pub fn may_connect(self) -> bool {
        !matches!(self, Role::Metrics)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Player => "player",
            Role::Spectator => "spectator",
            Role::Admin => "admin",
            Role::Metrics => "metrics",
        })
    }
}

/// The claims of a valid token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The player's name; it replaces the name in `Hello`.
    pub sub: String,
    /// What the holder may do.
    pub role: Role,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds.
    pub exp: u64,
}

/// Why a token was refused (answered 401; the detail goes in `WWW-Authenticate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token in the request.
    #[error("a token is required")]
    Missing,
    /// Not three base64url parts, not HS256, or claims that do not parse.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match.
    #[error("bad token signature")]
    BadSignature,
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// The name is empty, too long or has control characters.
    #[error("the token's name is not a valid player name")]
    BadName,
}

/// Why a secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read the auth secret {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Shorter than [`MIN_SECRET_BYTES`].
    #[error(
        "the auth secret must be at least {MIN_SECRET_BYTES} bytes (got {0}); `head -c 48 /dev/urandom | base64 > FILE` makes one"
    )]
    TooShort(usize),
}

/// The HMAC key tokens are signed with. Its bytes are never printed.
#[derive(Clone)]
pub struct Secret(hmac::Key);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A key from raw bytes; at least [`MIN_SECRET_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, SecretError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(bytes.len()));
        }
        Ok(Secret(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// Reads a secret file; surrounding whitespace (a trailing newline) is not part of it.
    pub fn from_file(path: &Path) -> Result<Secret, SecretError> {
        let bytes =
            std::fs::read(path).map_err(|source| SecretError::Read { path: path.display().to_string(), source })?;
        Secret::from_bytes(bytes.trim_ascii())
    }

    /// Signs `claims` into a token.
    pub fn mint(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let body = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(body));
        let tag = hmac::sign(&self.0, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks a token's signature, then its claims, at unix time `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let signing_input = &token[..header.len() + 1 + body.len()];
        hmac::verify(&self.0, signing_input.as_bytes(), &signature).map_err(|_| TokenError::BadSignature)?;
        let header: JoseHeader =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| TokenError::Malformed)?)
                .map_err(|_| TokenError::Malformed)?;
        if header.alg != "HS256" {
            return Err(TokenError::Malformed);
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Malformed)?)
            .map_err(|_| TokenError::Malformed)?;
        if claims.exp.saturating_add(LEEWAY_SECS) <= now {
            return Err(TokenError::Expired);
        }
        if !valid_name(&claims.sub) {
            return Err(TokenError::BadName);
        }
        Ok(claims)
    }
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
}

/// The name rules of `Hello`, so a token never carries a name a `Hello` could not.
pub fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= shared::message::MAX_NAME_BYTES && !name.chars().any(char::is_control)
}

/// Parses a duration like `90s`, `15m`, `1h` or `7d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().map_err(|_| format!("`{text}` is not a duration like 90s, 15m, 1h or 7d"))?;
    let scale = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`: use s, m, h or d")),
    };
    match value.checked_mul(scale) {
        Some(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("`{text}` is not a positive duration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_bytes(b"0123456789abcdef0123456789abcdef").expect("32 bytes")
    }

    fn claims(exp: u64) -> Claims {
        Claims { sub: "ann".into(), role: Role::Admin, iat: 1000, exp }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let token = secret().mint(&claims(2000));
        assert_eq!(secret().verify(&token, 1500), Ok(claims(2000)));
        assert_eq!(secret().verify(&token, 2000 + LEEWAY_SECS), Err(TokenError::Expired));
    }

    #[test]
    fn matches_an_independent_hs256_vector() {
        // Made with Python's hmac and base64 modules from the same secret and claims: the format
        // is plain JWT HS256, so tokens from other JWT libraries verify here and ours there.
        let expected = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
            eyJzdWIiOiJhbm4iLCJyb2xlIjoiYWRtaW4iLCJpYXQiOjEwMDAsImV4cCI6MjAwMH0.\
            ZDkFidX9gTylxE77Xo31o8xNwLBnTjznFqJsvnTQuDs";
        assert_eq!(secret().mint(&claims(2000)), expected);
        assert_eq!(secret().verify(expected, 1500), Ok(claims(2000)));
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let token = secret().mint(&claims(2000));
        let other = Secret::from_bytes(&[7u8; 32]).expect("32 bytes");
        assert_eq!(other.verify(&token, 1500), Err(TokenError::BadSignature));
        // Swap in claims naming someone else, keeping the signature.
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"sub":"eve","role":"admin","iat":1000,"exp":2000}"#);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert_eq!(secret().verify(&forged, 1500), Err(TokenError::BadSignature));
        for garbage in ["", "a.b", "a.b.c.d", "...", "x.y.!!!", &"a".repeat(MAX_TOKEN_BYTES + 1)] {
            assert_eq!(secret().verify(garbage, 1500), Err(TokenError::Malformed), "{garbage:.20}");
        }
    }

    #[test]
    fn alg_none_is_refused_even_when_signed() {
        // A token whose header says "none" but carries a valid HMAC is still refused.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(2000)).expect("json"));
        let input = format!("{header}.{body}");
        let tag = hmac::sign(&secret().0, input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert_eq!(secret().verify(&token, 1500), Err(TokenError::Malformed));
    }

    #[test]
    fn the_metrics_role_round_trips_and_only_scrapes() {
        let mut scraper = claims(2000);
        scraper.role = Role::Metrics;
        let token = secret().mint(&scraper);
        let body = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).expect("a body")).expect("base64url");
        assert!(String::from_utf8(body).expect("utf-8").contains(r#""role":"metrics""#));
        assert_eq!(secret().verify(&token, 1500), Ok(scraper));
        let scrape: Vec<Role> = [Role::Player, Role::Spectator, Role::Admin, Role::Metrics]
            .into_iter()
            .filter(|r| r.may_scrape())
            .collect();
        assert_eq!(scrape, [Role::Admin, Role::Metrics]);
        let connect: Vec<Role> = [Role::Player, Role::Spectator, Role::Admin, Role::Metrics]
            .into_iter()
            .filter(|r| r.may_connect())
            .collect();
        assert_eq!(connect, [Role::Player, Role::Spectator, Role::Admin]);
    }

    #[test]
    fn bad_names_are_refused() {
        let mut bad = claims(2000);
        bad.sub = "a\u{7}b".into();
        assert_eq!(secret().verify(&secret().mint(&bad), 1500), Err(TokenError::BadName));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(Secret::from_bytes(b"short"), Err(SecretError::TooShort(5))));
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
