//! Each player's input jitter buffer: what happens to inputs between their arrival and the
//! tick that applies them. One input is applied per tick, so the server walks the same path the
//! client predicted; the buffer grows only as much as the link's jitter needs, and never holds
//! the surplus of a client whose clock runs fast.
//!
//! The policy (also in WIRE.md):
//! - **In order, one per tick.** Each tick takes the oldest input waiting. Inputs arrive in
//!   order (TCP), so no reordering is needed.
//! - **Duplicate or stale** (a `seq` not above the newest seen): dropped.
//! - **Missing** (nothing waiting at a tick: the input is late, or the client is slow): the
//!   input in force repeats, as keys are held. A late input is applied when it comes.
//! - **Surplus**: after taking one, at most `depth` inputs stay waiting; older ones beyond that
//!   are merged into the one applied by the game's [`GameInput::merge`] (the arena keeps the
//!   later movement and aim and adds the fire buttons up, so no shot is lost). At depth 0 the
//!   newest input waiting is applied, which keeps a fast client from building up latency.
//! - **Depth** starts at 0 and adapts within [0, [`MAX_DEPTH`]] ticks: a tick that finds
//!   more inputs waiting than it holds (depth + 1) within [`BUNCH_WINDOW`] ticks after one
//!   that found none is jitter (a slow client starves but never bunches, a fast one bunches
//!   but never starves), and deepens the buffer by one; [`CALM_TICKS`] without such an event make it one shallower.
//! - **Early** inputs wait, at most [`CAPACITY`]; beyond that the oldest is merged into the
//!   next, so a flood costs no memory.
//!
//! A replay feeds at most one input per tick, so its buffer stays at depth 0 and applies each
//! recorded input at its recorded tick.

use std::collections::VecDeque;

use bevy_ecs::prelude::Component;
use serde::{Deserialize, Serialize};
use shared::{GameInput, InputFrame};

/// Most ticks of jitter absorbed (50 ms at 60 Hz).
pub const MAX_DEPTH: u8 = 3;
/// Most inputs waiting; more are merged, oldest first.
pub const CAPACITY: usize = 8;
/// Ticks after a starved one in which a bunch counts as jitter.
pub const BUNCH_WINDOW: u32 = 3;
/// Ticks without jitter before the buffer gets one shallower (10 s at 60 Hz).
pub const CALM_TICKS: u32 = 600;

/// One input as the buffer holds it: the frame's sequence and view tick, and the game's input,
/// decoded and checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queued<I> {
    /// The frame's sequence number.
    pub seq: u32,
    /// The frame's view tick (0: unknown).
    pub view_tick: u32,
    /// The game's input.
    pub input: I,
}

impl<I: GameInput> Queued<I> {
    /// The input of `frame`, if its game part decodes and passes the game's checks.
    pub fn of(frame: &InputFrame) -> Result<Self, &'static str> {
        Ok(Queued { seq: frame.seq, view_tick: frame.view_tick, input: I::decode(&frame.data)? })
    }

    /// As a frame again (what the journal records).
    pub fn frame(&self) -> InputFrame {
        InputFrame::new(self.seq, self.view_tick, &self.input)
    }

    /// Folds `older` into this later input: the game's merge.
    fn merge(&mut self, older: &Self) {
        self.input.merge(&older.input);
    }
}

/// Inputs received from a player's client and not yet applied, the one in force, and the
/// buffer's adaptive depth.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "I: GameInput")]
pub struct InputQueue<I: GameInput> {
    /// Received and not applied yet, oldest first.
    pub pending: VecDeque<Queued<I>>,
    /// The input in force; repeated on ticks when none is waiting (keys stay held).
    pub current: Queued<I>,
    /// Inputs that may stay waiting after a tick takes one.
    pub depth: u8,
    /// Ticks since one found nothing waiting (saturating); None: none has yet.
    since_starved: Option<u32>,
    /// Ticks since the depth last changed or jitter was last seen.
    calm: u32,
    /// Counters for operators: ticks with nothing waiting, inputs merged, inputs dropped.
    pub stats: InputStats,
}

impl<I: GameInput> Default for InputQueue<I> {
    fn default() -> Self {
        InputQueue {
            pending: VecDeque::new(),
            current: Queued::default(),
            depth: 0,
            since_starved: None,
            calm: 0,
            stats: InputStats::default(),
        }
    }
}

/// What the buffer did, counted since the player joined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStats {
    /// Ticks that found no input waiting (the previous one repeated).
    pub starved: u64,
    /// Inputs merged into a later one (surplus, or over capacity).
    pub merged: u64,
    /// Duplicate or stale inputs dropped.
    pub dropped: u64,
}

impl<I: GameInput> InputQueue<I> {
    /// Takes an input as it arrives. Returns false when it was dropped as stale.
    pub fn push(&mut self, input: Queued<I>) -> bool {
        let newest = self.pending.back().unwrap_or(&self.current).seq;
        if input.seq <= newest {
            self.stats.dropped += 1;
            return false;
        }
        if self.pending.len() >= CAPACITY
            && let Some(oldest) = self.pending.pop_front()
            && let Some(next) = self.pending.front_mut()
        {
            next.merge(&oldest);
            self.stats.merged += 1;
        }
        self.pending.push_back(input);
        true
    }

