// Holds src/protocol.js to the Rust codec: every golden vector in
// shared/tests/golden_vectors.json must decode to its `value` and encode back to its bytes.
// If a Rust message type changes without the JS following, this file fails. The file's
// `tables` (variant orders, limits), written by the Rust test from the real types, must be
// the JS codec's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  CLIENT_VARIANTS,
  DISCONNECT_REASONS,
  MAX_CHAT_BYTES,
  MAX_CLIENT_MESSAGE_BYTES,
  MAX_INPUT_BYTES,
  MAX_NAME_BYTES,
  MAX_SERVER_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  REPLAY_COMMANDS,
  REPLAY_SPEEDS,
  SERVER_VARIANTS,
  ProtocolError,
  Reader,
  Writer,
  decodeClient,
  decodeServer,
  encodeClient,
  encodeServer,
  fromHex,
  sanitizeName,
  toHex,
} from '../src/protocol.js';
import { MAX_KINDS, MAX_SCORES, MAX_TEXT, MAX_VALUES, compileSchema } from '../src/snapshot.js';
import { BUTTON_FIRE } from '../src/games/arena.js';
import { snapshotFromRust } from './rust-forms.js';

const goldenPath = fileURLToPath(new URL('../../shared/tests/golden_vectors.json', import.meta.url));
const golden = JSON.parse(readFileSync(goldenPath, 'utf8'));
const arena = compileSchema(golden.schema);

// Keys whose numbers are f32 on the wire; their JSON value is the f64 rendering of the f32.
const F32_KEYS = new Set(['aim', 'width', 'height', 'x', 'y', 'w', 'h']);
// Keys holding a glam Vec2 (serde: [x, y]) or a Vec<Vec2>.
const VEC2_KEYS = new Set(['pos', 'vel', 'movement']);
const VEC2_LIST_KEYS = new Set(['spawns']);
// Keys holding a Vec<u8> (serde: an array of numbers), a Uint8Array in JS.
const BYTES_KEYS = new Set(['data']);

const vec2 = (pair) => {
  assert.ok(Array.isArray(pair) && pair.length === 2, `Vec2 must be [x, y], got ${JSON.stringify(pair)}`);
  return { x: Math.fround(pair[0]), y: Math.fround(pair[1]) };
};

/** serde_json shape → the JS decoder's shape, with f32 fields rounded through Math.fround. */
function adapt(value, key) {
  if (VEC2_KEYS.has(key)) return vec2(value);
  if (VEC2_LIST_KEYS.has(key)) return value.map(vec2);
  if (BYTES_KEYS.has(key)) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map((v) => adapt(v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, adapt(v, k)]));
  }
  if (typeof value === 'number' && F32_KEYS.has(key)) return Math.fround(value);
  return value;
}

/** Field name the JS gives to each newtype ReplayCommand's payload. */
const REPLAY_COMMAND_FIELDS = { Speed: 'percent', Seek: 'tick' };

/** serde's ReplayCommand (`"Play"` or `{"Speed": 400}`) → `{ type, [percent|tick] }`. */
function toReplayCommand(value) {
  if (typeof value === 'string') return { type: value };
  const [[type, payload]] = Object.entries(value);
  assert.ok(type in REPLAY_COMMAND_FIELDS, `ReplayCommand ${type} carries a value`);
  return { type, [REPLAY_COMMAND_FIELDS[type]]: payload };
}

/** `{Variant: {...fields}}` (externally tagged) → `{type: 'Variant', ...fields}`. */
function toMessage(tagged) {
  const keys = Object.keys(tagged);
  assert.equal(keys.length, 1, 'a golden value has exactly one variant key');
  const [type] = keys;
  if (type === 'ReplayControl') return { type, command: toReplayCommand(tagged[type]) };
  // Snapshot records are integers on the wire: [x, y] pairs stay pairs.
  if (type === 'Snapshot') return snapshotFromRust(arena, tagged[type]);
  // The schema is compiled on decode; its description is what serde writes.
  if (type === 'Welcome') return { type, ...adapt(tagged[type]), schema: compileSchema(tagged[type].schema) };
  if (type === 'Scoreboard') return { type, rows: tagged[type] };
  return { type, ...adapt(tagged[type]) };
}

