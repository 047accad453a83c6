//! Byte primitives of the snapshot format: LEB128 unsigned varints, zigzag signed varints,
//! raw bytes. Reading goes through [`Source`] so that one parser serves a byte slice and
//! serde's element-by-element access alike.

use super::SnapshotError;

/// Where the parser takes bytes from.
pub trait Source {
    /// The next byte, or [`SnapshotError::Truncated`].
    fn byte(&mut self) -> Result<u8, SnapshotError>;
    /// An upper bound on the bytes left, where known (used to refuse absurd counts early).
    fn remaining_hint(&self) -> Option<usize>;
}

/// A [`Source`] over a slice.
pub struct SliceSource<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    /// Reads `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        SliceSource { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Source for SliceSource<'_> {
    fn byte(&mut self) -> Result<u8, SnapshotError> {
        let b = *self.bytes.get(self.pos).ok_or(SnapshotError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn remaining_hint(&self) -> Option<usize> {
        Some(self.bytes.len() - self.pos)
    }
}

/// Appends an unsigned LEB128 varint: 7 bits a byte, low bits first, high bit set on every
/// byte but the last.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed value as zigzag (0, -1, 1, -2, … → 0, 1, 2, 3, …) then LEB128.
pub fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Reads an unsigned LEB128 varint of at most 64 bits, in its shortest form.
pub fn get_varint(src: &mut impl Source) -> Result<u64, SnapshotError> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = src.byte()?;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(SnapshotError::Malformed("varint over 64 bits"));
        }
        value |= bits << shift;
        if b & 0x80 == 0 {
            if b == 0 && shift > 0 {
                return Err(SnapshotError::Malformed("varint not in its shortest form"));
            }
            return Ok(value);
        }
    }
    Err(SnapshotError::Malformed("varint over 64 bits"))
}

/// Reads a zigzag varint.
pub fn get_zigzag(src: &mut impl Source) -> Result<i64, SnapshotError> {
    let raw = get_varint(src)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Reads a varint that must fit `max`; `what` names it in the error.
pub fn get_bounded(src: &mut impl Source, max: u64, what: &'static str) -> Result<u64, SnapshotError> {
    let value = get_varint(src)?;
    if value > max {
        return Err(SnapshotError::OutOfRange(what));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn varints_round_trip_and_are_shortest() {
        for value in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let bytes = bytes_of(|o| put_varint(o, value));
            let mut src = SliceSource::new(&bytes);
            assert_eq!(get_varint(&mut src).expect("decodes"), value);
            assert_eq!(src.position(), bytes.len(), "{value} uses every byte");
        }
        assert_eq!(bytes_of(|o| put_varint(o, 300)), [0xac, 0x02]);
        assert!(get_varint(&mut SliceSource::new(&[0x80, 0x00])).is_err(), "overlong zero");
        assert!(get_varint(&mut SliceSource::new(&[0xff; 11])).is_err(), "over 64 bits");
        assert!(matches!(get_varint(&mut SliceSource::new(&[0x80])), Err(SnapshotError::Truncated)));
    }

    #[test]
    fn zigzag_round_trips() {
        for value in [0i64, -1, 1, -64, 63, 64, -8192, i64::MIN, i64::MAX] {
            let bytes = bytes_of(|o| put_zigzag(o, value));
            assert_eq!(get_zigzag(&mut SliceSource::new(&bytes)).expect("decodes"), value);
        }
        assert_eq!(bytes_of(|o| put_zigzag(o, -1)), [1]);
        assert_eq!(bytes_of(|o| put_zigzag(o, 63)), [126]);
        assert_eq!(bytes_of(|o| put_zigzag(o, -65)), [0x81, 0x01]);
    }
}
