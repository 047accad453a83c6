// Wire protocol v7 (shared/WIRE.md): bincode 2 `standard` encoding of ClientMessage and
// ServerMessage — varints, little-endian f32, length-prefixed strings and vectors, enums as
// varint variant indices — except the Snapshot, whose own compact layout snapshot.js reads
// and writes. Pure functions, no DOM: runs in the browser and under node:test.
//
// JS shapes: a message is `{ type: 'Variant', ...fields }`; Vec2 is `{ x, y }`; unit enum
// values (DisconnectReason) are their variant names as strings; u64 fields are
// Numbers (values above 2^53 are refused rather than silently rounded). A ReplayCommand is
// `{ type: 'Play' } | { type: 'Pause' } | { type: 'Speed', percent } | { type: 'Seek', tick }`.
// A Scoreboard is `{ type: 'Scoreboard', rows }`, rows `{ client, name, values }` in the game's
// order with one value per column of the schema's `scores`; a Snapshot is what snapshot.js parses, by the
// schema of the game that the Welcome before it carried (compiled: `Welcome.schema`); a chat
// line is `{ type: 'Chat', from, name, tick, text }` (from 0: a server announcement). An Input
// is the engine's frame `{ type: 'Input', seq, view_tick, data }` around the game's own input
// bytes (`data`, a Uint8Array of at most MAX_INPUT_BYTES), which the game's client module
// encodes (games/<name>.js `encodeInput`); this module knows no game's fields.
import { ProtocolError } from './errors.js';
import { readSchemaDesc, unzigzag, writeSchemaDesc, zigzag32 } from './schema-wire.js';
import { Cursor, compileSchema, decodeUtf8, parseSnapshot, writeSnapshot } from './snapshot.js';

export { ProtocolError };

export const PROTOCOL_VERSION = 7;
/** Longest chat line, in UTF-8 bytes (longer lines close the connection with 1007). */
export const MAX_CHAT_BYTES = 200;
/** Largest client message the server accepts (WIRE.md: over 256 bytes → close 1009). */
export const MAX_CLIENT_MESSAGE_BYTES = 256;
/** Largest server message we agree to decode (same limit as shared/src/codec.rs). */
export const MAX_SERVER_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Longest player name in UTF-8 bytes. */
export const MAX_NAME_BYTES = 24;
/** Longest game input an Input frame carries, in bytes (Input.data; longer: refused). */
export const MAX_INPUT_BYTES = 64;

export const DISCONNECT_REASONS = Object.freeze([
  'ServerShutdown',
  'VersionMismatch',
  'ProtocolViolation',
  'TextFrame',
  'InvalidMessage',
  'Timeout',
  'TooSlow',
  'MessageTooBig',
  'ServerFull',
  'RateLimited',
  'Kicked',
]);
export const REPLAY_COMMANDS = Object.freeze(['Play', 'Pause', 'Speed', 'Seek']);
/** Playback speeds a replay server accepts, in percent of real time (others: close 1007). */
export const REPLAY_SPEEDS = Object.freeze([50, 100, 200, 400]);
export const CLIENT_VARIANTS = Object.freeze(['Hello', 'Input', 'Ping', 'ReplayControl', 'Chat']);
export const SERVER_VARIANTS = Object.freeze([
  'Welcome', 'Snapshot', 'Pong', 'Disconnect', 'ReplayStatus', 'Scoreboard', 'Chat', 'Notice', 'Draining',
]);

const utf8Encoder = new TextEncoder();

// Varint markers (bincode 2 standard): <251 is the value itself.
const U16_MARKER = 251;
const U32_MARKER = 252;
const U64_MARKER = 253;