/** A decoded message with its compiled schema (functions and row tables) as its description. */
function comparable(msg) {
  return msg.type === 'Welcome' ? { ...msg, schema: msg.schema.desc } : msg;
}

test('golden vectors file is this protocol version and covers every variant', () => {
  assert.equal(PROTOCOL_VERSION, 7);
  assert.equal(golden.protocol_version, PROTOCOL_VERSION);
  const dirs = new Set(golden.vectors.map((v) => v.direction));
  assert.deepEqual([...dirs].sort(), ['client', 'server']);
  const variants = new Set(golden.vectors.map((v) => Object.keys(v.value)[0]));
  for (const v of [...CLIENT_VARIANTS, ...SERVER_VARIANTS]) {
    assert.ok(variants.has(v), `golden vectors include a ${v}`);
  }
  const commands = new Set(
    golden.vectors.filter((v) => 'ReplayControl' in v.value).map((v) => toReplayCommand(v.value.ReplayControl).type),
  );
  assert.deepEqual([...commands].sort(), [...REPLAY_COMMANDS].sort(), 'every ReplayCommand has a vector');
  assert.ok(
    golden.vectors.some((v) => v.value.Welcome?.entity_id === 0),
    'a spectator Welcome (entity_id 0) has a vector',
  );
});

for (const vector of golden.vectors) {
  const decode = vector.direction === 'client' ? decodeClient : (bytes) => decodeServer(bytes, arena);
  const encode = vector.direction === 'client' ? encodeClient : (msg) => encodeServer(msg, arena);

  test(`golden ${vector.direction} '${vector.name}' decodes to its value`, () => {
    const decoded = decode(fromHex(vector.hex));
    assert.deepStrictEqual(comparable(decoded), comparable(toMessage(vector.value)));
  });

  test(`golden ${vector.direction} '${vector.name}' encodes to its bytes`, () => {
    assert.equal(toHex(encode(toMessage(vector.value))), vector.hex);
  });

  test(`golden ${vector.direction} '${vector.name}' truncated anywhere is refused`, () => {
    const bytes = fromHex(vector.hex);
    for (let len = 0; len < bytes.length; len++) {
      assert.throws(() => decode(bytes.subarray(0, len)), ProtocolError, `prefix of ${len} bytes`);
    }
  });

  test(`golden ${vector.direction} '${vector.name}' with a trailing byte is refused`, () => {
    const bytes = fromHex(vector.hex + '00');
    assert.throws(() => decode(bytes), /1 trailing byte/);
  });
}

test('JS tables are the ones the Rust test read off the real types', () => {
  const t = golden.tables;
  assert.deepEqual([...CLIENT_VARIANTS], t.client_variants);
  assert.deepEqual([...SERVER_VARIANTS], t.server_variants);
  assert.deepEqual([...REPLAY_COMMANDS], t.replay_commands);
  assert.deepEqual([...DISCONNECT_REASONS], t.disconnect_reasons);
  assert.deepEqual([...REPLAY_SPEEDS], t.replay_speeds);
  assert.deepEqual(
    [MAX_NAME_BYTES, MAX_CHAT_BYTES, MAX_CLIENT_MESSAGE_BYTES, MAX_SERVER_MESSAGE_BYTES, MAX_INPUT_BYTES, BUTTON_FIRE],
    [t.max_name_bytes, t.max_chat_bytes, t.max_client_message_bytes, t.max_server_message_bytes, t.max_input_bytes, t.button_fire],
  );
  assert.deepEqual(
    [MAX_VALUES, MAX_KINDS, MAX_TEXT, MAX_SCORES],
    [t.schema_limits.max_values, t.schema_limits.max_kinds, t.schema_limits.max_text, t.schema_limits.max_scores],
  );
});

