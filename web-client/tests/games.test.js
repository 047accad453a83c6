// A game's client part is found by the name its schema carries: the arena's own module, and
// the generic one for a game without a module or a name that is not a plain module name.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as arena from '../src/games/arena.js';
import { generic, loadGame } from '../src/games/index.js';

test('games load by name, and anything else draws generically', async () => {
  assert.equal(await loadGame('arena'), arena);
  assert.equal(await loadGame('no-such-game'), generic);
  for (const bad of ['../render', 'index.js', '', 'A B', null]) assert.equal(await loadGame(bad), generic, String(bad));
});

test('the arena draws its kinds; the generic module draws any kind', () => {
  const calls = [];
  const ctx = new Proxy({}, {
    get: (_, key) => (typeof key === 'string' && !['fillStyle', 'strokeStyle', 'lineWidth', 'globalAlpha', 'font', 'textAlign', 'textBaseline'].includes(key) ? (...args) => calls.push([key, ...args]) : undefined),
    set: () => true,
  });
  arena.drawEntity(ctx, { kind: 'Player', x: 10, y: 20, aim: 0, health: 50, owner: 3 }, { own: true, name: 'ann', scale: 1 });
  assert.ok(calls.some(([f, text]) => f === 'fillText' && text === 'ann'), 'the name is written');
  calls.length = 0;
  arena.drawEntity(ctx, { kind: 'Npc', x: 1, y: 2, owner: 0 }, { own: false, scale: 1 });
  assert.deepEqual(calls.find(([f]) => f === 'arc'), ['arc', 1, 2, arena.NPC_RADIUS, 0, Math.PI * 2]);
  calls.length = 0;
  generic.drawEntity(ctx, { kind: 'pellet', x: 5, y: 6 }, { own: false, kindIndex: 7 });
  assert.equal(calls.find(([f]) => f === 'arc')[1], 5);
});
