// Snapshot buffer and entity interpolation. Remote entities are drawn a delay behind the
// newest server time (server time = tick / tick_rate), lerped between the two buffered
// snapshots around that render time. Skipped snapshots just widen the gap being lerped over;
// if the buffer runs dry we extrapolate from the newest snapshot along velocity, briefly.
// With `adaptive`, the delay follows the link: one snapshot interval plus the spread of
// snapshot arrival times over the last couple of seconds (the jitter), capped; it changes
// by time dilation (render time runs at most 10% slow or fast), so nothing on screen jumps.
// Replays: server time runs at the playback rate (0 while paused: the newest snapshot is shown
// frozen), and a tick that is not after the previous one (backward seek) or far ahead of it
// (forward seek) starts the buffer over. No DOM here.

export const INTERP_DELAY_S = 0.1;
/** Longest adaptive delay (seconds): past this, a link is too jittery to hide. */
export const MAX_INTERP_DELAY_S = 0.25;
/** Margin over interval + jitter, for timer noise (seconds). */
const DELAY_MARGIN_S = 0.01;
/** Arrival samples the jitter is measured over (2 s at 20 Hz). */
const JITTER_WINDOW = 40;
/** Fastest change of the delay, in seconds per real second (time dilation of ±10%). */
const DELAY_SLEW = 0.1;
/** Longest we extrapolate past the newest snapshot before freezing (real seconds). */
const MAX_EXTRAPOLATE_S = 0.25;
/** Buffered history kept behind the newest snapshot (server seconds). */
const KEEP_S = 1.0;
/** A clock-offset error larger than this snaps instead of drifting (real seconds). */
const CLOCK_SNAP_S = 0.5;
const CLOCK_SMOOTHING = 0.05;
/** A forward tick jump longer than this (real seconds at the playback rate) is a seek: reset. */
export const JUMP_RESET_S = 1.0;

export class SnapshotBuffer {
  /**
   * `delay`: the fixed delay (seconds), or the starting one when `adaptive`; `snapshotRate`:
   * snapshots per second the server sends (Welcome.snapshot_rate), for the adaptive delay.
   */
  constructor({ delay = INTERP_DELAY_S, adaptive = false, snapshotRate = 20 } = {}) {
    this.delay = delay;
    this.adaptive = adaptive;
    this.snapshotRate = snapshotRate;
    this.reset(60);
  }

  /** The adaptive delay's aim: one snapshot interval plus the measured jitter, capped. */
  get targetDelay() {
    if (!this.adaptive) return this.delay;
    const interval = 1 / Math.max(this.snapshotRate, 1);
    return Math.min(interval + this.jitter + DELAY_MARGIN_S, MAX_INTERP_DELAY_S);
  }

  /**
   * Spread of recent arrival times against the server clock (seconds): how much later than
   * the earliest one the latest snapshot of the window came.
   */
  get jitter() {
    const late = this.lateness;
    if (late.length < 2) return 0;
    return Math.max(...late) - Math.min(...late);
  }

  /** Forget everything, e.g. on a new Welcome; playback back to real time. */
  reset(tickRate, snapshotRate = this.snapshotRate) {
    this.tickRate = tickRate > 0 ? tickRate : 60;
    this.snapshotRate = snapshotRate > 0 ? snapshotRate : 20;
    /** Recent (local time − server time) at arrival, seconds; newest last. */
    this.lateness = [];
    /** Local time of the last sample(), for slewing the delay. */
    this.lastSampleMs = null;
    /** Server seconds per real second: 1 live, speed/100 in a replay, 0 while paused. */
    this.rate = 1;
    /** How many times the buffer started over because of a tick going back or jumping ahead. */
    this.resets = 0;
    this.clear();
  }

  /** Drops the buffered snapshots and the clock estimate (keeps tick rate and playback rate). */
  clear() {
    /** Ascending by tick: { tick, time, snapshot, byId: Map<id, EntityState> }. */
    this.frames = [];
    /**
     * Estimate of (server time − rate × local time), in seconds: server time now is
     * rate × local + offset.
     */
    this.offset = null;
  }

  get newest() {
    return this.frames.length ? this.frames[this.frames.length - 1].snapshot : null;
  }

  get paused() {
    return this.rate === 0;
  }

  /**
   * Sets the playback rate (server seconds per real second; 0 = paused) from local time
   * `nowMs` on. Server time stays continuous through a speed change; on resuming from a pause
   * the clock is re-anchored by the next snapshot.
   */
  setRate(rate, nowMs) {
    rate = Number.isFinite(rate) && rate > 0 ? rate : 0;
    if (rate === this.rate) return;
    if (this.rate === 0 || rate === 0 || this.offset === null) {
      this.offset = null;
    } else {
      const now = this.serverNow(nowMs);
      this.offset = now - (rate * nowMs) / 1000;
    }
    this.rate = rate;
  }

  /**
   * Adds a snapshot received at local time `nowMs`. A tick not after the newest one, or more
   * than JUMP_RESET_S (at the playback rate) ahead of it, starts the buffer over (replay seek).
   * Returns true (every snapshot is taken).
   */
  push(snapshot, nowMs) {
    const last = this.frames[this.frames.length - 1];
    const time = snapshot.tick / this.tickRate;
    if (last && (snapshot.tick <= last.tick || time - last.time > JUMP_RESET_S * Math.max(this.rate, 1))) {
      this.clear();
      this.resets++;
    }
    const byId = new Map();
    for (const e of snapshot.entities) byId.set(e.id, e);
    this.frames.push({ tick: snapshot.tick, time, snapshot, byId });
    while (this.frames.length > 2 && this.frames[1].time < time - KEEP_S) this.frames.shift();

    if (this.rate === 1) {
      this.lateness.push(nowMs / 1000 - time);
      if (this.lateness.length > JITTER_WINDOW) this.lateness.shift();
    }
    const sample = time - (this.rate * nowMs) / 1000;
    const snap = CLOCK_SNAP_S * Math.max(this.rate, 1);
    if (this.offset === null || Math.abs(sample - this.offset) > snap) this.offset = sample;
    else this.offset += (sample - this.offset) * CLOCK_SMOOTHING;
    return true;
  }

