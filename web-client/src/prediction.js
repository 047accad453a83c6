// Client-side prediction and reconciliation of the own player. Each input sent moves the
// predicted player at once by the server's own rules (movement.js). Each snapshot says where
// the server had the player after the input `last_input_seq`: the prediction restarts from
// there and replays the inputs the server has not applied yet. What that changes (the
// correction) is not shown as a jump: it becomes a visual offset that decays in a few frames.
// While the player is dead the server's position is shown as it is. No DOM here.
import { prepareMap, step, tickDt } from './movement.js';

/** Visual correction decays at this rate (per second): ~90% gone in 0.15 s. */
const SMOOTH_RATE = 15;
/** A correction longer than this is a respawn or a teleport: shown at once, not smoothed. */
export const SNAP_DISTANCE = 100;
/** Inputs kept unacknowledged at most (2 s at 60 Hz): a stalled link must not grow memory. */
const MAX_PENDING = 120;
/** Corrections kept for the figures (`stats()`). */
const STATS_WINDOW = 4096;

/** Whether u32 sequence number `a` comes after `b` (wrapping). */
export function seqAfter(a, b) {
  return ((a - b) >>> 0) !== 0 && ((a - b) >>> 0) < 0x80000000;
}

export class Predictor {
  /** `map`: Welcome.map; `tickRate`: Welcome.tick_rate. */
  constructor(map, tickRate) {
    this.map = prepareMap(map);
    this.dt = tickDt(tickRate);
    /** Inputs sent and not yet acknowledged: { seq, mx, my } in f32. */
    this.pending = [];
    /** Predicted position [x, y], or null before the first snapshot with the own player. */
    this.pos = null;
    this.alive = false;
    /** Visual offset still to decay, added to the predicted position when drawn. */
    this.offset = [0, 0];
    /** Magnitudes of the corrections of living players, newest last (bounded). */
    this.corrections = [];
    this.snaps = 0;
  }

  /**
   * An input was sent: step the prediction with it. `{ seq, movement: { x, y } }`: the frame's
   * seq and the controls its bytes were made from (not the bytes: the engine does not read them).
   */
  input(msg) {
    const m = { seq: msg.seq, mx: Math.fround(msg.movement.x), my: Math.fround(msg.movement.y) };
    this.pending.push(m);
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    if (this.pos && this.alive) this.pos = step(this.pos[0], this.pos[1], m.mx, m.my, this.map, this.dt);
  }

  /**
   * A snapshot arrived: `own` is the own entity in it ({ pos, health }) or null, `ackSeq` its
   * last_input_seq. Returns the correction's length (0 for the first, null when not alive).
   */
  reconcile(own, ackSeq) {
    while (this.pending.length && !seqAfter(this.pending[0].seq, ackSeq)) this.pending.shift();
    if (!own) return null;
    const before = this.pos;
    const wasAlive = this.alive;
    this.alive = own.health > 0;
    let [x, y] = [Math.fround(own.pos.x), Math.fround(own.pos.y)];
    if (this.alive) for (const m of this.pending) [x, y] = step(x, y, m.mx, m.my, this.map, this.dt);
    this.pos = [x, y];
    if (!before) return 0;
    const dx = before[0] - x;
    const dy = before[1] - y;
    const error = Math.hypot(dx, dy);
    // Far off (a teleport), or back from the dead at a spawn point however near: shown at
    // once, and not counted as a misprediction.
    const respawned = this.alive && !wasAlive;
    if (error > SNAP_DISTANCE || !this.alive || respawned) {
      this.offset = [0, 0];
      if (this.alive) this.snaps++;
      return this.alive ? error : null;
    }
    this.offset = [this.offset[0] + dx, this.offset[1] + dy];
    this.corrections.push(error);
    if (this.corrections.length > STATS_WINDOW) this.corrections.shift();
    return error;
  }

  /** Where to draw the own player, after `dt` seconds of decaying the visual offset. */
  display(dt) {
    if (!this.pos) return null;
    const k = Math.exp(-SMOOTH_RATE * Math.max(dt, 0));
    this.offset = [this.offset[0] * k, this.offset[1] * k];
    return { x: this.pos[0] + this.offset[0], y: this.pos[1] + this.offset[1] };
  }

  /** Correction figures: { count, mean, p99, max, snaps } in world units. */
  stats() {
    const c = [...this.corrections].sort((a, b) => a - b);
    const n = c.length;
    const mean = n ? c.reduce((s, v) => s + v, 0) / n : 0;
    const p99 = n ? c[Math.min(n - 1, Math.ceil(0.99 * n) - 1)] : 0;
    return { count: n, mean, p99, max: n ? c[n - 1] : 0, snaps: this.snaps };
  }
}
