// Holds src/movement.js to shared::movement: every golden trajectory that
// shared/tests/trajectories.rs writes (real arena, awkward walls, bounds, random inputs) must be
// reproduced bit for bit, so client prediction lands where the server does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { PLAYER_RADIUS, PLAYER_SPEED, prepareMap, step, tickDt } from '../src/movement.js';

const path = fileURLToPath(new URL('../../shared/tests/trajectories.json', import.meta.url));
const golden = JSON.parse(readFileSync(path, 'utf8'));
const f = Math.fround;

test('the constants are the Rust ones', () => {
  assert.equal(PLAYER_RADIUS, golden.player_radius);
  assert.equal(PLAYER_SPEED, golden.player_speed);
});

test('every golden trajectory is reproduced bit for bit', () => {
  assert.ok(golden.cases.length >= 8, 'several cases');
  const dt = tickDt(golden.tick_rate);
  let ticks = 0;
  for (const c of golden.cases) {
    const map = prepareMap({ width: c.map.width, height: c.map.height, walls: c.map.walls.map(([x, y, w, h]) => ({ x, y, w, h })) });
    let [x, y] = c.start.map(f);
    c.inputs.forEach(([mx, my], i) => {
      [x, y] = step(x, y, mx, my, map, dt);
      const [ex, ey] = c.positions[i].map(f);
      assert.ok(x === ex && y === ey, `${c.name}, tick ${i + 1}: got (${x}, ${y}), the server has (${ex}, ${ey})`);
      ticks++;
    });
  }
  assert.ok(ticks > 3000, `${ticks} ticks checked`);
});
