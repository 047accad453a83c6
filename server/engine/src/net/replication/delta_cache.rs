//! Encoded snapshot bodies, shared by every connection: the delta from one frame to another
//! is encoded once, by the first writer that needs it, and reused by every other client with
//! the same (baseline, target) pair, which in a steady game is nearly all of them. Only the
//! few-byte head (`last_input_seq`) is per client.
//!
//! Bodies are kept for the newest few targets only: a writer always takes the newest state
//! from its slot, so older targets are not asked for again.
//!
//! Only deltas between world frames (`Frame::view` 0) are shared. A client under interest
//! management gets frames of its own (`view` = its id), whose deltas no one else can use:
//! those are encoded by its writer directly, without the lock or the map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use shared::Snapshot;
use shared::snapshot::Frame;

/// Targets older than the newest by more than this many frames are dropped from the cache.
const KEEP_TARGETS: u64 = 4;

/// `(baseline serial or 0 for a keyframe, target serial)`.
type Key = (u64, u64);

/// The shared cache of encoded snapshot bodies.
#[derive(Default)]
pub struct DeltaCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    newest: u64,
    bodies: HashMap<Key, Arc<OnceLock<Bytes>>>,
}

impl DeltaCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The body of the snapshot taking a client from `baseline` to `target`: a delta if
    /// `baseline` can serve as its base (see [`Frame::can_base`]), else a keyframe. Encoded at
    /// most once per pair while the target is recent; the encoding runs outside the lock.
    /// A pair involving a client's own filtered frame is encoded every time (it has one user).
    pub fn body(&self, baseline: Option<&Frame>, target: &Frame) -> Bytes {
        let baseline = baseline.filter(|b| b.can_base(target));
        if target.view != 0 || baseline.is_some_and(|b| b.view != 0) {
            return encode(baseline, target);
        }
        let key = (baseline.map_or(0, |b| b.serial), target.serial);
        let cell = {
            let mut inner = self.lock();
            if target.serial > inner.newest {
                inner.newest = target.serial;
                let oldest = target.serial.saturating_sub(KEEP_TARGETS);
                inner.bodies.retain(|(_, t), _| *t >= oldest);
            }
            inner.bodies.entry(key).or_default().clone()
        };
        cell.get_or_init(|| encode(baseline, target)).clone()
    }

    /// How many bodies are cached (for tests).
    pub fn len(&self) -> usize {
        self.lock().bodies.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn encode(baseline: Option<&Frame>, target: &Frame) -> Bytes {
    let mut body = Vec::new();
    Snapshot::between(baseline, target).write_body(&mut body);
    body.into()
}

#[cfg(test)]
mod tests {
    use shared::EntityKind;
    use shared::snapshot::EntityRecord;

    use super::*;

    fn frame(serial: u64, npcs: u32) -> Frame {
        let entities = (1..=npcs)
            .map(|id| EntityRecord { pos: [id as i32, 0], ..EntityRecord::blank(id, EntityKind::Npc.index()) });
        Frame {
            schema: shared::arena::schema(),
            serial,
            epoch: 0,
            tick: serial * 3,
            tick_rate: 60,
            view: 0,
            entities: entities.collect(),
        }
    }

    #[test]
    fn one_encoding_per_pair_and_old_targets_are_dropped() {
        let cache = DeltaCache::default();
        let (a, b) = (frame(1, 3), frame(2, 4));
        let delta = cache.body(Some(&a), &b);
        assert_eq!(delta.as_ptr(), cache.body(Some(&a), &b).as_ptr(), "the same pair shares its bytes");
        let key = cache.body(None, &b);
        assert!(key.len() > delta.len(), "a keyframe carries everything");
        assert_eq!(cache.len(), 2);
        for serial in 3..10 {
            cache.body(None, &frame(serial, 1));
        }
        assert!(cache.len() <= KEEP_TARGETS as usize + 1, "{} bodies kept", cache.len());
    }

    #[test]
    fn filtered_frames_are_never_mixed_up_with_world_frames_of_the_same_serial() {
        let cache = DeltaCache::default();
        let (a, b) = (frame(1, 6), frame(2, 6));
        let world = cache.body(Some(&a), &b);
        // Client 5 was sent NPCs 1 to 3 of frame 1, and gets NPCs 2 to 4 of frame 2.
        let view = |f: &Frame, ids: std::ops::RangeInclusive<u32>| Frame {
            view: 5,
            entities: f.entities.iter().filter(|r| ids.contains(&r.id)).cloned().collect(),
            ..f.clone()
        };
        let (va, vb) = (view(&a, 1..=3), view(&b, 2..=4));
        let filtered = cache.body(Some(&va), &vb);
        let expected = Snapshot::between(Some(&va), &vb);
        assert_eq!((expected.removed.as_slice(), expected.created.len()), (&[1][..], 1), "NPC 1 leaves, NPC 4 enters");
        assert_eq!(filtered, encode(Some(&va), &vb));
        assert_ne!(filtered, world);
        assert_eq!(cache.body(Some(&a), &b), world, "the world's delta is still the world's");
        assert_eq!(cache.len(), 1, "filtered bodies are not cached");
    }

    #[test]
    fn a_baseline_outside_the_window_gets_a_keyframe() {
        let cache = DeltaCache::default();
        let old = frame(1, 3);
        let target = frame(1 + shared::snapshot::HISTORY + 1, 3);
        let body = cache.body(Some(&old), &target);
        assert_eq!(body, cache.body(None, &target), "too old a baseline: keyframe");
    }
}
