//! How the bots join: a sibling of [`super::client`] and the fleet, so that each bot reads it
//! without importing the command that starts it.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// How the bots join.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Spectators: no entity, no player slot, no inputs (only a `Ping` a second).
    Idle,
    /// Players: 60 inputs a second, turning every second; input → snapshot latency measured.
    Play,
    /// Players in pairs, a shooter and a strafing target, who predict themselves, draw others
    /// through the browser's interpolation and shoot at what they see; reports corrections,
    /// rendered jumps and hit registration ([`feel`]).
    Feel,
}

impl Mode {
    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Idle => "idle",
            Mode::Play => "play",
            Mode::Feel => "feel",
        }
    }
}
