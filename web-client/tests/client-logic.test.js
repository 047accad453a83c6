// Unit tests of the client's pure logic under node: snapshot interpolation (including skipped
// snapshots, extrapolation, teleports, and replay seeks, pauses and speeds), input shaping,
// reconnect backoff, scoreboard order, replay-bar helpers, the spectator's fitted camera.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SnapshotBuffer, lerpAngle } from '../src/interpolation.js';
import { aimAngle, movementFromKeys } from '../src/input.js';
import { backoffDelay, defaultUrl } from '../src/net.js';
import { namedScores } from '../src/hud.js';
import { formatTime, parseSeekTick, playbackRate } from '../src/replay-bar.js';
import { fitMapView } from '../src/render.js';
import * as arena from '../src/games/arena.js';
import { ARENA_SCHEMA } from './fake-server.js';

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

test('a tick not after the newest (replay seek back) starts the buffer over', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  for (let i = 0; i <= 10; i++) buf.push(snap(300 + 3 * i, [player(1, 300 + 3 * i, 0)]), msAt(300 + 3 * i, 300));
  assert.equal(buf.frames.length, 11);
  const now = msAt(330, 300);
  // Seek back to tick 120: only the new snapshot is left, shown as it is (no lerp toward the
  // old ticks, no extrapolation), and the clock follows the new tick at once.
  assert.equal(buf.push(snap(120, [player(1, 120, 0)]), now), true);
  assert.equal(buf.frames.length, 1);
  assert.equal(buf.newest.tick, 120);
  assert.equal(buf.resets, 1);
  assert.ok(Math.abs(buf.serverNow(now) - 120 / 60) < 1e-9);
  assert.equal(find(buf.sample(now), 1).x, 120);
  // The same tick again also replaces the buffer (e.g. a seek to the tick shown).
  buf.push(snap(120, [player(1, 121, 0)]), now + 10);
  assert.equal(buf.frames.length, 1);
  assert.equal(find(buf.sample(now + 10), 1).x, 121);
  assert.equal(buf.resets, 2);
});

test('a forward jump longer than a second (replay seek ahead) starts the buffer over', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.push(snap(0, [player(1, 0, 0)]), 0);
  buf.push(snap(3, [player(1, 3, 0)]), msAt(3, 0));
  buf.push(snap(63, [player(1, 63, 0)]), msAt(6, 0)); // exactly 1 s ahead: still a gap
  assert.equal(buf.resets, 0);
  assert.equal(buf.frames.at(-2).tick, 3);
  buf.push(snap(600, [player(1, 600, 0)]), msAt(9, 0));
  assert.deepEqual(buf.frames.map((f) => f.tick), [600]);
  assert.equal(buf.resets, 1);
  // The clock is re-anchored on the new tick: no lerp from x=63 toward x=600.
  const x = find(buf.sample(msAt(9, 0)), 1).x;
  assert.equal(x, 600);
});

test('paused (rate 0): the newest snapshot is shown frozen, without extrapolation drift', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.push(snap(0, [player(1, 0, 0, 120, 0)]), 0);
  buf.push(snap(3, [player(1, 6, 0, 120, 0)]), msAt(3, 0));
  buf.setRate(0, msAt(3, 0));
  assert.equal(buf.paused, true);
  for (const later of [0, 100, 1000, 60_000]) {
    const e = find(buf.sample(msAt(3, 0) + later), 1);
    assert.deepEqual([e.x, e.y], [6, 0], `${later} ms into the pause`);
  }
  // A seek while paused shows the new tick at once, still frozen.
  buf.push(snap(120, [player(1, 240, 0, 120, 0)]), 5000);
  assert.equal(find(buf.sample(5000), 1).x, 240);
  assert.equal(find(buf.sample(9000), 1).x, 240);
  // Play: frozen until the next snapshot re-anchors the clock, then interpolated again.
  buf.setRate(1, 9000);
  assert.equal(find(buf.sample(9100), 1).x, 240);
  buf.push(snap(123, [player(1, 246, 0, 120, 0)]), 9050);
  const now = 9050 + 100; // render time = tick 123 (anchored at 9050) + 0.1 s − 0.1 s
  assert.ok(Math.abs(find(buf.sample(now), 1).x - 246) < 1e-6);
  assert.ok(Math.abs(find(buf.sample(now - 25), 1).x - 243) < 1e-6, 'half way between ticks 120 and 123');
});

test('playback rate: server time runs at the replay speed and the delay scales with it', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.setRate(4, 0);
  // At 4× the server sends a snapshot every 50 ms real time, 12 ticks apart.
  for (let i = 0; i <= 10; i++) buf.push(snap(12 * i, [player(1, 12 * i, 0)]), 50 * i);
  const now = 500; // server now = tick 120; render time = 120 − 0.1 s × 4 × 60 = tick 96
  assert.ok(Math.abs(buf.serverNow(now) - 2) < 1e-9);
  assert.ok(Math.abs(find(buf.sample(now), 1).x - 96) < 1e-6);
  assert.ok(Math.abs(find(buf.sample(now + 25), 1).x - 102) < 1e-6, '25 ms real = 6 ticks at 4×');
  // A speed change keeps server time continuous.
  const before = buf.serverNow(now);
  buf.setRate(0.5, now);
  assert.ok(Math.abs(buf.serverNow(now) - before) < 1e-9);
  assert.ok(Math.abs(buf.serverNow(now + 1000) - before - 0.5) < 1e-9);
  // 12-tick gaps at 4× are not mistaken for seeks.
  assert.equal(buf.resets, 0);
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

test('a player coming back from the dead near where it died is not slid there', () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  buf.setGame(ARENA_SCHEMA, arena); // the arena's rule: a respawn is a jump
  buf.push(snap(0, [{ ...player(1, 232, 1800), health: 0 }]), 0);
  buf.push(snap(3, [player(1, 200, 1800)]), msAt(3, 0));
  const early = find(buf.sample(msAt(1, 0) + 100), 1);
  assert.deepEqual([early.x, early.health], [232, 0], 'dead where it fell');
  const late = find(buf.sample(msAt(2, 0) + 100), 1);
  assert.deepEqual([late.x, late.health], [200, 100], 'then at the spawn point, not on the way there');
});