    /// Once per tick: the input to apply now, if a new one is due (else `current` repeats).
    pub fn take(&mut self) -> Option<&Queued<I>> {
        let waiting = self.pending.len();
        if waiting == 0 {
            self.since_starved = Some(0);
            self.stats.starved += 1;
            self.settle();
            return None;
        }
        self.since_starved = self.since_starved.map(|t| t.saturating_add(1));
        let after_starving = self.since_starved.is_some_and(|t| t <= BUNCH_WINDOW);
        if waiting > usize::from(self.depth) + 1 && after_starving && self.depth < MAX_DEPTH {
            self.depth += 1;
            self.calm = 0;
        } else {
            self.settle();
        }
        let keep = (waiting - 1).min(usize::from(self.depth));
        let mut applied = self.pending.pop_front()?;
        for _ in 0..(waiting - 1 - keep) {
            let Some(mut next) = self.pending.pop_front() else { break };
            next.merge(&applied);
            applied = next;
            self.stats.merged += 1;
        }
        self.current = applied;
        Some(&self.current)
    }

    fn settle(&mut self) {
        self.calm = self.calm.saturating_add(1);
        if self.calm >= CALM_TICKS && self.depth > 0 {
            self.depth -= 1;
            self.calm = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use glam::Vec2;
    use shared::arena::{Buttons, Input};

    use super::*;

    type InputQueue = super::InputQueue<Input>;

    fn input(seq: u32) -> Queued<Input> {
        Queued {
            seq,
            view_tick: 0,
            input: Input { movement: Vec2::new(seq as f32 / 1000.0, 0.0), aim: 0.0, buttons: 0 },
        }
    }

    /// Runs `arrivals[t]` inputs arriving before tick t; returns the seq applied at each tick
    /// (None: repeated).
    fn run(queue: &mut InputQueue, arrivals: &[usize]) -> Vec<Option<u32>> {
        let mut seq = 0;
        arrivals
            .iter()
            .map(|&n| {
                for _ in 0..n {
                    seq += 1;
                    queue.push(input(seq));
                }
                queue.take().map(|i| i.seq)
            })
            .collect()
    }

    #[test]
    fn a_steady_client_is_applied_one_input_per_tick_with_nothing_held() {
        let mut q = InputQueue::default();
        let applied = run(&mut q, &[1; 100]);
        assert!(applied.iter().enumerate().all(|(i, s)| *s == Some(i as u32 + 1)), "{applied:?}");
        assert_eq!((q.depth, q.pending.len()), (0, 0));
    }

    #[test]
    fn a_fast_client_never_builds_a_queue() {
        // 63 inputs per 60 ticks: every 20th tick brings two.
        let arrivals: Vec<usize> = (0..600).map(|t| if t % 20 == 19 { 2 } else { 1 }).collect();
        let mut q = InputQueue::default();
        run(&mut q, &arrivals);
        assert_eq!(q.depth, 0, "a fast client does not look like jitter");
        assert!(q.pending.is_empty(), "its surplus is merged, not held");
        assert_eq!(q.stats.merged, 30);
    }

    #[test]
    fn a_slow_client_repeats_without_deepening_the_buffer() {
        let arrivals: Vec<usize> = (0..600).map(|t| if t % 20 == 19 { 0 } else { 1 }).collect();
        let mut q = InputQueue::default();
        let applied = run(&mut q, &arrivals);
        assert_eq!(q.depth, 0);
        assert_eq!(applied.iter().filter(|s| s.is_none()).count(), 30, "each missing tick repeats");
        assert_eq!(q.stats.merged, 0, "and nothing is lost");
    }

    #[test]
    fn jitter_deepens_the_buffer_until_every_input_gets_its_own_tick() {
        // A 60 Hz client over a jittery link: pairs of ticks get 0 then 2 inputs.
        let arrivals: Vec<usize> = (0..600).map(|t| [1, 0, 2, 1, 1, 0, 2, 1][t % 8]).collect();
        let mut q = InputQueue::default();
        let applied = run(&mut q, &arrivals);
        assert_eq!(q.depth, 1, "one tick of depth absorbs one tick of jitter");
        let tail = &applied[100..];
        assert!(tail.iter().all(Option::is_some), "no tick starves once deep enough");
        let seqs: Vec<u32> = tail.iter().flatten().copied().collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "one input per tick, in order, none merged");
        // Calm again: the depth goes back down.
        let mut seq = seqs.last().copied().unwrap_or(0);
        for _ in 0..(CALM_TICKS as usize + 10) {
            seq += 1;
            q.push(input(seq));
            q.take();
        }
        assert_eq!(q.depth, 0, "no jitter for {CALM_TICKS} ticks");
    }

    #[test]
    fn depth_is_bounded_and_a_flood_is_merged_without_losing_shots() {
        let mut q = InputQueue::default();
        let bursts: Vec<usize> = (0..100).map(|t| if t % 5 == 4 { 5 } else { 0 }).collect();
        run(&mut q, &bursts);
        assert_eq!(q.depth, MAX_DEPTH);
        let mut q = InputQueue::default();
        for seq in 1..=100 {
            let mut i = input(seq);
            if seq == 3 {
                i.input.buttons = Buttons::FIRE;
            }
            q.push(i);
        }
        assert_eq!(q.pending.len(), CAPACITY);
        let applied = q.take().map(|i| (i.seq, i.input.fire()));
        assert_eq!(applied, Some((100, true)), "the newest input, carrying the early shot");
    }

    #[test]
    fn stale_and_duplicate_inputs_are_dropped() {
        let mut q = InputQueue::default();
        assert!(q.push(input(5)));
        assert!(!q.push(input(5)));
        assert!(!q.push(input(4)));
        q.take();
        assert!(!q.push(input(5)), "below the input in force");
        assert_eq!(q.stats.dropped, 3);
    }
}
