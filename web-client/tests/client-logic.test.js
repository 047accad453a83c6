// Unit tests of the client's pure logic under node: snapshot interpolation (including skipped
// snapshots, extrapolation and teleports), input shaping, reconnect backoff, scoreboard order.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SnapshotBuffer, Smoother, lerpAngle } from '../src/interpolation.js';
import { aimAngle, movementFromKeys } from '../src/input.js';
import { backoffDelay, defaultUrl } from '../src/net.js';
import { sortScoreboard } from '../src/hud.js';

const TICK_RATE = 60;
const player = (id, x, y, vx = 0, vy = 0) => ({ id, kind: 'Player', pos: { x, y }, vel: { x: vx, y: vy }, aim: 0, health: 100, owner: id });
const snap = (tick, entities) => ({ type: 'Snapshot', tick, last_input_seq: 0, entities, scoreboard: [] });
/** Local ms at which server tick `tick` is "now", given the buffer's clock was set by `tick0` at 0 ms. */
const msAt = (tick, tick0) => ((tick - tick0) / TICK_RATE) * 1000;

function find(entities, id) {
  const e = entities.find((x) => x.id === id);
  assert.ok(e, `entity ${id} present`);
  return e;
}

test('renders 100 ms behind the newest snapshot, lerping between the snapshots around it', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  // Snapshots every 3 ticks (20 Hz); the player moves +10 x per snapshot.
  for (let i = 0; i <= 10; i++) buf.push(snap(3 * i, [player(7, 10 * i, 5)]), msAt(3 * i, 0));
  // Local now = time of tick 30 → render time = tick 24 = snapshot i=8 → x=80.
  const now = msAt(30, 0);
  assert.ok(Math.abs(buf.renderTime(now) - 24 / 60) < 1e-9);
  assert.ok(Math.abs(find(buf.sample(now), 7).x - 80) < 1e-6);
  // Half way between ticks 24 and 27.
  assert.ok(Math.abs(find(buf.sample(now + 25), 7).x - 85) < 1e-6);
});

test('skipped snapshots widen the lerp span instead of breaking it', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.push(snap(0, [player(1, 0, 0)]), 0);
  buf.push(snap(3, [player(1, 10, 0)]), msAt(3, 0));
  // Ticks 6..15 never arrive (server skipped them for a slow client).
  buf.push(snap(18, [player(1, 60, 0)]), msAt(18, 0));
  // Render time = tick 12: between 3 (x=10) and 18 (x=60): 10 + 50 * (9/15) = 40.
  assert.ok(Math.abs(find(buf.sample(msAt(18, 0)), 1).x - 40) < 1e-6);
});

test('stale or duplicate snapshots are ignored', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  assert.equal(buf.push(snap(10, [player(1, 0, 0)]), 0), true);
  assert.equal(buf.push(snap(10, [player(1, 99, 0)]), 1), false);
  assert.equal(buf.push(snap(4, [player(1, 99, 0)]), 2), false);
  assert.equal(buf.newest.tick, 10);
  assert.equal(buf.frames.length, 1);
});

test('when snapshots stop, extrapolates along velocity for at most 250 ms', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.push(snap(0, [player(1, 0, 0)]), 0);
  buf.push(snap(3, [player(1, 10, 0, 200, 0)]), msAt(3, 0));
  // 200 ms after the newest arrived: render time is 100 ms past it → x = 10 + 200 * 0.1.
  assert.ok(Math.abs(find(buf.sample(msAt(3, 0) + 200), 1).x - 30) < 1e-6);
  // Seconds later: capped at 250 ms of extrapolation.
  assert.ok(Math.abs(find(buf.sample(msAt(3, 0) + 5000), 1).x - 60) < 1e-6);
});

test('teleports (respawn) snap instead of sliding across the map', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.push(snap(0, [player(1, 0, 0)]), 0);
  buf.push(snap(3, [player(1, 1500, 1500)]), msAt(3, 0));
  // Render time at tick 1 (1/3 of the way): nearer to the first → still at the old spot.
  const early = find(buf.sample(msAt(1, 0) + 100), 1);
  assert.deepEqual([early.x, early.y], [0, 0]);
  const late = find(buf.sample(msAt(2.5, 0) + 100), 1);
  assert.deepEqual([late.x, late.y], [1500, 1500]);
});