test("fields blend by their schema's hints: the aim the short way round, health snaps", () => {
  const buf = new SnapshotBuffer();
  buf.reset(TICK_RATE);
  const at = (tick, aim, health) => snap(tick, [{ ...player(1, 0, 0), aim, health }]);
  buf.push(at(0, 3, 100), 0);
  buf.push(at(3, -3, 50), msAt(3, 0));
  const sample = (tick) => find(buf.sample(msAt(tick, 0) + 100), 1);
  assert.equal(sample(1).aim, 3, 'no schema yet: every field snaps (nearer snapshot)');
  buf.setGame(ARENA_SCHEMA, arena);
  const third = sample(1);
  assert.ok(Math.abs(third.aim - lerpAngle(3, -3, 1 / 3)) < 1e-9, `aim ${third.aim} blended across ±π`);
  assert.equal(third.health, 100, 'health is Snap: the nearer snapshot');
  assert.equal(sample(2).health, 50);
  const other = { kinds: [{ name: 'Player', fields: [{ name: 'aim', hint: 'Interpolate' }] }] };
  buf.setGame(other);
  assert.ok(Math.abs(sample(1.5).aim - 0) < 1e-9, 'a linear hint goes through 0, not round');
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

test("scoreboard rows keep the game's order and name their values by the schema's columns", () => {
  const rows = [
    { client: 3, name: 'c', values: [3, 1] },
    { client: 1, name: 'a', values: [1, 0] },
  ];
  const named = namedScores(rows, ['kills', 'deaths']);
  assert.deepEqual(named.map((r) => r.client), [3, 1], 'as the server ordered them');
  assert.deepEqual([named[0].kills, named[0].deaths, named[0].values], [3, 1, [3, 1]]);
  assert.deepEqual(namedScores([{ client: 1, name: 'x', values: [] }], []), [{ client: 1, name: 'x', values: [] }]);
});

test('replay time is tick / tick rate as m:ss', () => {
  assert.equal(formatTime(0, 60), '0:00');
  assert.equal(formatTime(59, 60), '0:00');
  assert.equal(formatTime(60, 60), '0:01');
  assert.equal(formatTime(120, 60), '0:02');
  assert.equal(formatTime(3599, 60), '0:59');
  assert.equal(formatTime(3600, 60), '1:00');
  assert.equal(formatTime(61 * 60 * 60 + 5 * 60, 60), '61:05', 'minutes are not wrapped into hours');
  assert.equal(formatTime(90, 30), '0:03');
  assert.equal(formatTime(10, 0), '–:––');
  assert.equal(formatTime(-1, 60), '–:––');
});

test('seek input: whole ticks, clamped to the recording', () => {
  assert.equal(parseSeekTick('120', 3600), 120);
  assert.equal(parseSeekTick(' 7 ', 3600), 7);
  assert.equal(parseSeekTick('0', 3600), 0);
  assert.equal(parseSeekTick('99999', 3600), 3600);
  assert.equal(parseSeekTick('9'.repeat(30), 3600), 3600);
  for (const bad of ['', ' ', '-5', '1.5', '12abc', '1e3', 'abc', null, undefined]) {
    assert.equal(parseSeekTick(bad, 3600), null, JSON.stringify(bad));
  }
});

test('playback rate from a ReplayStatus', () => {
  assert.equal(playbackRate({ paused: false, speed_percent: 100 }), 1);
  assert.equal(playbackRate({ paused: false, speed_percent: 50 }), 0.5);
  assert.equal(playbackRate({ paused: false, speed_percent: 400 }), 4);
  assert.equal(playbackRate({ paused: true, speed_percent: 200 }), 0);
});

test('spectator camera fits the whole map between the HUD and the replay bar', () => {
  const insets = { top: 40, right: 16, bottom: 64, left: 16 };
  // Tall map in a wide canvas: height decides.
  const a = fitMapView({ width: 2000, height: 2000 }, 960, 640, insets);
  assert.equal(a.scale, 536 / 2000);
  assert.deepEqual(a.focus, { x: 480, y: 40 + 268 });
  // Wide map: width decides, and the map stays inside the canvas both ways.
  const b = fitMapView({ width: 4000, height: 1000 }, 960, 640, insets);
  assert.equal(b.scale, 928 / 4000);
  assert.ok(1000 * b.scale <= 536);
  // A small map is scaled up to fill the view.
  assert.ok(fitMapView({ width: 200, height: 100 }, 960, 640, insets).scale > 1);
});

test('chatError holds a line to the server rules before it is sent', async () => {
  const { chatError } = await import('../src/chat.js');
  assert.equal(chatError('gg'), null);
  assert.equal(chatError('é'.repeat(100)), null, '200 bytes');
  assert.match(chatError('é'.repeat(100) + 'x'), /too long: 201 of 200 bytes/);
  assert.equal(chatError('   '), 'empty');
  assert.match(chatError('a\u0007b'), /control/);
  assert.equal(chatError('<img src=x onerror=alert(1)>'), null, 'markup is just text');
});
