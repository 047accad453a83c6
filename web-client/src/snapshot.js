// Snapshots (shared/WIRE.md, "Snapshots"; protocol v3 to v5): quantized entity records, the
// integer dead reckoning that matches the server's bit for bit, the field table that drives the entry
// decoder (and encoder), and SnapshotDecoder, which applies snapshots in order. Pure, no DOM:
// the browser client uses it, and so can any Node tool:
//
//   import { decodeServer } from './protocol.js';
//   import { SnapshotDecoder } from './snapshot.js';
//   const world = new SnapshotDecoder(welcome.tick_rate);
//   ws.on('message', (data) => {
//     const msg = decodeServer(data);
//     if (msg.type === 'Snapshot') world.apply(msg); // throws ProtocolError: reconnect
//     for (const e of world.entities) console.log(e.id, world.positionAt(e, world.tick));
//   });
import { ProtocolError } from './errors.js';

/** Position units per world unit. */
export const POS_SCALE = 4;
/** Velocity units per world unit per second. */
export const VEL_SCALE = 16;
/** Aim steps per turn. */
export const AIM_STEPS = 4096;
export const MAX_POS = 2 ** 28;
export const MAX_VEL = 2 ** 20 - 1;
export const MAX_ELAPSED = 2 ** 30;
/** The kinds in the order of the created groups. */
export const KIND_GROUPS = Object.freeze(['Player', 'Npc', 'Projectile']);

/**
 * The field table (Rust: `shared::snapshot::FIELDS`; the golden vectors carry a copy that a
 * test compares with this one). Bit i of an entry's mask says row i follows. `key` is the
 * entry's property: the `base_tick` row travels as `age` (snapshot tick − base tick).
 */
export const SNAPSHOT_FIELDS = Object.freeze([
  Object.freeze({ name: 'owner', wire: 'varint', key: 'owner' }),
  Object.freeze({ name: 'health', wire: 'byte', key: 'health' }),
  Object.freeze({ name: 'aim', wire: 'zigzag', key: 'aim' }),
  Object.freeze({ name: 'pos', wire: 'zigzag_pair', key: 'pos' }),
  Object.freeze({ name: 'vel', wire: 'zigzag_pair', key: 'vel' }),
  Object.freeze({ name: 'base_tick', wire: 'varint', key: 'age' }),
]);
const MOTION_MASK = 0b111000;
const GAP_BIT = 0x80;
const RESERVED_BITS = 0x40;

/** Range checks applied to decoded field values, by entry key. */
const FIELD_LIMITS = {
  owner: (v) => v <= 0xffffffff,
  health: (v) => v <= 0xff,
  aim: (v) => v >= -2048 && v < 2048,
  pos: ([x, y]) => Math.abs(x) <= 4 * MAX_POS && Math.abs(y) <= 4 * MAX_POS,
  vel: ([x, y]) => Math.abs(x) <= MAX_VEL && Math.abs(y) <= MAX_VEL,
  age: (v) => v <= MAX_ELAPSED,
};

/** Reads LEB128 and zigzag numbers from bytes, throwing ProtocolError on anything malformed. */
export class Cursor {
  constructor(bytes, pos = 0) {
    this.bytes = bytes;
    this.pos = pos;
  }

  get remaining() {
    return this.bytes.length - this.pos;
  }

  byte(what) {
    if (this.pos >= this.bytes.length) throw new ProtocolError(`truncated snapshot: ${what} at offset ${this.pos}`);
    return this.bytes[this.pos++];
  }

  /** Unsigned LEB128 in its shortest form, at most 2^53 − 1. */
  varint(what) {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new ProtocolError(`${what}: varint not in its shortest form`);
        if (value > Number.MAX_SAFE_INTEGER) throw new ProtocolError(`${what}: ${value} is above 2^53-1`);
        return value;
      }
      scale *= 128;
    }
    throw new ProtocolError(`${what}: varint above 2^53-1`);
  }

  zigzag(what) {
    const raw = this.varint(what);
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }
}

/** Appends LEB128 and zigzag numbers. */
class Out {
  constructor() {
    this.bytes = [];
  }