test('a Snapshot is read only by a schema: before any Welcome it is refused', () => {
  const empty = golden.vectors.find((v) => v.name === 'snapshot_empty');
  assert.throws(() => decodeServer(fromHex(empty.hex)), /before the Welcome/);
  assert.equal(decodeServer(fromHex(empty.hex), arena).type, 'Snapshot');
});

test('varint boundaries encode shortest and round-trip', () => {
  const cases = [
    [0, '00'],
    [250, 'fa'],
    [251, 'fbfb00'],
    [65535, 'fbffff'],
    [65536, 'fc00000100'],
    [2 ** 32 - 1, 'fcffffffff'],
    [2 ** 32, 'fd0000000001000000'],
  ];
  for (const [value, hex] of cases) {
    const w = new Writer(1);
    w.u64(value);
    assert.equal(toHex(w.finish()), hex, `encode ${value}`);
    const r = new Reader(fromHex(hex));
    assert.equal(r.u64(), value, `decode ${hex}`);
    assert.equal(r.remaining, 0);
  }
});

test('varints are limited to their type', () => {
  // u32 cannot carry the u64 marker; u16 cannot carry the u32 marker.
  assert.throws(() => new Reader(fromHex('fd0000000001000000')).u32(), /invalid varint marker 253/);
  assert.throws(() => new Reader(fromHex('fc00000100')).u16(), /invalid varint marker 252/);
  assert.throws(() => new Reader(fromHex('fe')).u64(), /invalid varint marker 254/);
  assert.throws(() => new Writer().u32(2 ** 32), ProtocolError);
  assert.throws(() => new Writer().u16(65536), ProtocolError);
  assert.throws(() => new Writer().u8(256), ProtocolError);
  assert.throws(() => new Writer().u32(-1), ProtocolError);
  // A Snapshot tick beyond 2^53 would lose precision as a Number: refused, not rounded.
  assert.throws(() => decodeServer(fromHex('0100' + '8080808080808080' + '10' + '00000000000000'), arena), /tick.*2\^53/);
});

test('truncated input throws a clear error', () => {
  assert.throws(() => decodeServer(new Uint8Array(0)), {
    name: 'ProtocolError',
    message: /truncated message: ServerMessage variant needs 1 byte\(s\) at offset 0, only 0 left/,
  });
  // Pong { id: 70000, tick } cut inside the u32 of the id.
  assert.throws(() => decodeServer(fromHex('02fc7011')), {
    name: 'ProtocolError',
    message: /truncated message: Pong\.id needs 4 byte\(s\) at offset 2, only 2 left/,
  });
  // Hello whose name claims 0xff000000 bytes.
  assert.throws(() => decodeClient(fromHex('0001fc000000ff')), /truncated message: Hello\.name/);
  // Snapshot claiming a billion removed ids in a few bytes: refused before allocating.
  assert.throws(() => decodeServer(fromHex('01000300' + '8094ebdc03'), arena), /1000000000 removed ids in 0 bytes/);
});

test('unknown variants and bad UTF-8 are refused', () => {
  assert.throws(() => decodeServer(fromHex('09')), /unknown ServerMessage variant 9/);
  assert.throws(() => decodeClient(fromHex('05')), /unknown ClientMessage variant 5/);
  assert.throws(() => decodeClient(fromHex('0304')), /unknown ReplayCommand variant 4/);
  assert.throws(() => decodeServer(fromHex('030b')), /unknown DisconnectReason variant 11/);
  assert.throws(() => decodeServer(fromHex('030001ff')), /not valid UTF-8/);
  assert.throws(() => encodeClient({ type: 'Nope' }), /unknown ClientMessage variant/);
});

