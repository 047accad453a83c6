// A game's client part is found by the name its schema carries: the arena's own module, and
// the generic one for a game without a module or a name that is not a plain module name. The
// arena's input is the game part of the golden Input frames, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { ProtocolError, decodeClient, fromHex, toHex } from '../src/protocol.js';

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

const golden = JSON.parse(readFileSync(new URL('../../shared/tests/golden_vectors.json', import.meta.url), 'utf8'));

test('the arena input is the data of the golden Input frames', () => {
  // What each frame carries (protocol 6 sent these fields in the Input itself).
  const expected = {
    input_fire: { movement: { x: Math.fround(0.6), y: Math.fround(-0.8) }, aim: -1.5, buttons: arena.BUTTON_FIRE },
    input_idle_large_seq: { movement: { x: 0, y: 0 }, aim: 3, buttons: 0 },
  };
  for (const [name, controls] of Object.entries(expected)) {
    const vector = golden.vectors.find((v) => v.name === name);
    assert.ok(vector, `golden vector ${name}`);
    const data = Uint8Array.from(vector.value.Input.data);
    assert.equal(data.length, arena.INPUT_BYTES, name);
    assert.deepStrictEqual(arena.decodeInput(data), controls, `${name} decodes`);
    assert.equal(toHex(arena.encodeInput(controls)), toHex(data), `${name} encodes`);
    assert.deepStrictEqual(arena.decodeInput(decodeClient(fromHex(vector.hex)).data), controls, `${name} from the frame`);
  }
  assert.equal(toHex(arena.encodeInput({ movement: { x: 1, y: 0 }, aim: 0, buttons: 0 })), '0000803f' + '00000000' + '00000000' + '00');
});

test('an arena input that is not exactly one is refused', () => {
  const ok = arena.encodeInput({ movement: { x: 0.6, y: 0.8 }, aim: 1, buttons: 1 });
  for (let len = 0; len < ok.length; len++) assert.throws(() => arena.decodeInput(ok.subarray(0, len)), ProtocolError, `prefix of ${len}`);
  assert.throws(() => arena.decodeInput(Uint8Array.from([...ok, 0])), /1 trailing byte/);
  assert.throws(() => arena.encodeInput({ movement: { x: 0, y: 0 }, aim: 0, buttons: 256 }), ProtocolError);
  assert.throws(() => arena.encodeInput({ aim: 0, buttons: 0 }), /movement is missing/);
});

test('the generic game has no input: a game drawn generically sends none', () => {
  assert.equal(generic.encodeInput, undefined);
  assert.equal(typeof arena.encodeInput, 'function');
});