  /** Estimated current server time in seconds, or null before any snapshot. */
  serverNow(nowMs) {
    return this.offset === null ? null : (this.rate * nowMs) / 1000 + this.offset;
  }

  /** Moves an adaptive delay toward its target, no faster than DELAY_SLEW. */
  slewDelay(nowMs) {
    const last = this.lastSampleMs;
    this.lastSampleMs = nowMs;
    if (!this.adaptive || last === null || this.rate !== 1) return;
    const step = DELAY_SLEW * Math.min(Math.max((nowMs - last) / 1000, 0), 0.1);
    const target = this.targetDelay;
    this.delay += Math.max(-step, Math.min(step, target - this.delay));
  }

  /** Server time at which remote entities are drawn (the delay is real time, so it scales). */
  renderTime(nowMs) {
    const now = this.serverNow(nowMs);
    return now === null ? null : now - this.delay * this.rate;
  }

  /**
   * Blends fields by `schema`'s hints from now on (a field hinted `Interpolate` is lerped,
   * `InterpolateAngle` lerped the short way round, `Snap` taken from the nearer snapshot), and
   * asks `game.teleported(a, b)` (if the game's module has it) whether an entity that moved
   * little still jumped (the arena: a respawn near the spawn point). Without a schema, every
   * field snaps.
   */
  setGame(schema, game = null) {
    this.blends = new Map(
      (schema?.kinds ?? []).map((k) => [k.name, k.fields.filter((f) => f.hint !== 'Snap').map((f) => [f.name, f.hint])]),
    );
    this.teleported = typeof game?.teleported === 'function' ? game.teleported : null;
  }

  /**
   * Entities as they were at the render time: array of `{ id, kind, owner, x, y, ...fields }`
   * (fields blended by their hints, the rest from the nearer snapshot). While paused, or
   * before the clock is anchored, the newest snapshot as it is.
   */
  sample(nowMs) {
    this.slewDelay(nowMs);
    const frames = this.frames;
    if (frames.length === 0) return [];
    const newest = frames[frames.length - 1];
    const t = this.renderTime(nowMs);
    if (t === null || this.rate === 0) return newest.snapshot.entities.map((e) => at(e, e.pos.x, e.pos.y));
    if (frames.length === 1 || t >= newest.time) {
      const ahead = Math.min(Math.max(t - newest.time, 0), MAX_EXTRAPOLATE_S * this.rate);
      return newest.snapshot.entities.map((e) => at(e, e.pos.x + e.vel.x * ahead, e.pos.y + e.vel.y * ahead));
    }
    if (t <= frames[0].time) return frames[0].snapshot.entities.map((e) => at(e, e.pos.x, e.pos.y));

    let i = frames.length - 2;
    while (i > 0 && frames[i].time > t) i--;
    const a = frames[i];
    const b = frames[i + 1];
    const span = b.time - a.time;
    const f = span > 0 ? (t - a.time) / span : 1;
    const out = [];
    for (const eb of b.snapshot.entities) {
      const ea = a.byId.get(eb.id);
      if (!ea) {
        // Appeared between a and b: place it back along its velocity (projectiles fly straight).
        const back = b.time - t;
        out.push(at(eb, eb.pos.x - eb.vel.x * back, eb.pos.y - eb.vel.y * back));
        continue;
      }
      const nearer = f < 0.5 ? ea : eb;
      if (isTeleport(ea, eb, span) || this.teleported?.(ea, eb)) {
        out.push(at(nearer, nearer.pos.x, nearer.pos.y));
        continue;
      }
      const x = ea.pos.x + (eb.pos.x - ea.pos.x) * f;
      const y = ea.pos.y + (eb.pos.y - ea.pos.y) * f;
      const e = at(nearer, x, y);
      for (const [name, hint] of this.blends?.get(eb.kind) ?? []) {
        const [va, vb] = [ea[name], eb[name]];
        if (typeof va !== 'number' || typeof vb !== 'number') continue;
        e[name] = hint === 'InterpolateAngle' ? lerpAngle(va, vb, f) : va + (vb - va) * f;
      }
      out.push(e);
    }
    // Entities in a but not b were removed before b: not drawn.
    return out;
  }
}

/** `e`'s fields with its place at the render time. */
function at(e, x, y) {
  const { pos: _pos, vel: _vel, ...fields } = e;
  return { ...fields, x, y };
}

/** Moved further than its velocities allow: shown at once, never slid across the map. */
function isTeleport(a, b, span) {
  const dx = b.pos.x - a.pos.x;
  const dy = b.pos.y - a.pos.y;
  const speed = Math.max(Math.hypot(a.vel.x, a.vel.y), Math.hypot(b.vel.x, b.vel.y));
  const allowed = speed * span * 2 + 64;
  return dx * dx + dy * dy > allowed * allowed;
}

export function lerpAngle(a, b, f) {
  let d = b - a;
  while (d > Math.PI) d -= 2 * Math.PI;
  while (d < -Math.PI) d += 2 * Math.PI;
  return a + d * f;
}
