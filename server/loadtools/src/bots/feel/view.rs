//! What a feel bot sees of the others: the web client's snapshot buffer
//! (`interpolation.js`, adaptive) in Rust, and the count of rendered jumps ("snaps").
//!
//! Remote entities are drawn a delay behind the estimated server time, interpolated between
//! the two snapshots around it. The delay follows the link like the browser's: one snapshot
//! interval plus the spread of arrival times over the last 40 snapshots plus 10 ms, capped at
//! 250 ms, changed by at most 10% of real time.

use std::collections::{HashMap, VecDeque};

use glam::Vec2;
use shared::EntityKind;

const MAX_DELAY_S: f64 = 0.25;
const DELAY_MARGIN_S: f64 = 0.01;
const JITTER_WINDOW: usize = 40;
const DELAY_SLEW: f64 = 0.1;
const MAX_EXTRAPOLATE_S: f64 = 0.25;
const KEEP_S: f64 = 1.0;
const CLOCK_SNAP_S: f64 = 0.5;
const CLOCK_SMOOTHING: f64 = 0.05;

/// One entity as a snapshot gave it, in world units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Network id.
    pub id: u32,
    /// Kind.
    pub kind: EntityKind,
    /// Position at the snapshot's tick.
    pub pos: Vec2,
    /// Velocity, units per second.
    pub vel: Vec2,
    /// Health (players).
    pub health: u8,
}

struct Frame {
    time: f64,
    entities: Vec<Seen>,
}

/// The interpolation buffer.
pub struct View {
    tick_rate: f64,
    interval: f64,
    frames: VecDeque<Frame>,
    offset: Option<f64>,
    lateness: VecDeque<f64>,
    /// The current delay, seconds.
    pub delay: f64,
    last_sample: Option<f64>,
    /// Frames drawn past the newest snapshot (extrapolated: the buffer ran dry).
    pub underruns: u64,
}

impl View {
    /// A buffer for a server at `tick_rate` sending `snapshot_rate` snapshots a second.
    pub fn new(tick_rate: u16, snapshot_rate: u16) -> Self {
        View {
            tick_rate: f64::from(tick_rate.max(1)),
            interval: 1.0 / f64::from(snapshot_rate.max(1)),
            frames: VecDeque::new(),
            offset: None,
            lateness: VecDeque::new(),
            delay: 0.1,
            last_sample: None,
            underruns: 0,
        }
    }

    /// A snapshot of `tick` arrived at local time `now` (seconds).
    pub fn push(&mut self, tick: u64, entities: Vec<Seen>, now: f64) {
        let time = tick as f64 / self.tick_rate;
        if self.frames.back().is_some_and(|last| time <= last.time) {
            self.frames.clear();
            self.offset = None;
        }
        self.frames.push_back(Frame { time, entities });
        while self.frames.len() > 2 && self.frames[1].time < time - KEEP_S {
            self.frames.pop_front();
        }
        self.lateness.push_back(now - time);
        if self.lateness.len() > JITTER_WINDOW {
            self.lateness.pop_front();
        }
        let sample = time - now;
        self.offset = Some(match self.offset {
            Some(o) if (sample - o).abs() <= CLOCK_SNAP_S => o + (sample - o) * CLOCK_SMOOTHING,
            _ => sample,
        });
    }

    fn target_delay(&self) -> f64 {
        let (lo, hi) =
            self.lateness.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &l| (lo.min(l), hi.max(l)));
        let jitter = if self.lateness.len() < 2 { 0.0 } else { hi - lo };
        (self.interval + jitter + DELAY_MARGIN_S).min(MAX_DELAY_S)
    }

    /// The server time others are drawn at, at local time `now`.
    pub fn render_time(&self, now: f64) -> Option<f64> {
        self.offset.map(|o| now + o - self.delay)
    }

    /// Ticks per second.
    pub fn tick_rate(&self) -> f64 {
        self.tick_rate
    }

    /// The server tick others are drawn at (what an input's `view_tick` carries), or 0.
    pub fn render_tick(&self, now: f64) -> u32 {
        self.render_time(now).map_or(0, |t| (t * self.tick_rate).round().clamp(0.0, f64::from(u32::MAX)) as u32)
    }

    /// The entities as drawn at local time `now`.
    pub fn sample(&mut self, now: f64) -> Vec<Seen> {
        if let Some(last) = self.last_sample.replace(now) {
            let step = DELAY_SLEW * (now - last).clamp(0.0, 0.1);
            let target = self.target_delay();
            self.delay += (target - self.delay).clamp(-step, step);
        }
        let Some(t) = self.render_time(now) else { return Vec::new() };
        if self.frames.back().is_some_and(|newest| t > newest.time) {
            self.underruns += 1;
        }
        self.drawn_at(t)
    }

    /// The entities as drawn at server time `t` (seconds), without moving the delay.
    pub fn drawn_at(&self, t: f64) -> Vec<Seen> {
        let Some(newest) = self.frames.back() else { return Vec::new() };
        if self.frames.len() == 1 || t >= newest.time {
            let ahead = (t - newest.time).clamp(0.0, MAX_EXTRAPOLATE_S) as f32;
            return newest.entities.iter().map(|e| Seen { pos: e.pos + e.vel * ahead, ..*e }).collect();
        }
        let first = &self.frames[0];
        if t <= first.time {
            return first.entities.clone();
        }
        let mut i = self.frames.len() - 2;
        while i > 0 && self.frames[i].time > t {
            i -= 1;
        }
        let (a, b) = (&self.frames[i], &self.frames[i + 1]);
        let span = b.time - a.time;
        let f = if span > 0.0 { ((t - a.time) / span) as f32 } else { 1.0 };
        b.entities
            .iter()
            .map(|eb| match a.entities.iter().find(|ea| ea.id == eb.id) {
                None => Seen { pos: eb.pos - eb.vel * (b.time - t) as f32, ..*eb },
                Some(ea) => {
                    let nearer = if f < 0.5 { ea } else { eb };
                    let speed = ea.vel.length().max(eb.vel.length());
                    let allowed = speed * span as f32 * 2.0 + 64.0;
                    // A respawn is a teleport however near the spawn point: never slide a player
                    // from where it died to where it comes back.
                    let respawned = eb.kind == EntityKind::Player && ea.health == 0 && eb.health > 0;
                    if respawned || ea.pos.distance_squared(eb.pos) > allowed * allowed {
                        *nearer
                    } else {
                        Seen { pos: ea.pos.lerp(eb.pos, f), ..*nearer }
                    }
                }
            })
            .collect()
    }
}

