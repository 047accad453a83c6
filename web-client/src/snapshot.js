// Snapshots (shared/WIRE.md, "Snapshots"; protocol v6): the game's schema compiled into row
// tables, quantized entity records, the integer dead reckoning that matches the server's bit
// for bit, and SnapshotDecoder, which applies snapshots in order. Every entry is read and
// written by walking its kind's rows (after Quake III's msg.c): nothing here knows a game's
// fields. Pure, no DOM: the browser client uses it, and so can any Node tool:
//
//   import { decodeServer } from './protocol.js';
//   import { SnapshotDecoder } from './snapshot.js';
//   const world = new SnapshotDecoder(welcome.schema, welcome.tick_rate);
//   ws.on('message', (data) => {
//     const msg = decodeServer(data, world.schema);
//     if (msg.type === 'Snapshot') world.apply(msg); // throws ProtocolError: reconnect
//     for (const e of world.entities) console.log(e.id, e.kind, world.positionAt(e, world.tick));
//   });
//
// A record is `{ id, kind, owner, ...fields, pos, vel, base_tick }`: `kind` is the kind's name
// and each of the kind's fields is a property under its own name, quantized as the schema
// says (`unquantize` turns it into the field's units). An update has the same keys, null where
// absent, with `age` (snapshot tick − base tick) in place of `base_tick`.
import { ProtocolError } from './errors.js';

/** Position units per world unit. */
export const POS_SCALE = 4;
/** Velocity units per world unit per second. */
export const VEL_SCALE = 16;
export const MAX_POS = 2 ** 28;
export const MAX_VEL = 2 ** 20 - 1;
export const MAX_ELAPSED = 2 ** 30;
/** Limits of a schema (Rust: shared::schema). */
export const MAX_VALUES = 6;
export const MAX_KINDS = 32;
/** Most scoreboard columns a schema names. */
export const MAX_SCORES = 8;
export const MAX_TEXT = 64;
const MAX_ROWS = 30;

const GAP_BIT = 0x80;
const MORE_BIT = 0x40;
const OP_MASK = 0x3f;
const MOTION_KEYS = new Set(['pos', 'vel', 'age']);
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** `bytes` as UTF-8; ProtocolError if they are not (both codecs read text with it). */
export function decodeUtf8(bytes, what) {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
}

/** Rust's f64::round: half away from zero. */
function roundAway(x) {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** The encoding's variant name and payload: `'Byte'` or `{ Angle: { steps } }` (serde's form). */
function encodingOf(encoding) {
  if (typeof encoding === 'string') return [encoding, {}];
  const [name] = Object.keys(encoding);
  return [name, encoding[name]];
}

/** How a value row is written, with its legal range (Rust: `Encoding::wire`). */
function valueWire(field) {
  const [name, p] = encodingOf(field.encoding);
  switch (name) {
    case 'UInt':
      return { wire: 'varint', min: 0, max: p.max };
    case 'Byte':
      return { wire: 'byte', min: 0, max: 255 };
    case 'Int':
      return { wire: 'zigzag', min: p.min, max: p.max };
    case 'Angle':
      return { wire: 'zigzag', min: -p.steps / 2, max: p.steps / 2 - 1 };
    case 'Scalar':
      return { wire: 'zigzag', min: roundAway(p.min * p.scale), max: roundAway(p.max * p.scale) };
    case 'Enum':
      return { wire: 'varint', min: 0, max: p.variants.length - 1 };
    default:
      throw new ProtocolError(`schema: field ${field.name} has an unknown encoding ${name}`);
  }
}

/**
 * The rows of one kind in wire order, exactly as Rust's `kind_rows` builds them: the owner if
 * the kind has one, its fields in declared order, then its motion (pos; or pos, vel, age).
 */
function kindRows(kind) {
  const rows = [];
  if (kind.owned) rows.push({ key: 'owner', wire: 'varint', min: 0, max: 0xffffffff });
  let values = 0;
  for (const field of kind.fields) {
    const [name, p] = encodingOf(field.encoding);
    if (name === 'Text') {
      rows.push({ key: field.name, wire: 'text', max: p.max_bytes });
      continue;
    }
    if (++values > MAX_VALUES) throw new ProtocolError(`schema: kind ${kind.name} has more than ${MAX_VALUES} values`);
    rows.push({ key: field.name, ...valueWire(field) });
  }
  if (kind.motion === 'Static' || kind.motion === 'DeadReckoned') {
    rows.push({ key: 'pos', wire: 'pair', max: 4 * MAX_POS });
  }
  if (kind.motion === 'DeadReckoned') {
    rows.push({ key: 'vel', wire: 'pair', max: MAX_VEL }, { key: 'age', wire: 'varint', min: 0, max: MAX_ELAPSED });
  }
  if (rows.length > MAX_ROWS) throw new ProtocolError(`schema: kind ${kind.name} has more than ${MAX_ROWS} rows`);
  return rows;
}

