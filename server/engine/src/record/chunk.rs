//! Chunk framing: `length · payload · CRC-32`, written and read one chunk at a time.

use std::io::{self, Write};

use super::format::{Chunk, FORMAT_VERSION, MAGIC, MAX_CHUNK_BYTES, MAX_TICKS_CHUNK_BYTES, TICKS_VARIANT};

/// Appends one chunk to `out`.
pub fn write_chunk(out: &mut impl Write, chunk: &Chunk) -> io::Result<usize> {
    let payload = shared::codec::encode(chunk).map_err(io::Error::other)?;
    let len = u32::try_from(payload.len()).ok().filter(|l| *l <= MAX_CHUNK_BYTES);
    let len = len.ok_or_else(|| io::Error::other("chunk too large"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&payload)?;
    out.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
    Ok(payload.len() + 8)
}

/// The outcome of reading one chunk from a byte slice.
#[derive(Debug)]
pub enum ReadChunk {
    /// A whole, valid chunk, and the bytes it took.
    Chunk(Box<Chunk>, usize),
    /// No bytes left.
    Eof,
    /// The bytes end inside a chunk (the writer was killed mid-chunk).
    Truncated,
    /// The chunk is damaged; why.
    Corrupt(String),
}

/// Reads the chunk at the start of `bytes`.
pub fn read_chunk(bytes: &[u8]) -> ReadChunk {
    if bytes.is_empty() {
        return ReadChunk::Eof;
    }
    let Some(len) = bytes.get(..4) else { return ReadChunk::Truncated };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    if len > MAX_CHUNK_BYTES {
        return ReadChunk::Corrupt(format!("chunk length {len} exceeds the limit of {MAX_CHUNK_BYTES}"));
    }
    let end = 4 + len as usize;
    let (Some(payload), Some(crc)) = (bytes.get(4..end), bytes.get(end..end + 4)) else {
        return ReadChunk::Truncated;
    };
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = crc32fast::hash(payload);
    if stored != actual {
        return ReadChunk::Corrupt(format!("CRC mismatch (stored {stored:08x}, computed {actual:08x})"));
    }
    if payload.first() == Some(&TICKS_VARIANT) && len > MAX_TICKS_CHUNK_BYTES {
        return ReadChunk::Corrupt(format!(
            "a tick batch of {len} bytes exceeds the limit of {MAX_TICKS_CHUNK_BYTES} (the writer cuts them far smaller)"
        ));
    }
    match shared::codec::decode::<Chunk>(payload) {
        Ok(chunk) => ReadChunk::Chunk(Box::new(chunk), end + 4),
        Err(e) => ReadChunk::Corrupt(format!("undecodable payload: {e}")),
    }
}

/// The complete, valid chunks of a recording file, in order (for tools that rewrite files;
/// [`crate::record::reader`] is the checking reader).
pub fn split(file: &[u8]) -> Vec<Chunk> {
    let mut offset = MAGIC.len() + 2;
    let mut out = Vec::new();
    while let Some(rest) = file.get(offset..)
        && let ReadChunk::Chunk(chunk, used) = read_chunk(rest)
    {
        out.push(*chunk);
        offset += used;
    }
    out
}

/// A recording file made of `chunks`, in the current format.
pub fn assemble(chunks: &[Chunk]) -> io::Result<Vec<u8>> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    for chunk in chunks {
        write_chunk(&mut bytes, chunk)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_damage_is_detected() {
        let chunk = Chunk::End { last_tick: 99 };
        let mut bytes = Vec::new();
        let written = write_chunk(&mut bytes, &chunk).expect("write");
        assert_eq!(written, bytes.len());
        match read_chunk(&bytes) {
            ReadChunk::Chunk(read, used) => assert_eq!((*read, used), (chunk, bytes.len())),
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_chunk(&bytes[..bytes.len() - 1]), ReadChunk::Truncated));
        assert!(matches!(read_chunk(&bytes[..2]), ReadChunk::Truncated));
        let mut flipped = bytes.clone();
        flipped[5] ^= 0x40;
        assert!(matches!(read_chunk(&flipped), ReadChunk::Corrupt(why) if why.contains("CRC")));
        assert!(matches!(read_chunk(&[]), ReadChunk::Eof));
    }
}
