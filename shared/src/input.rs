//! One tick of a player's input as it travels: the engine's part ([`InputFrame`]: sequence and
//! view tick) around the game's part, which each game defines as a [`GameInput`] and encodes
//! with the protocol codec. The engine carries, buffers, records and replays the game's bytes
//! without knowing their fields.
//!
//! The bytes are bincode `standard`, the codec's configuration, written here without going
//! through `codec`, which sits above the message types (as `schema` does for its hash).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest encoded game input, in bytes: an input is a handful of controls, and the engine
/// refuses a frame whose game part is longer before anything decodes it.
pub const MAX_INPUT_BYTES: usize = 64;

/// One tick of input for the sending client's player.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InputFrame {
    /// Client-chosen, increasing sequence number; echoed back in snapshots as
    /// `last_input_seq` so the client knows which inputs the server has applied.
    pub seq: u32,
    /// The server tick at which the client was drawing other entities when it made this input
    /// (its interpolation delay plus its latency behind the server); 0: unknown. A game with
    /// lag compensation judges the input against the world as it was then.
    pub view_tick: u32,
    /// The game's input, encoded with the protocol codec (at most [`MAX_INPUT_BYTES`]).
    pub data: Vec<u8>,
}

impl InputFrame {
    /// A frame carrying `input`.
    pub fn new<I: GameInput>(seq: u32, view_tick: u32, input: &I) -> Self {
        let data = bincode::serde::encode_to_vec(input, bincode::config::standard()).unwrap_or_default();
        InputFrame { seq, view_tick, data }
    }

    /// The engine's checks; the game's part is checked by [`GameInput::decode`].
    pub fn verify(&self) -> Result<(), &'static str> {
        check_len(&self.data)
    }
}

/// A game input's bytes are at most [`MAX_INPUT_BYTES`].
fn check_len(data: &[u8]) -> Result<(), &'static str> {
    if data.len() > MAX_INPUT_BYTES {
        return Err("game input longer than 64 bytes");
    }
    Ok(())
}

/// A game's input for one tick: what its client sends and its systems read.
pub trait GameInput:
    Serialize + DeserializeOwned + Clone + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
    /// Checks the ranges; the simulation only ever sees inputs that pass.
    fn verify(&self) -> Result<(), &'static str>;

    /// Folds `older`, a surplus input that will not be applied on a tick of its own, into this
    /// later one (the jitter buffer applies one input per tick). The default keeps this one;
    /// a game keeps what must not be lost, such as a press of fire.
    fn merge(&mut self, older: &Self) {
        let _ = older;
    }

    /// The input in `data`, checked: exactly one value, and in range.
    fn decode(data: &[u8]) -> Result<Self, &'static str> {
        check_len(data)?;
        let (input, read): (Self, usize) = bincode::serde::decode_from_slice(data, bincode::config::standard())
            .map_err(|_| "game input does not decode")?;
        if read != data.len() {
            return Err("game input does not decode");
        }
        input.verify()?;
        Ok(input)
    }
}