  varint(v) {
    if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError(`varint out of range: ${v}`);
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  zigzag(v) {
    this.varint(v >= 0 ? 2 * v : -2 * v - 1);
  }
}

/** Velocity `v` carried over `elapsed` ticks, in position units (WIRE.md: rounded half up). */
export function offset(v, elapsed, tickRate) {
  const d = 4 * Math.max(tickRate, 1);
  return Math.floor((2 * v * elapsed + d) / (2 * d));
}

/** A record's position at (integer) `tick`, in position units: [x, y]. */
export function posAt(record, tick, tickRate) {
  const e = tick - record.base_tick;
  return [record.pos[0] + offset(record.vel[0], e, tickRate), record.pos[1] + offset(record.vel[1], e, tickRate)];
}

/** A record with every table field at its default, which created entries are relative to. */
export function blankRecord(id, kind) {
  return { id, kind, owner: 0, health: 0, aim: 0, pos: [0, 0], vel: [0, 0], base_tick: 0 };
}

function sameMotion(a, b) {
  return (
    a.pos[0] === b.pos[0] &&
    a.pos[1] === b.pos[1] &&
    a.vel[0] === b.vel[0] &&
    a.vel[1] === b.vel[1] &&
    a.base_tick === b.base_tick
  );
}

function emptyUpdate(id) {
  return { id, owner: null, health: null, aim: null, pos: null, vel: null, age: null };
}

function maskOf(update) {
  let mask = 0;
  SNAPSHOT_FIELDS.forEach((f, i) => {
    if (update[f.key] !== null) mask |= 1 << i;
  });
  return mask;
}

/**
 * `record` with `update` applied at `tick`: plain fields replaced; if a motion field is
 * present, the motion re-based at tick − age from where the old motion had carried it.
 */
export function applyUpdate(record, update, tick, tickRate) {
  const next = {
    ...record,
    owner: update.owner ?? record.owner,
    health: update.health ?? record.health,
    aim: update.aim ?? record.aim,
  };
  if (maskOf(update) & MOTION_MASK) {
    const baseTick = tick - (update.age ?? 0);
    if (baseTick < 0) throw new ProtocolError(`entity ${record.id}: age beyond the snapshot's tick`);
    const moving = record.vel[0] !== 0 || record.vel[1] !== 0;
    if (moving && Math.abs(baseTick - record.base_tick) > MAX_ELAPSED) {
      throw new ProtocolError(`entity ${record.id}: extrapolation span out of range`);
    }
    const from = posAt(record, baseTick, tickRate);
    const add = update.pos ?? [0, 0];
    const pos = [from[0] + add[0], from[1] + add[1]];
    if (Math.abs(pos[0]) > MAX_POS || Math.abs(pos[1]) > MAX_POS) {
      throw new ProtocolError(`entity ${record.id}: position out of range`);
    }
    next.pos = pos;
    next.vel = update.vel ?? record.vel;
    next.base_tick = baseTick;
  }
  if (next.vel[0] === 0 && next.vel[1] === 0) next.base_tick = 0;
  return next;
}

/** The entry taking a client holding `from` (null: a creation) to `to` at `tick`. */
export function updateBetween(from, to, tick, tickRate) {
  from = from ?? blankRecord(to.id, to.kind);
  const u = emptyUpdate(to.id);
  if (from.owner !== to.owner) u.owner = to.owner;
  if (from.health !== to.health) u.health = to.health;
  if (from.aim !== to.aim) u.aim = to.aim;
  if (!sameMotion(from, to)) {
    const moving = to.vel[0] !== 0 || to.vel[1] !== 0;
    const age = moving ? Math.max(tick - to.base_tick, 0) : 0;
    const expected = posAt(from, tick - age, tickRate);
    const add = [to.pos[0] - expected[0], to.pos[1] - expected[1]];
    if (from.vel[0] !== to.vel[0] || from.vel[1] !== to.vel[1]) u.vel = [...to.vel];
    if (age !== 0) u.age = age;
    if (add[0] !== 0 || add[1] !== 0 || (u.vel === null && u.age === null)) u.pos = add;
  }
  return u;
}

/**
 * The snapshot taking a client holding `baseline` ({tick, entities} or null: a keyframe) to
 * `entities` (records in increasing id) at `tick`: the JS mirror of Rust `Snapshot::between`.
 */
export function snapshotBetween(baseline, entities, tick, tickRate, lastInputSeq = 0) {
  const snap = {
    type: 'Snapshot',
    last_input_seq: lastInputSeq,
    tick,
    baseline_tick: baseline ? baseline.tick : null,
    removed: [],
    created: [],
    updated: [],
  };
  const old = baseline ? baseline.entities : [];
  let i = 0;
  for (const rec of entities) {
    while (i < old.length && old[i].id < rec.id) snap.removed.push(old[i++].id);
    const prev = i < old.length && old[i].id === rec.id ? old[i++] : null;
    if (prev && prev.kind === rec.kind) {
      const u = updateBetween(prev, rec, tick, tickRate);
      if (maskOf(u) !== 0) snap.updated.push(u);
    } else {
      if (prev) snap.removed.push(prev.id);
      snap.created.push(rec);
    }
  }
  while (i < old.length) snap.removed.push(old[i++].id);
  snap.removed.sort((a, b) => a - b);
  snap.created.sort((a, b) => KIND_GROUPS.indexOf(a.kind) - KIND_GROUPS.indexOf(b.kind) || a.id - b.id);
  return snap;
}

function writeEntries(out, entries) {
  let prev = -1;
  for (const u of entries) {
    const gap = u.id - prev - 1;
    prev = u.id;
    const mask = maskOf(u);
    out.bytes.push(gap === 0 ? mask : mask | GAP_BIT);
    if (gap !== 0) out.varint(gap);
    SNAPSHOT_FIELDS.forEach((f) => {
      const v = u[f.key];
      if (v === null) return;
      switch (f.wire) {
        case 'varint':
          out.varint(v);
          break;
        case 'byte':
          out.bytes.push(v);
          break;
        case 'zigzag':
          out.zigzag(v);
          break;
        case 'zigzag_pair':
          out.zigzag(v[0]);
          out.zigzag(v[1]);
          break;
      }
    });
  }
}

/** The bytes of a Snapshot after the variant index (head and body), as WIRE.md lays them out. */
export function writeSnapshot(snap) {
  const out = new Out();
  out.varint(snap.last_input_seq);
  out.varint(snap.tick);
  out.varint(snap.baseline_tick === null ? 0 : snap.tick - snap.baseline_tick);
  out.varint(snap.removed.length);
  let prev = -1;
  for (const id of snap.removed) {
    out.varint(id - prev - 1);
    prev = id;
  }
  for (const kind of KIND_GROUPS) {
    const group = snap.created.filter((r) => r.kind === kind);
    out.varint(group.length);
    writeEntries(out, group.map((r) => updateBetween(null, r, snap.tick, 1)));
  }
  out.varint(snap.updated.length);
  writeEntries(out, snap.updated);
  return out.bytes;
}

function readEntry(cur, state) {
  const op = cur.byte('entry op');
  if (op & RESERVED_BITS) throw new ProtocolError('reserved op-byte bit set');
  let gap = 0;
  if (op & GAP_BIT) {
    gap = cur.varint('id gap');
    if (gap === 0) throw new ProtocolError('explicit id gap of 0');
  }
  const id = state.prev + 1 + gap;
  if (id > 0xffffffff) throw new ProtocolError('entity id above 2^32-1');
  state.prev = id;
  const u = emptyUpdate(id);
  SNAPSHOT_FIELDS.forEach((f, i) => {
    if ((op & (1 << i)) === 0) return;
    let v;
    switch (f.wire) {
      case 'varint':
        v = cur.varint(f.name);
        break;
      case 'byte':
        v = cur.byte(f.name);
        break;
      case 'zigzag':
        v = cur.zigzag(f.name);
        break;
      case 'zigzag_pair':
        v = [cur.zigzag(`${f.name}.x`), cur.zigzag(`${f.name}.y`)];
        break;
    }
    if (!FIELD_LIMITS[f.key](v)) throw new ProtocolError(`entity ${id}: ${f.name} out of range`);
    u[f.key] = v;
  });
  return u;
}

function readCount(cur, what) {
  const count = cur.varint(what);
  // Every entry takes at least one byte.
  if (count > cur.remaining) throw new ProtocolError(`truncated snapshot: ${count} ${what} in ${cur.remaining} bytes`);
  return count;
}

/**
 * Parses a Snapshot (after the variant index) from `cur`; stateless. Returns the message as
 * `{ type: 'Snapshot', last_input_seq, tick, baseline_tick, removed, created, updated }`.
 */
export function parseSnapshot(cur) {
  const lastInputSeq = cur.varint('last_input_seq');
  if (lastInputSeq > 0xffffffff) throw new ProtocolError('last_input_seq above 2^32-1');
  const tick = cur.varint('tick');
  const ago = cur.varint('ago');
  if (ago > tick) throw new ProtocolError('baseline before tick 0');
  const snap = {
    type: 'Snapshot',
    last_input_seq: lastInputSeq,
    tick,
    baseline_tick: ago === 0 ? null : tick - ago,
    removed: [],
    created: [],
    updated: [],
  };
  let prev = -1;
  for (let n = readCount(cur, 'removed ids'); n > 0; n--) {
    const id = prev + 1 + cur.varint('removed id gap');
    if (id > 0xffffffff) throw new ProtocolError('entity id above 2^32-1');
    snap.removed.push(id);
    prev = id;
  }
  for (const kind of KIND_GROUPS) {
    const state = { prev: -1 };
    for (let n = readCount(cur, `created ${kind}s`); n > 0; n--) {
      const u = readEntry(cur, state);
      snap.created.push(applyUpdate(blankRecord(u.id, kind), u, tick, 1));
    }
  }
  const state = { prev: -1 };
  for (let n = readCount(cur, 'updates'); n > 0; n--) {
    const u = readEntry(cur, state);
    if (maskOf(u) === 0) throw new ProtocolError('update with no fields');
    snap.updated.push(u);
  }
  return snap;
}

/**
 * A client's world: applies snapshots in order and holds the quantized records exactly as the
 * server's frame at the same tick. On any error it throws and keeps its previous state; the
 * caller should reconnect, which brings a keyframe.
 */
export class SnapshotDecoder {
  constructor(tickRate) {
    this.tickRate = tickRate > 0 ? tickRate : 60;
    /** Tick of the last applied snapshot, or null. */
    this.tick = null;
    /** Records in increasing id. */
    this.entities = [];
  }