test('entities appear and disappear with the snapshots around the render time', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  const shot = { id: 9, kind: 'Projectile', pos: { x: 100, y: 0 }, vel: { x: 600, y: 0 }, aim: 0, health: 0, owner: 1 };
  buf.push(snap(0, [player(1, 0, 0), player(2, 0, 0)]), 0);
  buf.push(snap(6, [player(1, 0, 0), shot]), msAt(6, 0));
  // Render time tick 3, between the two: entity 2 is gone, the projectile is placed back
  // along its velocity by (6-3)/60 s → x = 100 - 600 * 0.05 = 70.
  const ents = buf.sample(msAt(3, 0) + 100);
  assert.deepEqual(ents.map((e) => e.id), [1, 9]);
  assert.ok(Math.abs(find(ents, 9).x - 70) < 1e-6);
});

test('the clock offset snaps after a server restart (tick goes back to 0)', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.push(snap(6000, [player(1, 0, 0)]), 0);
  buf.reset(TICK_RATE); // new Welcome
  buf.push(snap(3, [player(1, 5, 0)]), 10_000);
  assert.ok(Math.abs(buf.serverNow(10_000) - 3 / 60) < 1e-9);
});

test('lerpAngle takes the short way round', () => {
  assert.ok(Math.abs(lerpAngle(3, -3, 0.5) - (3 + (2 * Math.PI - 6) / 2)) < 1e-9);
  assert.equal(lerpAngle(0, 1, 0.25), 0.25);
});

test('Smoother eases toward the target and snaps on large jumps', () => {
  const s = new Smoother({ rate: 25, snapDistance: 200 });
  assert.deepEqual(s.update({ x: 0, y: 0 }, 0.016), { x: 0, y: 0 });
  const p = s.update({ x: 10, y: 0 }, 0.016);
  assert.ok(p.x > 0 && p.x < 10, `eased: ${p.x}`);
  assert.deepEqual(s.update({ x: 1000, y: 0 }, 0.016), { x: 1000, y: 0 });
});

test('movement from keys is normalized, opposite keys cancel, arrows equal WASD', () => {
  assert.deepEqual(movementFromKeys(new Set(['KeyD'])), { x: 1, y: 0 });
  assert.deepEqual(movementFromKeys(new Set(['ArrowUp'])), { x: 0, y: -1 });
  assert.deepEqual(movementFromKeys(new Set(['KeyA', 'KeyD'])), { x: 0, y: 0 });
  assert.deepEqual(movementFromKeys(new Set(['KeyD', 'ArrowRight'])), { x: 1, y: 0 });
  const diag = movementFromKeys(new Set(['KeyW', 'ArrowLeft']));
  assert.ok(Math.abs(Math.hypot(diag.x, diag.y) - 1) < 1e-12);
  assert.ok(diag.x < 0 && diag.y < 0);
  assert.ok(Math.hypot(diag.x, diag.y) <= 1);
  assert.deepEqual(movementFromKeys(new Set(['Space'])), { x: 0, y: 0 });
});

test('aim angle is atan2 of the pointer relative to the player, y down', () => {
  assert.equal(aimAngle({ x: 100, y: 100 }, { x: 200, y: 100 }), 0);
  assert.equal(aimAngle({ x: 100, y: 100 }, { x: 100, y: 200 }), Math.PI / 2);
  assert.equal(aimAngle({ x: 100, y: 100 }, { x: 0, y: 100 }), Math.PI);
  assert.equal(aimAngle({ x: 100, y: 100 }, { x: 100, y: 0 }), -Math.PI / 2);
});

test('reconnect backoff grows from 0.5 s to 8 s with jitter', () => {
  const lo = () => 0;
  const hi = () => 0.999999;
  assert.equal(backoffDelay(0, lo), 250);
  assert.equal(backoffDelay(0, hi), 500);
  assert.equal(backoffDelay(1, hi), 1000);
  assert.equal(backoffDelay(4, hi), 8000);
  assert.equal(backoffDelay(50, hi), 8000);
  assert.equal(backoffDelay(50, lo), 4000);
});

test('WebSocket URL follows the page scheme and host', () => {
  assert.equal(defaultUrl({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/ws');
  assert.equal(defaultUrl({ protocol: 'https:', host: 'game.example' }), 'wss://game.example/ws');
});

test('scoreboard sorts by kills, then fewer deaths, then client id', () => {
  const rows = [
    { client: 1, name: 'a', kills: 1, deaths: 0 },
    { client: 2, name: 'b', kills: 3, deaths: 5 },
    { client: 3, name: 'c', kills: 3, deaths: 1 },
    { client: 4, name: 'd', kills: 1, deaths: 0 },
  ];
  assert.deepEqual(sortScoreboard(rows).map((r) => r.client), [3, 2, 1, 4]);
  assert.equal(rows[0].client, 1, 'input not mutated');
});