/** Reads primitive values from a byte array, throwing ProtocolError on anything malformed. */
export class Reader {
  constructor(bytes) {
    if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
    if (!(bytes instanceof Uint8Array)) throw new ProtocolError('expected Uint8Array or ArrayBuffer');
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  get remaining() {
    return this.bytes.length - this.pos;
  }

  need(n, what) {
    if (this.remaining < n) {
      throw new ProtocolError(
        `truncated message: ${what} needs ${n} byte(s) at offset ${this.pos}, only ${this.remaining} left`,
      );
    }
  }

  u8(what = 'u8') {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  bool(what = 'bool') {
    const b = this.u8(what);
    if (b > 1) throw new ProtocolError(`invalid bool ${b} for ${what} at offset ${this.pos - 1}`);
    return b === 1;
  }

  /** Unsigned varint of at most `bits` (16, 32 or 64) bits. */
  varint(bits, what = `u${bits}`) {
    const at = this.pos;
    const marker = this.u8(what);
    if (marker < U16_MARKER) return marker;
    let value;
    if (marker === U16_MARKER) {
      this.need(2, what);
      value = this.view.getUint16(this.pos, true);
      this.pos += 2;
    } else if (marker === U32_MARKER && bits >= 32) {
      this.need(4, what);
      value = this.view.getUint32(this.pos, true);
      this.pos += 4;
    } else if (marker === U64_MARKER && bits >= 64) {
      this.need(8, what);
      const big = this.view.getBigUint64(this.pos, true);
      this.pos += 8;
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new ProtocolError(`${what} at offset ${at} is ${big}, above 2^53-1`);
      }
      value = Number(big);
    } else {
      throw new ProtocolError(`invalid varint marker ${marker} for ${what} at offset ${at}`);
    }
    return value;
  }

  u16(what) {
    return this.varint(16, what);
  }

  u32(what) {
    return this.varint(32, what);
  }

  u64(what) {
    return this.varint(64, what);
  }

  f32(what = 'f32') {
    this.need(4, what);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  vec2(what = 'Vec2') {
    return { x: this.f32(`${what}.x`), y: this.f32(`${what}.y`) };
  }

  /** Vec<u8> of at most `max` bytes: length, then the bytes (a copy). */
  byteVec(max, what = 'bytes') {
    const at = this.pos;
    const len = this.u64(`${what} length`);
    if (len > max) throw new ProtocolError(`${what} of ${len} bytes at offset ${at} exceeds ${max}`);
    this.need(len, what);
    const out = this.bytes.slice(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(what = 'String') {
    const len = this.u64(`${what} length`);
    this.need(len, what);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return decodeUtf8(slice, what);
  }

  /** Vec<T>: count, then `count` elements read by `readOne`. */
  vec(readOne, minElementBytes, what = 'Vec') {
    const count = this.u64(`${what} length`);
    // A hostile count cannot make us allocate: every element takes at least this many bytes.
    this.need(count * minElementBytes, `${what} of ${count} element(s)`);
    const out = new Array(count);
    for (let i = 0; i < count; i++) out[i] = readOne(this, i);
    return out;
  }

  /** Enum variant index → its name from `names`. */
  variant(names, what) {
    const at = this.pos;
    const index = this.u32(`${what} variant`);
    if (index >= names.length) {
      throw new ProtocolError(`unknown ${what} variant ${index} at offset ${at}`);
    }
    return names[index];
  }

  finish(what) {
    if (this.remaining !== 0) {
      throw new ProtocolError(`${this.remaining} trailing byte(s) after ${what}`);
    }
  }
}

/** Appends primitive values to a growing byte buffer. */
export class Writer {
  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }

  reserve(n) {
    if (this.pos + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.pos));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  u8(v, what = 'u8') {
    checkInt(v, 0, 0xff, what);
    this.reserve(1);
    this.bytes[this.pos++] = v;
  }

  bool(v) {
    this.u8(v ? 1 : 0);
  }

  varint(v, bits, what = `u${bits}`) {
    if (typeof v === 'bigint') {
      if (v < 0n || v > (1n << BigInt(bits)) - 1n) throw new ProtocolError(`${what} out of range: ${v}`);
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) v = Number(v);
    } else {
      checkInt(v, 0, bits === 16 ? 0xffff : bits === 32 ? 0xffffffff : Number.MAX_SAFE_INTEGER, what);
    }
    if (typeof v === 'bigint' || v > 0xffffffff) {
      this.reserve(9);
      this.bytes[this.pos++] = U64_MARKER;
      this.view.setBigUint64(this.pos, BigInt(v), true);
      this.pos += 8;
    } else if (v > 0xffff) {
      this.reserve(5);
      this.bytes[this.pos++] = U32_MARKER;
      this.view.setUint32(this.pos, v, true);
      this.pos += 4;
    } else if (v >= U16_MARKER) {
      this.reserve(3);
      this.bytes[this.pos++] = U16_MARKER;
      this.view.setUint16(this.pos, v, true);
      this.pos += 2;
    } else {
      this.reserve(1);
      this.bytes[this.pos++] = v;
    }
  }

  u16(v, what) {
    this.varint(v, 16, what);
  }

  u32(v, what) {
    this.varint(v, 32, what);
  }

  u64(v, what) {
    this.varint(v, 64, what);
  }

  f32(v, what = 'f32') {
    if (typeof v !== 'number') throw new ProtocolError(`${what} must be a number, got ${typeof v}`);
    this.reserve(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  vec2(v, what = 'Vec2') {
    if (v == null) throw new ProtocolError(`${what} is missing`);
    this.f32(v.x, `${what}.x`);
    this.f32(v.y, `${what}.y`);
  }

  string(s, what = 'String') {
    if (typeof s !== 'string') throw new ProtocolError(`${what} must be a string`);
    const bytes = utf8Encoder.encode(s);
    this.u64(bytes.length, `${what} length`);
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Vec<u8> (a Uint8Array) of at most `max` bytes. */
  byteVec(bytes, max, what = 'bytes') {
    if (!(bytes instanceof Uint8Array)) throw new ProtocolError(`${what} must be a Uint8Array`);
    if (bytes.length > max) throw new ProtocolError(`${what} of ${bytes.length} bytes exceeds ${max}`);
    this.u64(bytes.length, `${what} length`);
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  vec(items, writeOne, what = 'Vec') {
    if (!Array.isArray(items)) throw new ProtocolError(`${what} must be an array`);
    this.u64(items.length, `${what} length`);
    for (const item of items) writeOne(this, item);
  }

  variant(names, name, what) {
    const index = names.indexOf(name);
    if (index < 0) throw new ProtocolError(`unknown ${what} variant ${JSON.stringify(name)}`);
    this.u32(index);
  }

  finish() {
    return this.bytes.slice(0, this.pos);
  }
}

function checkInt(v, min, max, what) {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError(`${what} must be an integer in [${min}, ${max}], got ${v}`);
  }
}

// ---------------------------------------------------------------------------------------
// Client → server

/**
 * Encodes a ClientMessage: {type:'Hello',protocol_version,name,spectate} |
 * {type:'Input',seq,view_tick,data} | {type:'Ping',id} | {type:'ReplayControl',command} |
 * {type:'Chat',text}.
 * A Speed outside REPLAY_SPEEDS, or an Input.data over MAX_INPUT_BYTES, is refused here rather
 * than by the server.
 */
export function encodeClient(msg) {
  const w = new Writer(32);
  w.variant(CLIENT_VARIANTS, msg?.type, 'ClientMessage');
  switch (msg.type) {
    case 'Hello':
      w.u16(msg.protocol_version, 'Hello.protocol_version');
      w.string(msg.name, 'Hello.name');
      w.bool(msg.spectate === true);
      break;
    case 'Input':
      w.u32(msg.seq, 'Input.seq');
      w.u32(msg.view_tick ?? 0, 'Input.view_tick');
      w.byteVec(msg.data, MAX_INPUT_BYTES, 'Input.data');
      break;
    case 'Ping':
      w.u32(msg.id, 'Ping.id');
      break;
    case 'ReplayControl':
      writeReplayCommand(w, msg.command);
      break;
    case 'Chat':
      w.string(msg.text, 'Chat.text');
      break;
  }
  return w.finish();
}

function writeReplayCommand(w, cmd) {
  w.variant(REPLAY_COMMANDS, cmd?.type, 'ReplayCommand');
  if (cmd.type === 'Speed') {
    if (!REPLAY_SPEEDS.includes(cmd.percent)) {
      throw new ProtocolError(`ReplayCommand.Speed must be one of ${REPLAY_SPEEDS.join(', ')}, got ${cmd.percent}`);
    }
    w.u16(cmd.percent, 'ReplayCommand.Speed');
  } else if (cmd.type === 'Seek') {
    w.u64(cmd.tick, 'ReplayCommand.Seek');
  }
}

function readReplayCommand(r) {
  const type = r.variant(REPLAY_COMMANDS, 'ReplayCommand');
  if (type === 'Speed') return { type, percent: r.u16('ReplayCommand.Speed') };
  if (type === 'Seek') return { type, tick: r.u64('ReplayCommand.Seek') };
  return { type };
}

/** Decodes a ClientMessage (the server's side; used by tests and tools). */
export function decodeClient(bytes) {
  const r = new Reader(bytes);
  if (r.remaining > MAX_CLIENT_MESSAGE_BYTES) {
    throw new ProtocolError(`client message of ${r.remaining} bytes exceeds ${MAX_CLIENT_MESSAGE_BYTES}`);
  }
  const type = r.variant(CLIENT_VARIANTS, 'ClientMessage');
  let msg;
  switch (type) {
    case 'Hello':
      msg = {
        type,
        protocol_version: r.u16('Hello.protocol_version'),
        name: r.string('Hello.name'),
        spectate: r.bool('Hello.spectate'),
      };
      break;
    case 'Input':
      msg = {
        type,
        seq: r.u32('Input.seq'),
        view_tick: r.u32('Input.view_tick'),
        data: r.byteVec(MAX_INPUT_BYTES, 'Input.data'),
      };
      break;
    case 'Ping':
      msg = { type, id: r.u32('Ping.id') };
      break;
    case 'ReplayControl':
      msg = { type, command: readReplayCommand(r) };
      break;
    case 'Chat':
      msg = { type, text: r.string('Chat.text') };
      break;
  }
  r.finish(type);
  return msg;
}

// ---------------------------------------------------------------------------------------
// Server → client

// Smallest encodings, used to refuse impossible Vec lengths before allocating.
const MIN_RECT_BYTES = 16;
const MIN_VEC2_BYTES = 8;
const MIN_SCORE_BYTES = 4;

/** A scoreboard row: `{ client, name, values }`, one value per column of the schema's `scores`. */
function readScore(r) {
  return {
    client: r.u32('ScoreEntry.client'),
    name: r.string('ScoreEntry.name'),
    values: r.vec((rr) => unzigzag(rr.u32('ScoreEntry value')), 1, 'ScoreEntry.values'),
  };
}

function readRect(r) {
  return { x: r.f32('Rect.x'), y: r.f32('Rect.y'), w: r.f32('Rect.w'), h: r.f32('Rect.h') };
}

function readMap(r) {
  return {
    id: r.string('MapData.id'),
    width: r.f32('MapData.width'),
    height: r.f32('MapData.height'),
    walls: r.vec(readRect, MIN_RECT_BYTES, 'MapData.walls'),
    spawns: r.vec((rr) => rr.vec2('MapData.spawns[]'), MIN_VEC2_BYTES, 'MapData.spawns'),
  };
}

/**
 * Decodes a ServerMessage from an ArrayBuffer or Uint8Array; a Snapshot's entries are read by
 * `schema` (compiled, from the Welcome). Throws ProtocolError on truncated input, unknown
 * variants, bad UTF-8, out-of-range varints, trailing bytes, or a Snapshot with no schema.
 */
export function decodeServer(bytes, schema = null) {
  const r = new Reader(bytes);
  if (r.remaining > MAX_SERVER_MESSAGE_BYTES) {
    throw new ProtocolError(`server message of ${r.remaining} bytes exceeds ${MAX_SERVER_MESSAGE_BYTES}`);
  }
  const type = r.variant(SERVER_VARIANTS, 'ServerMessage');
  let msg;
  switch (type) {
    case 'Welcome':
      msg = {
        type,
        client_id: r.u32('Welcome.client_id'),
        entity_id: r.u32('Welcome.entity_id'),
        tick_rate: r.u16('Welcome.tick_rate'),
        snapshot_rate: r.u16('Welcome.snapshot_rate'),
        schema: compileSchema(readSchemaDesc(r)),
        map: readMap(r),
      };
      break;
    case 'Snapshot': {
      if (!schema) throw new ProtocolError('a Snapshot before the Welcome: no schema to read it by');
      const cursor = new Cursor(r.bytes, r.pos);
      msg = parseSnapshot(cursor, schema);
      r.pos = cursor.pos;
      break;
    }
    case 'Scoreboard':
      msg = { type, rows: r.vec(readScore, MIN_SCORE_BYTES, 'Scoreboard') };
      break;
    case 'Pong':
      msg = { type, id: r.u32('Pong.id') };
      break;
    case 'Disconnect':
      msg = {
        type,
        reason: r.variant(DISCONNECT_REASONS, 'DisconnectReason'),
        message: r.string('Disconnect.message'),
      };
      break;
    case 'ReplayStatus':
      msg = {
        type,
        tick: r.u64('ReplayStatus.tick'),
        end_tick: r.u64('ReplayStatus.end_tick'),
        paused: r.bool('ReplayStatus.paused'),
        speed_percent: r.u16('ReplayStatus.speed_percent'),
      };
      break;
    case 'Chat':
      msg = {
        type,
        from: r.u32('ChatLine.from'),
        name: r.string('ChatLine.name'),
        tick: r.u64('ChatLine.tick'),
        text: r.string('ChatLine.text'),
      };
      break;
    case 'Notice':
      msg = { type, text: r.string('Notice.text') };
      break;
    case 'Draining':
      msg = { type, seconds: r.u16('Draining.seconds') };
      break;
  }
  r.finish(type);
  return msg;
}

/**
 * Encodes a ServerMessage (for tests and fake servers; the real server is Rust). A Snapshot is
 * written by `schema` (compiled).
 */
export function encodeServer(msg, schema = null) {
  const w = new Writer(128);
  w.variant(SERVER_VARIANTS, msg?.type, 'ServerMessage');
  switch (msg.type) {
    case 'Welcome': {
      w.u32(msg.client_id, 'Welcome.client_id');
      w.u32(msg.entity_id, 'Welcome.entity_id');
      w.u16(msg.tick_rate, 'Welcome.tick_rate');
      w.u16(msg.snapshot_rate, 'Welcome.snapshot_rate');
      writeSchemaDesc(w, msg.schema);
      const map = msg.map;
      w.string(map.id, 'MapData.id');
      w.f32(map.width, 'MapData.width');
      w.f32(map.height, 'MapData.height');
      w.vec(map.walls, (ww, rect) => {
        ww.f32(rect.x, 'Rect.x');
        ww.f32(rect.y, 'Rect.y');
        ww.f32(rect.w, 'Rect.w');
        ww.f32(rect.h, 'Rect.h');
      }, 'MapData.walls');
      w.vec(map.spawns, (ww, p) => ww.vec2(p, 'MapData.spawns[]'), 'MapData.spawns');
      break;
    }
    case 'Snapshot': {
      if (!schema) throw new ProtocolError('a Snapshot is written by a schema');
      const body = writeSnapshot(msg, schema);
      w.reserve(body.length);
      w.bytes.set(body, w.pos);
      w.pos += body.length;
      break;
    }
    case 'Scoreboard':
      w.vec(msg.rows, (ww, s) => {
        ww.u32(s.client, 'ScoreEntry.client');
        ww.string(s.name, 'ScoreEntry.name');
        ww.vec(s.values, (w3, v) => w3.u32(zigzag32(v), 'ScoreEntry value'), 'ScoreEntry.values');
      }, 'Scoreboard');
      break;
    case 'Pong':
      w.u32(msg.id, 'Pong.id');
      break;
    case 'Disconnect':
      w.variant(DISCONNECT_REASONS, msg.reason, 'DisconnectReason');
      w.string(msg.message, 'Disconnect.message');
      break;
    case 'ReplayStatus':
      w.u64(msg.tick, 'ReplayStatus.tick');
      w.u64(msg.end_tick, 'ReplayStatus.end_tick');
      if (typeof msg.paused !== 'boolean') throw new ProtocolError('ReplayStatus.paused must be a boolean');
      w.bool(msg.paused);
      w.u16(msg.speed_percent, 'ReplayStatus.speed_percent');
      break;
    case 'Chat':
      w.u32(msg.from, 'ChatLine.from');
      w.string(msg.name, 'ChatLine.name');
      w.u64(msg.tick, 'ChatLine.tick');
      w.string(msg.text, 'ChatLine.text');
      break;
    case 'Notice':
      w.string(msg.text, 'Notice.text');
      break;
    case 'Draining':
      w.u16(msg.seconds, 'Draining.seconds');
      break;
  }
  return w.finish();
}

/** Lowercase hex of bytes, for logs and tests. */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Bytes of a hex string; throws on odd length or non-hex characters. */
export function fromHex(hex) {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new ProtocolError(`bad hex: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A name the server will accept: trimmed, control characters removed, at most
 * MAX_NAME_BYTES bytes of UTF-8 (cut on a character boundary); `fallback` if nothing is left.
 */
export function sanitizeName(name, fallback) {
  let out = '';
  let bytes = 0;
  // eslint-disable-next-line no-control-regex
  for (const ch of String(name ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim()) {
    const n = utf8Encoder.encode(ch).length;
    if (bytes + n > MAX_NAME_BYTES) break;
    out += ch;
    bytes += n;
  }
  out = out.trim();
  return out.length > 0 ? out : fallback;
}
