// Holds src/snapshot.js to the Rust replication: the cross-language stream that
// shared/tests/snapshot_props.rs writes must decode to exactly its states and positions; random
// worlds replicated to clients that skip random snapshots must decode to exactly the target
// every time; garbage and truncated frames are refused with ProtocolError, never anything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { ProtocolError, decodeServer, encodeServer, fromHex } from '../src/protocol.js';
import { KIND_GROUPS, MAX_VEL, SnapshotDecoder, offset, posAt, snapshotBetween } from '../src/snapshot.js';

const streamPath = fileURLToPath(new URL('../../shared/tests/snapshot_stream.json', import.meta.url));
const stream = JSON.parse(readFileSync(streamPath, 'utf8'));

test('the Rust stream decodes to its states and dead-reckoned positions, bit for bit', () => {
  assert.ok(stream.clients.length >= 3, 'several skip patterns');
  let frames = 0;
  for (const client of stream.clients) {
    const decoder = new SnapshotDecoder(stream.tick_rate);
    for (const frame of client.frames) {
      const msg = decodeServer(fromHex(frame.hex));
      decoder.apply(msg);
      assert.equal(decoder.tick, frame.tick, client.name);
      assert.deepStrictEqual(decoder.entities, frame.entities, `${client.name}: state at tick ${frame.tick}`);
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

/** A random world of records over ticks: creations, removals, straight moves, rests, turns, jumps. */
function* randomFrames(seed, snapshots) {
  const r = rng(seed);
  let nextId = 1;
  let world = [];
  const vel = () => (r.chance(0.5) ? [0, 0] : [r.int(3201) - 1600, r.int(3201) - 1600]);
  for (let n = 1; n <= snapshots; n++) {
    const tick = n * 3;
    if (r.chance(0.3) || world.length < 3) {
      nextId += r.chance(0.2) ? 1 + r.int(100000) : 1;
      const v = vel();
      world.push({
        id: nextId,
        kind: KIND_GROUPS[r.int(3)],
        owner: r.int(4),
        health: r.int(101),
        aim: r.int(4096) - 2048,
        pos: [r.int(8000), r.int(8000)],
        vel: v,
        base_tick: v[0] || v[1] ? tick : 0,
      });
    }
    if (r.chance(0.1)) world.splice(r.int(world.length), 1);
    world = world.map((e) => {
      const roll = r.int(40);
      if (roll === 0) {
        const v = vel();
        const [x, y] = posAt(e, tick, 60);
        return { ...e, pos: [x, y], vel: v, base_tick: v[0] || v[1] ? tick : 0 };
      }
      if (roll === 1) return { ...e, pos: [r.int(8000), r.int(8000)], base_tick: e.vel[0] || e.vel[1] ? tick : 0 };
      if (roll === 2) return { ...e, aim: r.int(4096) - 2048 };
      if (roll === 3) return { ...e, health: r.int(256) };
      if (roll === 4) return { ...e, owner: r.int(70000) };
      return e;
    });
    yield { tick, entities: [...world].sort((a, b) => a.id - b.id) };
  }
}

test('random worlds reach every client exactly, whatever snapshots it skips', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const skip = [0, 0.3, 0.7, 0.95];
    const clients = skip.map((p) => ({ p, baseline: null, decoder: new SnapshotDecoder(60), r: rng(seed * 7 + p * 100) }));
    for (const frame of randomFrames(seed, 150)) {
      for (const c of clients) {
        if (c.r.chance(c.p)) continue;
        const bytes = encodeServer(snapshotBetween(c.baseline, frame.entities, frame.tick, 60, frame.tick));
        c.decoder.apply(decodeServer(bytes));
        assert.deepStrictEqual(c.decoder.entities, frame.entities, `seed ${seed}, skip ${c.p}, tick ${frame.tick}`);
        c.baseline = frame;
      }
    }
  }
});

test('garbage and truncated snapshots throw ProtocolError, and leave the state as it was', () => {
  const r = rng(99);
  const frames = [...randomFrames(3, 30)];
  const decoder = new SnapshotDecoder(60);
  let baseline = null;
  for (const frame of frames) {
    const bytes = encodeServer(snapshotBetween(baseline, frame.entities, frame.tick, 60));
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.throws(() => decodeServer(bytes.subarray(0, cut)), ProtocolError, `a ${cut}-byte prefix`);
    }
    for (let i = 0; i < 30; i++) {
      const bad = bytes.slice();
      bad[r.int(bad.length)] ^= 1 << r.int(8);
      const before = decoder.entities;
      try {
        decoder.apply(decodeServer(bad));
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `a flipped bit gives ProtocolError, not ${err}`);
        assert.equal(decoder.entities, before, 'a refused snapshot changes nothing');
      }
      // Whatever it did, put the real state back for the next frame.
      decoder.tick = baseline ? baseline.tick : null;
      decoder.entities = baseline ? baseline.entities : [];
    }
    decoder.apply(decodeServer(bytes));
    baseline = frame;
  }
  for (let i = 0; i < 3000; i++) {
    const garbage = Uint8Array.from({ length: 1 + r.int(40) }, () => r.int(256));
    garbage[0] = 1; // the Snapshot variant
    try {
      new SnapshotDecoder(60).apply(decodeServer(garbage));
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `garbage gives ProtocolError, not ${err}`);
    }
  }
});

test('a delta on another baseline, unknown entities and double creations are refused', () => {
  const d = new SnapshotDecoder(60);
  const base = { type: 'Snapshot', last_input_seq: 0, tick: 9, baseline_tick: null, removed: [], created: [], updated: [] };
  assert.throws(() => d.apply({ ...base, baseline_tick: 6 }), /delta based on tick 6, but the client holds null/);
  d.apply(base);
  assert.throws(() => d.apply({ ...base, tick: 12, baseline_tick: 9, removed: [5] }), /entity 5 is not in the baseline/);
  const npc = { id: 5, kind: 'Npc', owner: 0, health: 0, aim: 0, pos: [4, 4], vel: [0, 0], base_tick: 0 };
  d.apply({ ...base, tick: 12, baseline_tick: 9, created: [npc] });
  assert.throws(() => d.apply({ ...base, tick: 15, baseline_tick: 12, created: [npc] }), /entity 5 created twice/);
  assert.equal(d.tick, 12, 'refused snapshots leave the tick');
});
