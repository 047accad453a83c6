// The adaptive interpolation delay (src/interpolation.js): it follows the measured jitter of
// snapshot arrivals, from one snapshot interval up to a cap, changes no faster than the slew
// allows, and a remote entity moving steadily never jumps on screen while it does.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MAX_INTERP_DELAY_S, SnapshotBuffer } from '../src/interpolation.js';

const TICK_RATE = 60;
const SPEED = 200; // units per second: a player at full speed

/** A deterministic jitter source in [-1, 1]. */
function noise(seed) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 31) - 1;
}

/**
 * Plays `seconds` of 20 Hz snapshots of one entity moving right at SPEED, each arriving
 * `latency` ± `jitter` seconds after it was made (in order, as TCP delivers), sampled at 60 fps.
 * Returns the buffer and the largest on-screen step of the entity between two frames.
 */
function play(buf, { seconds, latency, jitter, seed = 1, startMs = 0 }) {
  const rnd = noise(seed);
  const arrivals = [];
  let last = 0;
  for (let tick = 3; tick <= seconds * TICK_RATE; tick += 3) {
    const made = startMs + (tick / TICK_RATE) * 1000;
    last = Math.max(last, made + (latency + jitter * rnd()) * 1000);
    const x = (SPEED * tick) / TICK_RATE;
    arrivals.push({ at: last, snapshot: { tick, last_input_seq: 0, entities: [{ id: 9, kind: 'Player', pos: { x, y: 0 }, vel: { x: SPEED, y: 0 }, aim: 0, health: 100, owner: 0 }], scoreboard: [] } });
  }
  let maxStep = 0;
  let prevX = null;
  let i = 0;
  for (let now = startMs; now <= startMs + seconds * 1000; now += 1000 / 60) {
    while (i < arrivals.length && arrivals[i].at <= now) buf.push(arrivals[i].snapshot, arrivals[i++].at);
    const e = buf.sample(now).find((x) => x.id === 9);
    if (!e) continue;
    if (prevX !== null && now > startMs + 1000) maxStep = Math.max(maxStep, Math.abs(e.x - prevX));
    prevX = e.x;
  }
  return { buf, maxStep };
}

test('the delay settles at one interval plus the jitter, and nothing jumps', () => {
  const buf = new SnapshotBuffer({ adaptive: true });
  buf.reset(TICK_RATE, 20);
  const { maxStep } = play(buf, { seconds: 10, latency: 0.075, jitter: 0.02 });
  // Arrivals spread over up to 40 ms: 50 + ~40 + 10 ms.
  assert.ok(buf.delay > 0.08 && buf.delay < 0.11, `delay ${buf.delay}`);
  const perFrame = SPEED / 60;
  assert.ok(maxStep < perFrame * 1.25, `largest step ${maxStep.toFixed(2)} for ${perFrame.toFixed(2)} per frame`);
});

test('a steady link brings the delay down to about one interval', () => {
  const buf = new SnapshotBuffer({ adaptive: true });
  buf.reset(TICK_RATE, 20);
  const { maxStep } = play(buf, { seconds: 10, latency: 0.01, jitter: 0 });
  assert.ok(buf.delay < 0.065 && buf.delay >= 0.05, `delay ${buf.delay}`);
  assert.ok(maxStep < (SPEED / 60) * 1.25, `largest step ${maxStep}`);
});

test('the delay is capped, and changes no faster than 10% of real time', () => {
  const buf = new SnapshotBuffer({ adaptive: true });
  buf.reset(TICK_RATE, 20);
  play(buf, { seconds: 3, latency: 0.2, jitter: 0.19 });
  assert.ok(buf.targetDelay <= MAX_INTERP_DELAY_S, `target ${buf.targetDelay}`);
  const before = buf.delay;
  buf.sample(3000 + 1000 / 60);
  buf.sample(3000 + 2000 / 60);
  assert.ok(Math.abs(buf.delay - before) <= 0.1 * (2000 / 60 / 1000) + 1e-9, `moved ${buf.delay - before} in two frames`);
});

test('a fixed buffer keeps its delay', () => {
  const buf = new SnapshotBuffer({ delay: 0.1 });
  buf.reset(TICK_RATE, 20);
  play(buf, { seconds: 3, latency: 0.075, jitter: 0.03 });
  assert.equal(buf.delay, 0.1);
});
