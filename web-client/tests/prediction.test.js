// Client prediction and reconciliation (src/prediction.js) against a server played in the test
// by the same rules: inputs reach it a few ticks late, snapshots come every third tick, a few
// ticks later again, with positions quantized to 1/4 unit as on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Predictor, SNAP_DISTANCE, seqAfter } from '../src/prediction.js';
import { prepareMap, step, tickDt } from '../src/movement.js';

const arena = JSON.parse(readFileSync(fileURLToPath(new URL('../../assets/maps/arena.json', import.meta.url)), 'utf8'));
arena.walls = arena.walls.map((w) => ({ x: w.x, y: w.y, w: w.w, h: w.h }));
const quarter = (v) => Math.round(v * 4) / 4;

/** A deterministic input script: a direction held for 10 to 40 ticks, now and then none. */
function script(n, seed = 7) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const out = [];
  while (out.length < n) {
    const a = Math.floor(rnd() * 8) * (Math.PI / 4);
    const still = rnd() < 0.15;
    const hold = 10 + Math.floor(rnd() * 30);
    for (let i = 0; i < hold && out.length < n; i++) out.push(still ? { x: 0, y: 0 } : { x: Math.cos(a), y: Math.sin(a) });
  }
  return out;
}

/**
 * Plays `inputs` through a server `upTicks` away and snapshots `downTicks` away (one input per
 * tick, as over a steady link); returns the predictor and the server's final position.
 */
function play(inputs, { upTicks, downTicks, spawn = [1000, 1000], respawnAt = null }) {
  const map = prepareMap(arena);
  const dt = tickDt(60);
  const predictor = new Predictor(arena, 60);
  let server = spawn.map(Math.fround);
  let acked = 0;
  const inFlight = [];
  const snapshots = [];
  for (let tick = 1; tick <= inputs.length + upTicks + downTicks + 3; tick++) {
    if (tick <= inputs.length) {
      const msg = { type: 'Input', seq: tick, movement: inputs[tick - 1], aim: 0, buttons: 0 };
      predictor.input(msg);
      inFlight.push({ due: tick + upTicks, msg });
    }
    if (inFlight.length && inFlight[0].due <= tick) {
      const { msg } = inFlight.shift();
      server = step(server[0], server[1], msg.movement.x, msg.movement.y, map, dt);
      acked = msg.seq;
    }
    if (tick === respawnAt) server = [200, 200];
    if (tick % 3 === 0) snapshots.push({ due: tick + downTicks, pos: { x: quarter(server[0]), y: quarter(server[1]) }, acked });
    while (snapshots.length && snapshots[0].due <= tick) {
      const snap = snapshots.shift();
      predictor.reconcile({ pos: snap.pos, health: 100 }, snap.acked);
    }
  }
  return { predictor, server };
}

test('with the server a round trip away, the prediction needs corrections no larger than the wire rounding', () => {
  const { predictor, server } = play(script(1200), { upTicks: 5, downTicks: 5 });
  const stats = predictor.stats();
  assert.ok(stats.count > 300, `corrections counted: ${stats.count}`);
  assert.ok(stats.max <= 0.36, `largest correction ${stats.max} (quantizing to 1/4 unit moves at most 0.18 per axis)`);
  assert.ok(Math.hypot(predictor.pos[0] - server[0], predictor.pos[1] - server[1]) < 0.36, 'ends where the server is');
  assert.equal(predictor.pending.length, 0, 'every input acknowledged');
});

test('the drawn position absorbs a correction smoothly, and a respawn is shown at once', () => {
  const p = new Predictor(arena, 60);
  p.reconcile({ pos: { x: 500, y: 500 }, health: 100 }, 0);
  p.input({ seq: 1, movement: { x: 1, y: 0 }, aim: 0, buttons: 0 });
  const predicted = p.pos[0];
  assert.ok(Math.abs(predicted - (500 + 200 / 60)) < 1e-3, `moved at once: ${predicted}`);
  // The server says the player was 3 units further along: a correction of 3.
  const error = p.reconcile({ pos: { x: 506.5, y: 500 }, health: 100 }, 1);
  assert.ok(Math.abs(error - (506.5 - predicted)) < 1e-3, `correction ${error}`);
  const first = p.display(1 / 60).x;
  assert.ok(first < 506.5 && first > predicted, `drawn between old and new: ${first}`);
  let last = first;
  for (let i = 0; i < 30; i++) {
    const x = p.display(1 / 60).x;
    assert.ok(x >= last && x - last < 3, `eases forward without a jump: ${last} → ${x}`);
    last = x;
  }
  assert.ok(Math.abs(last - 506.5) < 0.01, `arrives: ${last}`);
  const jump = p.reconcile({ pos: { x: 200, y: 200 }, health: 100 }, 1);
  assert.ok(jump > SNAP_DISTANCE, 'a respawn is far');
  assert.deepEqual(p.display(1 / 60), { x: 200, y: 200 }, 'shown at once');
  assert.equal(p.stats().snaps, 1, 'counted as a snap, not a correction');
});

test('coming back from the dead near where it died is a respawn, not a correction', () => {
  const p = new Predictor(arena, 60);
  p.reconcile({ pos: { x: 500, y: 500 }, health: 100 }, 0);
  p.reconcile({ pos: { x: 500, y: 500 }, health: 0 }, 0);
  p.reconcile({ pos: { x: 540, y: 500 }, health: 100 }, 0);
  assert.deepEqual(p.display(1 / 60), { x: 540, y: 500 }, 'shown at once');
  assert.equal(p.stats().count, 0, 'no correction counted');
  assert.equal(p.stats().snaps, 1);
});

test('a dead player is not predicted to move', () => {
  const p = new Predictor(arena, 60);
  p.reconcile({ pos: { x: 500, y: 500 }, health: 0 }, 0);
  p.input({ seq: 1, movement: { x: 1, y: 0 }, aim: 0, buttons: 0 });
  assert.deepEqual(p.pos, [500, 500]);
});

test('sequence numbers compare across the u32 wrap', () => {
  assert.ok(seqAfter(5, 4));
  assert.ok(!seqAfter(4, 4));
  assert.ok(!seqAfter(4, 5));
  assert.ok(seqAfter(2, 0xfffffffe));
});