test('ReplayStatus and ReplayControl by hand (WIRE.md tables)', () => {
  // ReplayStatus { tick: 300, end_tick: 70000, paused: true, speed_percent: 200 }.
  const status = { type: 'ReplayStatus', tick: 300, end_tick: 70000, paused: true, speed_percent: 200 };
  assert.equal(toHex(encodeServer(status)), '04fb2c01fc7011010001c8');
  assert.deepStrictEqual(decodeServer(fromHex('04fb2c01fc7011010001c8')), status);
  assert.throws(() => decodeServer(fromHex('040000' + '02' + '64')), /invalid bool 2 for ReplayStatus\.paused/);
  assert.deepStrictEqual(decodeClient(fromHex('030378')), { type: 'ReplayControl', command: { type: 'Seek', tick: 120 } });
  assert.equal(toHex(encodeClient({ type: 'ReplayControl', command: { type: 'Speed', percent: 50 } })), '030232');
  // The server closes with 1007 on other speeds: the encoder refuses them first.
  assert.throws(() => encodeClient({ type: 'ReplayControl', command: { type: 'Speed', percent: 300 } }), /one of 50, 100, 200, 400/);
  assert.throws(() => encodeClient({ type: 'ReplayControl', command: { type: 'Rewind' } }), /unknown ReplayCommand variant/);
  assert.throws(() => encodeClient({ type: 'ReplayControl', command: { type: 'Seek', tick: -1 } }), ProtocolError);
});

test('an Input frame carries at most MAX_INPUT_BYTES of game data, as bytes', () => {
  const frame = (n) => ({ type: 'Input', seq: 7, view_tick: 90, data: new Uint8Array(n).fill(0xab) });
  const bytes = encodeClient(frame(MAX_INPUT_BYTES));
  assert.equal(bytes.length, 1 + 1 + 1 + 1 + MAX_INPUT_BYTES, 'variant, seq, view_tick, length, data');
  assert.ok(bytes.length <= MAX_CLIENT_MESSAGE_BYTES);
  assert.deepStrictEqual(decodeClient(bytes), frame(MAX_INPUT_BYTES));
  assert.deepStrictEqual(decodeClient(encodeClient(frame(0))), frame(0), 'a game may send no bytes');
  assert.throws(() => encodeClient(frame(MAX_INPUT_BYTES + 1)), { name: 'ProtocolError', message: /Input\.data of 65 bytes exceeds 64/ });
  // The same frame written by hand with 65 bytes of data: refused on decode too.
  const long = fromHex('01' + '07' + '5a' + '41' + 'ab'.repeat(65));
  assert.throws(() => decodeClient(long), { name: 'ProtocolError', message: /Input\.data of 65 bytes at offset 3 exceeds 64/ });
  assert.throws(() => encodeClient({ type: 'Input', seq: 1, view_tick: 0, data: [1, 2] }), /Input\.data must be a Uint8Array/);
  assert.throws(() => encodeClient({ type: 'Input', seq: 1, view_tick: 0 }), /Input\.data must be a Uint8Array/);
});

test('client message of the largest legal Hello stays under the server limit', () => {
  const bytes = encodeClient({ type: 'Hello', protocol_version: PROTOCOL_VERSION, name: 'x'.repeat(24), spectate: true });
  assert.equal(bytes.length, 1 + 1 + 1 + 24 + 1);
  assert.throws(() => decodeClient(new Uint8Array(257)), /exceeds 256/);
});

test('sanitizeName keeps names the server accepts', () => {
  assert.equal(sanitizeName('  ann  ', 'fb'), 'ann');
  assert.equal(sanitizeName('a\u0007b\n', 'fb'), 'ab');
  assert.equal(sanitizeName('', 'fb'), 'fb');
  assert.equal(sanitizeName('   ', 'fb'), 'fb');
  assert.equal(sanitizeName(null, 'fb'), 'fb');
  const long = sanitizeName('é'.repeat(20), 'fb'); // 2 bytes each: cut at 12 characters
  assert.equal(long, 'é'.repeat(12));
  assert.equal(new TextEncoder().encode(sanitizeName('x'.repeat(30) + '⚔', 'fb')).length, 24);
});