/**
 * A schema as `Welcome` carries it (`{ game, kinds: [{ name, owned, avatar, motion, fields }] }`)
 * with each kind's index, rows and field table added, and `kind(name)` to look one up.
 */
export function compileSchema(desc) {
  if (!desc || typeof desc.game !== 'string' || !Array.isArray(desc.kinds)) {
    throw new ProtocolError('schema: expected { game, kinds }');
  }
  if (desc.kinds.length === 0 || desc.kinds.length > MAX_KINDS) {
    throw new ProtocolError(`schema: ${desc.kinds.length} kinds (1 to ${MAX_KINDS})`);
  }
  const kinds = desc.kinds.map((k, index) => {
    const fields = Object.fromEntries(k.fields.map((f) => [f.name, f]));
    return Object.freeze({ ...k, index, rows: Object.freeze(kindRows(k)), byField: fields });
  });
  const byName = new Map(kinds.map((k) => [k.name, k]));
  if (byName.size !== kinds.length) throw new ProtocolError('schema: a kind is declared twice');
  const scores = desc.scores ?? [];
  if (!Array.isArray(scores) || scores.length > MAX_SCORES || scores.some((c) => typeof c !== 'string')) {
    throw new ProtocolError(`schema: scores must be at most ${MAX_SCORES} column names`);
  }
  return Object.freeze({
    game: desc.game,
    /** The description it was compiled from, as serde's JSON gives it. */
    desc,
    kinds: Object.freeze(kinds),
    /** The scoreboard's columns: each row's values, in this order. */
    scores: Object.freeze([...scores]),
    /** The kind named `name`; throws for a kind the schema lacks. */
    kind(name) {
      const kind = byName.get(name);
      if (!kind) throw new ProtocolError(`schema ${desc.game} has no kind ${name}`);
      return kind;
    },
  });
}

/**
 * A quantized field value in the field's units: radians for an angle, units for a scalar,
 * the variant's name for an enum, the value itself otherwise.
 */
export function unquantize(field, q) {
  const [name, p] = encodingOf(field.encoding);
  switch (name) {
    case 'Angle':
      return (q * 2 * Math.PI) / p.steps;
    case 'Scalar':
      return q / p.scale;
    case 'Enum':
      return p.variants[q];
    default:
      return q;
  }
}

/**
 * `value` in the field's units quantized as the server does (Rust: `Encoding::quantize`):
 * rounded (half away from zero), angles wrapped, clamped into range; NaN becomes 0. An enum
 * takes its variant's name or index; a text field keeps its text.
 */
