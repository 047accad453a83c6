// Holds src/snapshot.js to the Rust replication: the cross-language stream that
// shared/tests/snapshot_props.rs writes (by a schema with every encoding, a text field and a
// mask past the op byte) must decode to exactly its states and positions; random
// worlds replicated to clients that skip random snapshots must decode to exactly the target
// every time; garbage and truncated frames are refused with ProtocolError, never anything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { ProtocolError, decodeServer, encodeServer, fromHex } from '../src/protocol.js';
import {
  MAX_VEL,
  SnapshotDecoder,
  compileSchema,
  offset,
  posAt,
  quantize,
  snapshotBetween,
  unquantize,
} from '../src/snapshot.js';
import { recordFromRust } from './rust-forms.js';

const streamPath = fileURLToPath(new URL('../../shared/tests/snapshot_stream.json', import.meta.url));
const stream = JSON.parse(readFileSync(streamPath, 'utf8'));
const props = compileSchema(stream.schema);
const goldenPath = fileURLToPath(new URL('../../shared/tests/golden_vectors.json', import.meta.url));
const arena = compileSchema(JSON.parse(readFileSync(goldenPath, 'utf8')).schema);

test('the Rust stream decodes to its states and dead-reckoned positions, bit for bit', () => {
  assert.ok(stream.clients.length >= 3, 'several skip patterns');
  let frames = 0;
  for (const client of stream.clients) {
    const decoder = new SnapshotDecoder(props, stream.tick_rate);
    for (const frame of client.frames) {
      const msg = decodeServer(fromHex(frame.hex), props);
      decoder.apply(msg);
      assert.equal(decoder.tick, frame.tick, client.name);
      const expected = frame.entities.map((r) => recordFromRust(props, r));
      assert.deepStrictEqual(decoder.entities, expected, `${client.name}: state at tick ${frame.tick}`);
      const positions = decoder.entities.map((r) => [r.id, ...posAt(r, frame.probe_tick, stream.tick_rate)]);
      assert.deepStrictEqual(positions, frame.positions, `${client.name}: positions at tick ${frame.probe_tick}`);
      frames++;
    }
  }
  assert.ok(frames > 100, `${frames} frames checked`);
});

test('the extrapolation rounds half up, as WIRE.md spells it', () => {
  assert.equal(offset(1600, 60, 60), 400);
  assert.equal(offset(1600, 1, 60), 7);
  assert.equal(offset(-1600, 1, 60), -7);
  assert.equal(offset(120, 1, 60), 1);
  assert.equal(offset(-120, 1, 60), 0);
  // The largest span and speed the decoder accepts stay exact in a Number.
  assert.equal(offset(MAX_VEL, 2 ** 30, 1), Math.floor((2 * MAX_VEL * 2 ** 30 + 4) / 8));
});

/** mulberry32: small and seedable. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), chance: (p) => next() < p };
}

/** A random quantized value for `field` (any in its range; a text of its length at most). */
function randomValue(r, field) {
  const [name] = typeof field.encoding === 'string' ? [field.encoding] : Object.keys(field.encoding);
  if (name === 'Text') return r.chance(0.2) ? null : 'ab⚔'.slice(0, r.int(4));
  const p = field.encoding[name] ?? {};
  const span = { UInt: [0, p.max], Byte: [0, 255], Int: [p.min, p.max], Angle: [-p.steps / 2, p.steps / 2 - 1] }[name];
  if (span) return span[0] + r.int(span[1] - span[0] + 1);
  if (name === 'Enum') return r.int(p.variants.length);
  return quantize(field, p.min + r.next() * (p.max - p.min));
}

/**
 * A random world of `schema`'s records over ticks: creations, removals, straight moves, rests,
 * turns, jumps, and changes of every field.
 */
function* randomFrames(seed, snapshots, schema = props) {
  const r = rng(seed);
  let nextId = 1;
  let world = [];
  const vel = () => (r.chance(0.5) ? [0, 0] : [r.int(3201) - 1600, r.int(3201) - 1600]);
  for (let n = 1; n <= snapshots; n++) {
    const tick = n * 3;
    if (r.chance(0.3) || world.length < 3) {
      nextId += r.chance(0.2) ? 1 + r.int(100000) : 1;
      const kind = schema.kinds[r.int(schema.kinds.length)];
      const moves = kind.motion === 'DeadReckoned';
      const v = moves ? vel() : [0, 0];
      const record = { id: nextId, kind: kind.name, owner: kind.owned ? r.int(4) : 0 };
      for (const field of kind.fields) record[field.name] = randomValue(r, field);
      const placed = kind.motion !== 'None';
      Object.assign(record, {
        pos: placed ? [r.int(8000), r.int(8000)] : [0, 0],
        vel: v,
        base_tick: v[0] || v[1] ? tick : 0,
      });
      world.push(record);
    }
    if (r.chance(0.1)) world.splice(r.int(world.length), 1);
    world = world.map((e) => {
      const kind = schema.kind(e.kind);
      const roll = r.int(40);
      if (roll === 0 && kind.motion === 'DeadReckoned') {
        const v = vel();
        const [x, y] = posAt(e, tick, 60);
        return { ...e, pos: [x, y], vel: v, base_tick: v[0] || v[1] ? tick : 0 };
      }
      if (roll === 1 && kind.motion !== 'None') {
        return { ...e, pos: [r.int(8000), r.int(8000)], base_tick: e.vel[0] || e.vel[1] ? tick : 0 };
      }
      const values = kind.fields.filter((f) => !(typeof f.encoding === 'object' && 'Text' in f.encoding));
      if ((roll === 2 || roll === 3) && values.length > 0) {
        const field = values[r.int(values.length)];
        return { ...e, [field.name]: randomValue(r, field) };
      }
      if (roll === 4 && kind.owned) return { ...e, owner: r.int(70000) };
      return e;
    });
    yield { tick, entities: [...world].sort((a, b) => a.id - b.id) };
  }
}