/// Fastest an entity of `kind` moves, units per second.
pub fn max_speed(kind: EntityKind) -> f32 {
    match kind {
        EntityKind::Player => shared::movement::PLAYER_SPEED,
        EntityKind::Npc => engine::games::arena::rules::CROWD_SPEED,
        EntityKind::Projectile => engine::games::arena::rules::PROJECTILE_SPEED,
    }
}

/// Counts rendered jumps: an entity drawn more than 3 × its kind's top speed per 60 fps
/// frame from where it was drawn in the frame before. Players dead in either frame (a respawn
/// is a teleport) do not count. A frame that came late (the bot's own process stalled: a
/// hitch, not the network) allows for its real length.
#[derive(Default)]
pub struct SnapCounter {
    last: HashMap<u32, Seen>,
    /// Jumps seen.
    pub snaps: u64,
    /// Frames looked at.
    pub frames: u64,
    /// Entity-frames looked at.
    pub samples: u64,
}

impl SnapCounter {
    /// One drawn frame of the others, `dt` seconds after the one before.
    pub fn frame(&mut self, drawn: &[Seen], dt: f64) {
        let frames = (dt * 60.0).max(1.0) as f32;
        self.frames += 1;
        let mut next = HashMap::with_capacity(drawn.len());
        for e in drawn {
            if let Some(before) = self.last.get(&e.id) {
                let living = e.kind != EntityKind::Player || (e.health > 0 && before.health > 0);
                self.samples += 1;
                if living && before.pos.distance(e.pos) > 3.0 * max_speed(e.kind) / 60.0 * frames {
                    self.snaps += 1;
                }
            }
            next.insert(e.id, *e);
        }
        self.last = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(x: f32) -> Vec<Seen> {
        vec![Seen { id: 1, kind: EntityKind::Player, pos: Vec2::new(x, 0.0), vel: Vec2::new(200.0, 0.0), health: 100 }]
    }

    #[test]
    fn a_steady_runner_is_drawn_without_snaps_and_the_delay_settles() {
        let mut view = View::new(60, 20);
        let mut snaps = SnapCounter::default();
        let mut next_tick = 3u64;
        for frame in 0..600u32 {
            let now = f64::from(frame) / 60.0;
            // Snapshots arrive 50 ms after they are made, jittered by up to ±15 ms in order.
            while (next_tick as f64 / 60.0) + 0.05 + 0.015 * ((next_tick % 7) as f64 / 3.0 - 1.0) <= now {
                view.push(next_tick, runner(200.0 * next_tick as f32 / 60.0), now);
                next_tick += 3;
            }
            snaps.frame(&view.sample(now), 1.0 / 60.0);
        }
        assert_eq!(snaps.snaps, 0, "no jumps");
        assert!(snaps.samples > 500);
        assert!(view.delay > 0.05 && view.delay < 0.1, "delay {}", view.delay);
    }

    #[test]
    fn a_jump_is_counted_but_a_respawn_is_not() {
        let mut snaps = SnapCounter::default();
        let at = |x: f32, health: u8| Seen {
            id: 1,
            kind: EntityKind::Player,
            pos: Vec2::new(x, 0.0),
            vel: Vec2::ZERO,
            health,
        };
        snaps.frame(&[at(0.0, 100)], 1.0 / 60.0);
        snaps.frame(&[at(3.0, 100)], 1.0 / 60.0);
        snaps.frame(&[at(50.0, 100)], 1.0 / 60.0);
        assert_eq!(snaps.snaps, 1);
        snaps.frame(&[at(50.0, 0)], 1.0 / 60.0);
        snaps.frame(&[at(900.0, 100)], 1.0 / 60.0);
        assert_eq!(snaps.snaps, 1, "dead, then back elsewhere: not a snap");
    }
}