export function quantize(field, value) {
  const [name, p] = encodingOf(field.encoding);
  if (name === 'Text') return value;
  if (name === 'Enum' && typeof value === 'string') value = Math.max(p.variants.indexOf(value), 0);
  const { min, max } = valueWire(field);
  let v = Number.isNaN(value) ? 0 : value;
  if (name === 'Angle') {
    if (!Number.isFinite(v)) return 0;
    const s = roundAway((v / (2 * Math.PI)) * p.steps);
    const half = p.steps / 2;
    v = ((((s + half) % p.steps) + p.steps) % p.steps) - half;
  } else if (name === 'Scalar') {
    v = roundAway(v * p.scale);
  } else {
    v = roundAway(v);
  }
  return Math.min(Math.max(v, min), max);
}

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

  /** A varint length, then that many bytes of UTF-8: at most `max` bytes. */
  text(what, max) {
    const len = this.varint(`${what} length`);
    if (len > Math.min(max, MAX_TEXT)) throw new ProtocolError(`${what}: ${len} bytes, above ${Math.min(max, MAX_TEXT)}`);
    if (len > this.remaining) throw new ProtocolError(`truncated snapshot: ${what} at offset ${this.pos}`);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return decodeUtf8(slice, what);
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

/** A record of `kind` (compiled) with every row at its default, which creations are relative to. */
export function blankRecord(id, kind) {
  const record = { id, kind: kind.name, owner: 0 };
  for (const row of kind.rows) {
    if (row.key === 'owner' || MOTION_KEYS.has(row.key)) continue;
    record[row.key] = row.wire === 'text' ? null : 0;
  }
  return Object.assign(record, { pos: [0, 0], vel: [0, 0], base_tick: 0 });
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

function emptyUpdate(id, kind) {
  const update = { id, kind: kind.name };
  for (const row of kind.rows) update[row.key] = null;
  return update;
}

function maskOf(update, kind) {
  let mask = 0;
  kind.rows.forEach((row, i) => {
    if (update[row.key] !== null && update[row.key] !== undefined) mask += 2 ** i;
  });
  return mask;
}

function hasMotion(update) {
  return update.pos != null || update.vel != null || update.age != null;
}

/**
 * `record` with `update` applied at `tick`: plain rows replaced; if a motion row is present,
 * the motion re-based at tick − age from where the old motion had carried it.
 */
export function applyUpdate(record, update, kind, tick, tickRate) {
  const next = { ...record };
  for (const row of kind.rows) {
    if (!MOTION_KEYS.has(row.key) && update[row.key] != null) next[row.key] = update[row.key];
  }
  if (hasMotion(update)) {
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
export function updateBetween(kind, from, to, tick, tickRate) {
  const created = from === null;
  from = from ?? blankRecord(to.id, kind);
  const u = emptyUpdate(to.id, kind);
  for (const row of kind.rows) {
    if (MOTION_KEYS.has(row.key)) continue;
    if (row.wire === 'text') {
      if (created && to[row.key] != null) u[row.key] = to[row.key];
    } else if (from[row.key] !== to[row.key]) {
      u[row.key] = to[row.key];
    }
  }
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

function byKindThenId(schema) {
  return (a, b) => schema.kind(a.kind).index - schema.kind(b.kind).index || a.id - b.id;
}

/**
 * The snapshot taking a client holding `baseline` ({tick, entities} or null: a keyframe) to
 * `entities` (records in increasing id) at `tick`: the JS mirror of Rust `Snapshot::between`.
 */
export function snapshotBetween(schema, baseline, entities, tick, tickRate, lastInputSeq = 0) {
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
    const kind = schema.kind(rec.kind);
    if (prev && prev.kind === rec.kind) {
      const u = updateBetween(kind, prev, rec, tick, tickRate);
      if (maskOf(u, kind) !== 0) snap.updated.push(u);
    } else {
      if (prev) snap.removed.push(prev.id);
      snap.created.push(rec);
    }
  }
  while (i < old.length) snap.removed.push(old[i++].id);
  snap.removed.sort((a, b) => a - b);
  snap.created.sort(byKindThenId(schema));
  snap.updated.sort(byKindThenId(schema));
  return snap;
}

function writeEntries(out, entries, kind) {
  let prev = -1;
  for (const u of entries) {
    const gap = u.id - prev - 1;
    prev = u.id;
    const mask = maskOf(u, kind);
    let op = mask % 64;
    if (gap !== 0) op |= GAP_BIT;
    if (mask > OP_MASK) op |= MORE_BIT;
    out.bytes.push(op);
    if (gap !== 0) out.varint(gap);
    if (mask > OP_MASK) out.varint(Math.floor(mask / 64));
    for (const row of kind.rows) {
      const v = u[row.key];
      if (v === null || v === undefined) continue;
      switch (row.wire) {
        case 'varint':
          out.varint(v);
          break;
        case 'byte':
          out.bytes.push(v);
          break;
        case 'zigzag':
          out.zigzag(v);
          break;
        case 'pair':
          out.zigzag(v[0]);
          out.zigzag(v[1]);
          break;
        case 'text': {
          const bytes = utf8Encoder.encode(v);
          out.varint(bytes.length);
          out.bytes.push(...bytes);
          break;
        }
      }
    }
  }
}

/** The bytes of a Snapshot after the variant index (head and body), as WIRE.md lays them out. */
export function writeSnapshot(snap, schema) {
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
  for (const kind of schema.kinds) {
    const group = snap.created.filter((r) => r.kind === kind.name);
    out.varint(group.length);
    writeEntries(out, group.map((r) => updateBetween(kind, null, r, snap.tick, 1)), kind);
  }
  for (const kind of schema.kinds) {
    const group = snap.updated.filter((u) => u.kind === kind.name);
    out.varint(group.length);
    writeEntries(out, group, kind);
  }
  return out.bytes;
}

function readRow(cur, row, id) {
  let v;
  switch (row.wire) {
    case 'varint':
      v = cur.varint(row.key);
      break;
    case 'byte':
      v = cur.byte(row.key);
      break;
    case 'zigzag':
      v = cur.zigzag(row.key);
      break;
    case 'pair':
      v = [cur.zigzag(`${row.key}.x`), cur.zigzag(`${row.key}.y`)];
      if (Math.abs(v[0]) > row.max || Math.abs(v[1]) > row.max) {
        throw new ProtocolError(`entity ${id}: ${row.key} out of range`);
      }
      return v;
    case 'text':
      return cur.text(`entity ${id}: ${row.key}`, row.max);
  }
  if (v < row.min || v > row.max) throw new ProtocolError(`entity ${id}: ${row.key} out of range`);
  return v;
}

function readEntry(cur, state, kind) {
  const op = cur.byte('entry op');
  let gap = 0;
  if (op & GAP_BIT) {
    gap = cur.varint('id gap');
    if (gap === 0) throw new ProtocolError('explicit id gap of 0');
  }
  let mask = op & OP_MASK;
  if (op & MORE_BIT) {
    const more = cur.varint('mask');
    if (more === 0) throw new ProtocolError('mask extension of 0');
    if (more > 0xffffffff >>> 6) throw new ProtocolError('mask: out of range');
    mask += more * 64;
  }
  const id = state.prev + 1 + gap;
  if (id > 0xffffffff) throw new ProtocolError('entity id above 2^32-1');
  state.prev = id;
  if (mask >= 2 ** kind.rows.length) throw new ProtocolError(`mask names a row kind ${kind.name} does not have`);
  const u = emptyUpdate(id, kind);
  kind.rows.forEach((row, i) => {
    if (Math.floor(mask / 2 ** i) % 2 === 1) u[row.key] = readRow(cur, row, id);
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
 * Parses a Snapshot (after the variant index) from `cur`, its entries following `schema`
 * (compiled); stateless. Returns the message as
 * `{ type: 'Snapshot', last_input_seq, tick, baseline_tick, removed, created, updated }`.
 */
export function parseSnapshot(cur, schema) {
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
  for (const kind of schema.kinds) {
    const state = { prev: -1 };
    for (let n = readCount(cur, `created ${kind.name}s`); n > 0; n--) {
      const u = readEntry(cur, state, kind);
      snap.created.push(applyUpdate(blankRecord(u.id, kind), u, kind, tick, 1));
    }
  }
  for (const kind of schema.kinds) {
    const state = { prev: -1 };
    for (let n = readCount(cur, `updated ${kind.name}s`); n > 0; n--) {
      const u = readEntry(cur, state, kind);
      if (maskOf(u, kind) === 0) throw new ProtocolError('update with no fields');
      if (kind.rows.some((row) => row.wire === 'text' && u[row.key] !== null)) {
        throw new ProtocolError('text in an update: it is set at creation');
      }
      snap.updated.push(u);
    }
  }
  return snap;
}

/**
 * A client's world: applies snapshots in order and holds the quantized records exactly as the
 * server's frame at the same tick. On any error it throws and keeps its previous state; the
 * caller should reconnect, which brings a keyframe.
 */
export class SnapshotDecoder {
  constructor(schema, tickRate) {
    this.schema = schema;
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
    // Updates travel grouped by kind; applying them walks the baseline in id order.
    const updated = [...snap.updated].sort((a, b) => a.id - b.id);
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
      const upd = updated[u];
      if (upd !== undefined && upd.id <= rec.id) {
        if (upd.id < rec.id) throw new ProtocolError(`entity ${upd.id} is not in the baseline`);
        if (upd.kind !== rec.kind) throw new ProtocolError(`entity ${upd.id} updated as another kind`);
        out.push(applyUpdate(rec, upd, this.schema.kind(rec.kind), tick, this.tickRate));
        u++;
      } else {
        out.push(rec);
      }
    }
    if (r < snap.removed.length) throw new ProtocolError(`entity ${snap.removed[r]} is not in the baseline`);
    if (u < updated.length) throw new ProtocolError(`entity ${updated[u].id} is not in the baseline`);
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

  /**
   * `record` as the game's client code reads it: `{ id, kind, owner, pos, vel, ...fields }`
   * with the position dead-reckoned to the decoder's tick, in world units, and every field
   * unquantized into its units.
   */
  view(record) {
    const kind = this.schema.kind(record.kind);
    const out = { id: record.id, kind: record.kind, owner: record.owner };
    for (const field of kind.fields) {
      const q = record[field.name];
      out[field.name] = q === null ? null : unquantize(field, q);
    }
    out.pos = this.positionAt(record, this.tick);
    out.vel = velocityWorld(record);
    return out;
  }
}

/** Velocity units to world units per second: { x, y }. */
export function velocityWorld(record) {
  return { x: record.vel[0] / VEL_SCALE, y: record.vel[1] / VEL_SCALE };
}