test('random worlds reach every client exactly, whatever snapshots it skips', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const schema = seed % 2 === 0 ? arena : props;
    const skip = [0, 0.3, 0.7, 0.95];
    const clients = skip.map((p) => ({
      p,
      baseline: null,
      decoder: new SnapshotDecoder(schema, 60),
      r: rng(seed * 7 + p * 100),
    }));
    for (const frame of randomFrames(seed, 150, schema)) {
      for (const c of clients) {
        if (c.r.chance(c.p)) continue;
        const snap = snapshotBetween(schema, c.baseline, frame.entities, frame.tick, 60, frame.tick);
        const bytes = encodeServer(snap, schema);
        c.decoder.apply(decodeServer(bytes, schema));
        assert.deepStrictEqual(c.decoder.entities, frame.entities, `seed ${seed}, skip ${c.p}, tick ${frame.tick}`);
        c.baseline = frame;
      }
    }
  }
});

test('garbage and truncated snapshots throw ProtocolError, and leave the state as it was', () => {
  const r = rng(99);
  const frames = [...randomFrames(3, 30)];
  const decoder = new SnapshotDecoder(props, 60);
  const decode = (bytes) => decodeServer(bytes, props);
  let baseline = null;
  for (const frame of frames) {
    const bytes = encodeServer(snapshotBetween(props, baseline, frame.entities, frame.tick, 60), props);
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.throws(() => decode(bytes.subarray(0, cut)), ProtocolError, `a ${cut}-byte prefix`);
    }
    for (let i = 0; i < 30; i++) {
      const bad = bytes.slice();
      bad[r.int(bad.length)] ^= 1 << r.int(8);
      const before = decoder.entities;
      try {
        decoder.apply(decode(bad));
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `a flipped bit gives ProtocolError, not ${err}`);
        assert.equal(decoder.entities, before, 'a refused snapshot changes nothing');
      }
      // Whatever it did, put the real state back for the next frame.
      decoder.tick = baseline ? baseline.tick : null;
      decoder.entities = baseline ? baseline.entities : [];
    }
    decoder.apply(decode(bytes));
    baseline = frame;
  }
  for (let i = 0; i < 3000; i++) {
    const garbage = Uint8Array.from({ length: 1 + r.int(40) }, () => r.int(256));
    garbage[0] = 1; // the Snapshot variant
    try {
      new SnapshotDecoder(props, 60).apply(decode(garbage));
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `garbage gives ProtocolError, not ${err}`);
    }
  }
});

test('a delta on another baseline, unknown entities and double creations are refused', () => {
  const d = new SnapshotDecoder(arena, 60);
  const base = { type: 'Snapshot', last_input_seq: 0, tick: 9, baseline_tick: null, removed: [], created: [], updated: [] };
  assert.throws(() => d.apply({ ...base, baseline_tick: 6 }), /delta based on tick 6, but the client holds null/);
  d.apply(base);
  assert.throws(() => d.apply({ ...base, tick: 12, baseline_tick: 9, removed: [5] }), /entity 5 is not in the baseline/);
  const npc = { id: 5, kind: 'Npc', owner: 0, pos: [4, 4], vel: [0, 0], base_tick: 0 };
  d.apply({ ...base, tick: 12, baseline_tick: 9, created: [npc] });
  assert.throws(() => d.apply({ ...base, tick: 15, baseline_tick: 12, created: [npc] }), /entity 5 created twice/);
  assert.equal(d.tick, 12, 'refused snapshots leave the tick');
});

test('fields quantize as the Rust encodings do, and views give them in their units', () => {
  const rich = props.kind('rich');
  const field = (name) => rich.byField[name];
  assert.equal(quantize(field('aim'), Math.PI), -2048, 'π wraps to −π');
  assert.equal(quantize(field('aim'), -Math.PI / 2), -1024);
  assert.equal(quantize(field('aim'), NaN), 0);
  assert.deepEqual([quantize(field('mass'), 12.34), quantize(field('mass'), 1e9), quantize(field('mass'), -1)], [123, 50000, 0]);
  assert.equal(quantize(field('hp'), 300), 255);
  assert.equal(quantize(field('color'), 'blue'), 2);
  assert.equal(unquantize(field('color'), 1), 'green');
  assert.ok(Math.abs(unquantize(field('aim'), -1024) + Math.PI / 2) < 1e-12);
  const d = new SnapshotDecoder(props, 60);
  const rec = { id: 1, kind: 'rich', owner: 2, hp: 9, aim: 1024, mass: 123, name: 'ann', color: 1, level: 7, pos: [40, 8], vel: [16, 0], base_tick: 0 };
  d.apply({ type: 'Snapshot', last_input_seq: 0, tick: 0, baseline_tick: null, removed: [], created: [rec], updated: [] });
  const view = d.view(d.entities[0]);
  assert.deepEqual(
    { ...view, aim: Math.round(view.aim * 1e6) / 1e6 },
    { id: 1, kind: 'rich', owner: 2, hp: 9, aim: Math.round((Math.PI / 2) * 1e6) / 1e6, mass: 12.3, name: 'ann', color: 'green', level: 7, pos: { x: 10, y: 2 }, vel: { x: 1, y: 0 } },
  );
});
