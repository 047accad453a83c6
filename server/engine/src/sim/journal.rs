//! What the simulation consumed in the current tick, in the order it consumed them: the
//! input of a recording. Filled only when enabled (when recording); drained after each step.
//!
//! Order within a tick: leaves (receive stage), then joins (admission), then chat lines, then
//! inputs as applied (input stage, players in `NetId` order). Feeding the same entries back into the
//! inbox at the same tick reproduces the tick exactly (see `record::replay`).

use bevy_ecs::prelude::Resource;
use shared::InputFrame;

use crate::bridge::ClientId;

/// One consumed event.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalEntry {
    /// A player joined with this name.
    Join {
        /// Its client.
        client: ClientId,
        /// Its name, trimmed.
        name: String,
    },
    /// A joined player left.
    Leave {
        /// Its client.
        client: ClientId,
    },
    /// A player's input was applied (a newly received one; repeats of a held input are not
    /// entries, as they follow from the previous one).
    Input {
        /// Its client.
        client: ClientId,
        /// The input, as a frame: sequence, view tick and the game's input.
        frame: InputFrame,
    },
    /// A chat line was broadcast (it changes no state; replays play it back).
    Chat {
        /// The sender; `ClientId(0)` for a server announcement.
        client: ClientId,
        /// The sender's name as broadcast.
        name: String,
        /// The line.
        text: String,
    },
}

/// The journal of the current tick.
#[derive(Resource, Debug, Default)]
pub struct Journal {
    /// Whether systems record into it.
    pub enabled: bool,
    /// This tick's entries.
    pub entries: Vec<JournalEntry>,
}

impl Journal {
    /// Records an entry if enabled.
    pub fn record(&mut self, entry: JournalEntry) {
        if self.enabled {
            self.entries.push(entry);
        }
    }
}
