//! The one place messages become bytes and back.
//!
//! bincode 2 in its `standard` configuration: little-endian, variable-length integers, enum
//! variants as varint indices, no framing (each WebSocket binary message is one value).
//! `shared/WIRE.md` spells the layout out byte by byte.
//!
//! Decoding refuses input over a size limit before reading it, caps what length prefixes may
//! claim (so ten hostile bytes cannot make us allocate megabytes), and refuses trailing bytes.

use bincode::config::{self, Configuration};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::message::{ClientMessage, ServerMessage};

/// Largest client message accepted. The largest legal one, `Hello` with a full name, is under
/// 40 bytes; the rest is slack for future fields.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 256;
/// Largest server message a client should accept (a full snapshot of a big crowd fits).
pub const MAX_SERVER_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Why bytes did not become a message.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The input is larger than the limit for its direction.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// bincode could not read a value of the expected type.
    #[error("malformed message: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// A snapshot did not parse with the schema it was read with.
    #[error("malformed snapshot: {0}")]
    Snapshot(crate::snapshot::SnapshotError),
    /// A whole value was read but bytes remain.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// bincode could not write the value (only for types with broken `Serialize` impls).
    #[error("could not encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
}

/// The wire configuration. Encoding has no limit; decoding adds one per direction.
pub const CONFIG: Configuration = config::standard();

/// Encodes any protocol value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(value, CONFIG)?)
}

/// Decodes a value from exactly `bytes`, refusing more than `max` bytes in or out.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_limited::<T, MAX_SERVER_MESSAGE_BYTES>(bytes)
}

fn decode_limited<T: DeserializeOwned, const MAX: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX {
        return Err(CodecError::TooLarge { len: bytes.len(), max: MAX });
    }
    let config = CONFIG.with_limit::<MAX>();
    let (value, used) = bincode::serde::decode_from_slice(bytes, config)?;
    match bytes.len() - used {
        0 => Ok(value),
        extra => Err(CodecError::TrailingBytes(extra)),
    }
}

/// Decodes what a client sent, with the client limit.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMessage, CodecError> {
    decode_limited::<ClientMessage, MAX_CLIENT_MESSAGE_BYTES>(bytes)
}

/// Decodes what a server sent.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMessage, CodecError> {
    decode_limited::<ServerMessage, MAX_SERVER_MESSAGE_BYTES>(bytes)
}

/// Decodes what a server of `schema`'s game sent: a `Snapshot` is parsed with that schema's
/// tables, anything else as [`decode_server`] does.
pub fn decode_server_with(
    bytes: &[u8],
    schema: &std::sync::Arc<crate::schema::Schema>,
) -> Result<ServerMessage, CodecError> {
    if bytes.len() > MAX_SERVER_MESSAGE_BYTES {
        return Err(CodecError::TooLarge { len: bytes.len(), max: MAX_SERVER_MESSAGE_BYTES });
    }
    match bytes.split_first() {
        Some((&SNAPSHOT_VARIANT, body)) => crate::snapshot::Snapshot::from_bytes(schema, body)
            .map(ServerMessage::Snapshot)
            .map_err(CodecError::Snapshot),
        _ => decode_server(bytes),
    }
}

/// Variant index of `ServerMessage::Snapshot`, the first byte of its encoding.
pub const SNAPSHOT_VARIANT: u8 = 1;

/// The per-client start of a `Snapshot` message: variant index and `last_input_seq`.
/// `head ++ Snapshot::write_body(..)` is exactly the encoding of `ServerMessage::Snapshot`, so
/// the body is written once for every client of a (baseline, target) pair.
pub fn snapshot_head(last_input_seq: u32) -> Vec<u8> {
    let mut head = vec![SNAPSHOT_VARIANT];
    crate::snapshot::Snapshot::write_head(last_input_seq, &mut head);
    head
}

/// The protocol version a `Hello` claims, read from its first bytes alone, so that a client of
/// another version, whose `Hello` may be laid out differently, is told so rather than that its
/// bytes are malformed.
pub fn hello_version(bytes: &[u8]) -> Option<u16> {
    let (variant, version): (u32, u16) = bincode::serde::decode_from_slice(bytes, CONFIG).ok()?.0;
    (variant == 0).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshot;

    #[test]
    fn snapshot_head_and_body_concatenate_to_the_message() {
        let snapshot = Snapshot {
            last_input_seq: 65_536,
            tick: 70_000,
            baseline_tick: Some(69_997),
            removed: vec![5, 300],
            ..Default::default()
        };
        let whole = encode(&ServerMessage::Snapshot(snapshot.clone())).expect("encodes");
        let mut parts = snapshot_head(65_536);
        snapshot.write_body(&mut parts);
        assert_eq!(parts, whole, "head ++ body must equal the whole Snapshot encoding");
        assert_eq!(decode_server(&whole).expect("decodes"), ServerMessage::Snapshot(snapshot));
    }

    #[test]
    fn hello_version_is_read_before_the_rest() {
        let v2_hello = [0u8, 2, 3, b'a', b'n', b'n'];
        assert_eq!(hello_version(&v2_hello), Some(2));
        assert!(decode_client(&v2_hello).is_err(), "a v2 Hello lacks the v3 fields");
        assert_eq!(hello_version(&[2, 5]), None, "not a Hello");
        assert_eq!(hello_version(&[]), None);
    }

    #[test]
    fn refuses_oversized_trailing_and_hostile_lengths() {
        let big = vec![0u8; MAX_CLIENT_MESSAGE_BYTES + 1];
        assert!(matches!(decode_client(&big), Err(CodecError::TooLarge { .. })));

        let mut ping = encode(&ClientMessage::Ping { id: 5 }).expect("encodes");
        assert_eq!(decode_client(&ping).expect("decodes"), ClientMessage::Ping { id: 5 });
        ping.push(0);
        assert!(matches!(decode_client(&ping), Err(CodecError::TrailingBytes(1))));

        // Hello whose name claims 2^32 bytes: refused by the limit, not allocated.
        let hostile = [0u8, 1, 252, 0, 0, 0, 0xFF];
        assert!(matches!(decode_client(&hostile), Err(CodecError::Decode(_))));
        // Unknown variant.
        assert!(matches!(decode_client(&[9]), Err(CodecError::Decode(_))));
        assert!(matches!(decode_client(&[]), Err(CodecError::Decode(_))));
    }
}
