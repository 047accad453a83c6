//! Input stage, the engine's part: each player takes its input for this tick from its jitter
//! buffer ([`crate::sim::input_buffer`]: one per tick, surplus merged, a missing one repeats
//! the last), in `NetId` order, and a newly taken one is journaled. The game's input systems
//! then read each queue's `current`.

use bevy_ecs::prelude::*;
use bevy_ecs::world::EntityRef;
use shared::GameInput;

use crate::bridge::ClientId;
use crate::sim::components::{InputQueue, NetId, Replicated};
use crate::sim::journal::{Journal, JournalEntry};
use crate::sim::saved::encode_part;

/// Takes each player's input for the tick.
pub fn take_inputs<I: GameInput>(
    mut players: Query<(&NetId, &Replicated, &mut InputQueue<I>)>,
    mut journal: ResMut<Journal>,
) {
    // The journal's order is the order inputs replay in.
    let mut ordered: Vec<_> = players.iter_mut().collect();
    ordered.sort_unstable_by_key(|(id, ..)| **id);
    for (_, replicated, mut queue) in ordered {
        if let Some(taken) = queue.take()
            && journal.enabled
        {
            let frame = taken.frame();
            journal.record(JournalEntry::Input { client: ClientId(replicated.owner), frame });
        }
    }
}

/// What a state digest hashes of an input queue: the input in force (`seq · view_tick · the
/// game's input`). Inputs received and not applied yet are not state: a replay feeds inputs
/// exactly when they were applied, so its queues differ from the live run's while its world
/// does not.
pub fn digest_queue<I: GameInput>(entity: &EntityRef, out: &mut Vec<u8>) -> bool {
    entity.get::<InputQueue<I>>().is_some_and(|queue| encode_part(&queue.current, out))
}