  apply(snap) {
    let base;
    if (snap.baseline_tick === null) base = [];
    else if (snap.baseline_tick === this.tick) base = this.entities;
    else throw new ProtocolError(`delta based on tick ${snap.baseline_tick}, but the client holds ${this.tick}`);
    const { tick } = snap;
    const out = [];
    let r = 0;
    let u = 0;
    for (const rec of base) {
      const removedId = snap.removed[r];
      if (removedId !== undefined && removedId <= rec.id) {
        if (removedId < rec.id) throw new ProtocolError(`entity ${removedId} is not in the baseline`);
        r++;
        continue;
      }
      const upd = snap.updated[u];
      if (upd !== undefined && upd.id <= rec.id) {
        if (upd.id < rec.id) throw new ProtocolError(`entity ${upd.id} is not in the baseline`);
        out.push(applyUpdate(rec, upd, tick, this.tickRate));
        u++;
      } else {
        out.push(rec);
      }
    }
    if (r < snap.removed.length) throw new ProtocolError(`entity ${snap.removed[r]} is not in the baseline`);
    if (u < snap.updated.length) throw new ProtocolError(`entity ${snap.updated[u].id} is not in the baseline`);
    if (snap.created.length > 0) {
      out.push(...snap.created);
      out.sort((a, b) => a.id - b.id);
      for (let i = 1; i < out.length; i++) {
        if (out[i].id === out[i - 1].id) throw new ProtocolError(`entity ${out[i].id} created twice`);
      }
    }
    this.entities = out;
    this.tick = tick;
  }

  /**
   * Where `record` is at `tick` (may be fractional, for drawing between ticks), in world units:
   * `{ x, y }`. At whole ticks this is exactly the integer dead reckoning.
   */
  positionAt(record, tick) {
    const whole = Math.floor(tick);
    const [x, y] = posAt(record, whole, this.tickRate);
    const frac = (tick - whole) / this.tickRate;
    return {
      x: x / POS_SCALE + (record.vel[0] / VEL_SCALE) * frac,
      y: y / POS_SCALE + (record.vel[1] / VEL_SCALE) * frac,
    };
  }
}

/** Aim steps to radians. */
export function aimRadians(aim) {
  return (aim * 2 * Math.PI) / AIM_STEPS;
}

/** Velocity units to world units per second: { x, y }. */
export function velocityWorld(record) {
  return { x: record.vel[0] / VEL_SCALE, y: record.vel[1] / VEL_SCALE };
}
