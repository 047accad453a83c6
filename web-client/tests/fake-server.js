// A tiny stand-in for the Rust server, for tests of client behaviour the real server cannot be
// made to show on demand (garbage frames, VersionMismatch, abrupt closes, replay controls on a
// known recording). Serves web-client/ over HTTP and speaks protocol v7 on /ws with a
// hand-rolled RFC 6455 server (node has none built in). Snapshots are real deltas (each
// client's baseline is its last snapshot; keyframes on join and after a replay jump), made by
// snapshot.js's encoder from entities quantized here. Game logic is a toy: players move at
// 200 u/s; no combat. With `replay`, it is a replay server instead: every client is a spectator
// of a scripted recording (replayEntities) with its own play/pause/speed/seek state.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { PROTOCOL_VERSION, REPLAY_SPEEDS, decodeClient, encodeServer } from '../src/protocol.js';
import { POS_SCALE, VEL_SCALE, compileSchema, quantize, snapshotBetween } from '../src/snapshot.js';
import { decodeInput } from '../src/games/arena.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
const TICK_RATE = 60;
const SNAPSHOT_RATE = 20;
const SPEED = 200;
/** The arena's schema, as the Rust golden vectors record what the server sends. */
export const ARENA_SCHEMA = compileSchema(
  JSON.parse(readFileSync(new URL('../../shared/tests/golden_vectors.json', import.meta.url), 'utf8')).schema,
);
const MAP = {
  id: 'fake',
  width: 2000,
  height: 2000,
  walls: [{ x: 900, y: 300, w: 200, h: 40 }],
  spawns: [{ x: 400, y: 400 }],
};

/** Every player of the scripted recording: [entity id, client id, name]. */
const REPLAY_PLAYERS = [[10, 1, 'red'], [11, 2, 'blue']];

/**
 * The scripted recording at `tick`: red crosses the map left → right at 60 u/s (1 unit per
 * tick), blue right → left, both wrapping every 1800 ticks; one NPC stands still.
 */
export function replayEntities(tick) {
  const t = tick % 1800;
  return [
    { id: 3, kind: 'Npc', pos: { x: 1000, y: 1000 }, vel: { x: 0, y: 0 }, aim: 0, health: 0, owner: 0 },
    { id: 10, kind: 'Player', pos: { x: 100 + t, y: 500 }, vel: { x: 60, y: 0 }, aim: 0, health: 100, owner: 1 },
    { id: 11, kind: 'Player', pos: { x: 1900 - t, y: 1500 }, vel: { x: -60, y: 0 }, aim: Math.fround(Math.PI), health: 100, owner: 2 },
  ];
}

/**
 * A world-unit entity ({ kind, owner, pos: {x, y}, vel: {x, y}, ...fields }) as the record a
 * snapshot carries at `tick`, each field of its kind quantized by the schema.
 */
export function toRecord(e, tick) {
  const moving = e.vel.x !== 0 || e.vel.y !== 0;
  const kind = ARENA_SCHEMA.kind(e.kind);
  const record = { id: e.id, kind: e.kind, owner: kind.owned ? e.owner : 0 };
  for (const field of kind.fields) record[field.name] = quantize(field, e[field.name] ?? 0);
  return Object.assign(record, {
    pos: [Math.round(e.pos.x * POS_SCALE), Math.round(e.pos.y * POS_SCALE)],
    vel: [Math.round(e.vel.x * VEL_SCALE), Math.round(e.vel.y * VEL_SCALE)],
    base_tick: moving ? tick : 0,
  });
}

/**
 * Sends `client` the snapshot of `entities` (world units) at `tick`: a delta from its last
 * one, or a keyframe when it has none or the tick did not move forward (a replay seek).
 */
function sendSnapshot(client, entities, tick, lastInputSeq) {
  const records = entities.map((e) => toRecord(e, tick)).sort((a, b) => a.id - b.id);
  const base = client.baseline && client.baseline.tick < tick ? client.baseline : null;
  client.peer.send(encodeServer(snapshotBetween(ARENA_SCHEMA, base, records, tick, TICK_RATE, lastInputSeq), ARENA_SCHEMA));
  client.baseline = { tick, entities: records };
}

/** Sends `rows` as a Scoreboard if it differs from what `client` last got. */
function sendScoreboard(client, rows) {
  const text = JSON.stringify(rows);
  if (client.scoreboardSent === text) return;
  client.scoreboardSent = text;
  client.peer.send(encodeServer({ type: 'Scoreboard', rows }));
}

/** One upgraded socket with frame parsing and sending. */
class Peer {
  constructor(socket, onMessage, onClose) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse(onMessage);
    });
    socket.on('close', () => {
      this.closed = true;
      onClose();
    });
    socket.on('error', () => {});
  }

  parse(onMessage) {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const opcode = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b[1] & 0x80) !== 0;
      const maskOff = off;
      if (masked) off += 4;
      if (b.length < off + len) return;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[maskOff + (i % 4)];
      this.buf = b.subarray(off + len);
      if (opcode === 0x8) {
        this.close(payload.length >= 2 ? payload.readUInt16BE(0) : 1000, '');
      } else if (opcode === 0x9) {
        this.frame(0xa, payload);
      } else if (opcode === 0x2) {
        onMessage(new Uint8Array(payload));
      } else if (opcode === 0x1) {
        this.close(1003, 'text frame');
      }
    }
  }

  frame(opcode, payload) {
    if (this.closed) return;
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (len >= 126 && len < 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else if (len >= 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    this.socket.write(Buffer.concat([head, payload]));
  }

  send(bytes) {
    this.frame(0x2, Buffer.from(bytes));
  }

  close(code, reason) {
    if (this.closed) return;
    const r = Buffer.from(reason, 'utf8');
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.frame(0x8, p);
    this.closed = true;
    this.socket.end();
  }
}

/**
 * Starts the fake server on 127.0.0.1 (random port). Returns { url, clients, state,
 * disconnect(client, reason, code, message), stop() }. `clients` lists every upgraded socket
 * in connection order (closed ones too) as { peer, clientId, entityId, name, pos, lastInput,
 * inputs, pings, baseline, ... } (lastInput: the last Input frame `{ seq, view_tick, data }`
 * with beside it the arena controls its data carries, `{ movement, aim, buttons }`);
 * `state.acceptVersion` is the protocol version Hello must carry; `state.corruptNext = true`
 * makes the next snapshot of every client a delta on a baseline it does not hold (the page
 * must reconnect, and never show it).
 *
 * `replay: { endTick }` makes it a replay server: Welcome.entity_id 0, snapshots of
 * replayEntities(tick) with a ReplayStatus after each (none while paused), ReplayControl
 * answered at once by a ReplayStatus and, if the tick changed, a snapshot. Each client has
 * `replay: { tick, paused, speed }` and `commands` (every ReplayCommand received);
 * `state.holdStatus = true` withholds every ReplayStatus.
 */
export async function startFakeServer({ webRoot, replay = null }) {
  const clients = [];
  let nextClient = 1;
  let nextEntity = 100;
  let tick = 0;
  const state = { acceptVersion: PROTOCOL_VERSION, holdStatus: false, corruptNext: false };

  const http = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const rel = normalize(path === '/' ? '/index.html' : path);
    if (rel.includes('..')) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(join(webRoot, rel));
      res.writeHead(200, { 'content-type': MIME[extname(rel)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });

  http.on('upgrade', (req, socket) => {
    const key = req.headers['sec-websocket-key'];
    if (new URL(req.url, 'http://x').pathname !== '/ws' || !key) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    // Select our subprotocol when offered, as the real server does (a browser that offered
    // subprotocols fails a connection whose answer selects none).
    const ours = `arena.v${PROTOCOL_VERSION}`;
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const selected = offered.includes(ours) ? `Sec-WebSocket-Protocol: ${ours}\r\n` : '';
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n${selected}\r\n`,
    );
    const client = {
      peer: null, clientId: 0, entityId: 0, name: null, pos: null, movement: { x: 0, y: 0 },
      lastSeq: 0, lastInput: null, inputs: 0, pings: 0, baseline: null, scoreboardSent: null, spectate: false,
      replay: replay ? { tick: 0, paused: false, speed: 100, acc: 0 } : null,
      commands: [],
    };
    clients.push(client);
    client.peer = new Peer(
      socket,
      (bytes) => onMessage(client, bytes),
      () => {},
    );
  });

  const disconnect = (client, reason, code, message) => {
    client.peer.send(encodeServer({ type: 'Disconnect', reason, message }));
    client.peer.close(code, message);
  };

  function onMessage(client, bytes) {
    let msg;
    try {
      msg = decodeClient(bytes);
    } catch (err) {
      disconnect(client, 'InvalidMessage', 1007, err.message);
      return;
    }
    if (!client.name) {
      if (msg.type !== 'Hello') return disconnect(client, 'ProtocolViolation', 1002, `${msg.type} before Hello`);
      if (msg.protocol_version !== state.acceptVersion) {
        return disconnect(client, 'VersionMismatch', 1002, 'protocol version mismatch');
      }
      client.name = msg.name;
      client.spectate = msg.spectate;
      client.clientId = nextClient++;
      client.entityId = replay || msg.spectate ? 0 : nextEntity++;
      client.pos = { ...MAP.spawns[0] };
      client.peer.send(
        encodeServer({ type: 'Welcome', client_id: client.clientId, entity_id: client.entityId, tick_rate: TICK_RATE, snapshot_rate: SNAPSHOT_RATE, schema: ARENA_SCHEMA, map: MAP }),
      );
      return;
    }
    if (msg.type === 'ReplayControl') {
      if (!replay) return disconnect(client, 'ProtocolViolation', 1002, 'ReplayControl on a live server');
      onReplayControl(client, msg.command);
    } else if (msg.type === 'Input') {
      // The game part is the arena's input, as the real server reads it.
      let controls;
      try {
        controls = decodeInput(msg.data);
      } catch (err) {
        disconnect(client, 'InvalidMessage', 1007, `input: ${err.message}`);
        return;
      }
      client.movement = controls.movement;
      client.lastSeq = msg.seq;
      client.lastInput = { ...msg, ...controls };
      client.inputs++;
    } else if (msg.type === 'Ping') {
      client.pings++;
      client.peer.send(encodeServer({ type: 'Pong', id: msg.id }));
    } else {
      disconnect(client, 'ProtocolViolation', 1002, 'Hello twice');
    }
  }

  function sendReplayStatus(client) {
    if (state.holdStatus) return;
    const r = client.replay;
    client.peer.send(encodeServer({ type: 'ReplayStatus', tick: r.tick, end_tick: replay.endTick, paused: r.paused, speed_percent: r.speed }));
  }

  function sendReplaySnapshot(client) {
    sendScoreboard(client, REPLAY_PLAYERS.map(([, c, name]) => ({ client: c, name, values: [0, 0] })));
    sendSnapshot(client, replayEntities(client.replay.tick), client.replay.tick, 0);
  }

  function onReplayControl(client, command) {
    client.commands.push(command);
    const r = client.replay;
    const before = r.tick;
    switch (command.type) {
      case 'Play':
        r.paused = false;
        break;
      case 'Pause':
        r.paused = true;
        break;
      case 'Speed':
        if (!REPLAY_SPEEDS.includes(command.percent)) return disconnect(client, 'InvalidMessage', 1007, 'invalid replay speed');
        r.speed = command.percent;
        break;
      case 'Seek':
        r.tick = Math.min(Math.max(command.tick, 0), replay.endTick);
        r.acc = 0;
        // A seek starts over with a keyframe, as the real replay server does.
        client.baseline = null;
        break;
    }
    sendReplayStatus(client);
    if (r.tick !== before) sendReplaySnapshot(client);
  }

  /** One snapshot period of a replay client: advance at its speed, send Snapshot + ReplayStatus. */
  function replayStep(client) {
    const r = client.replay;
    if (r.paused) return;
    r.acc += ((TICK_RATE / SNAPSHOT_RATE) * r.speed) / 100;
    const whole = Math.floor(r.acc);
    r.acc -= whole;
    r.tick = Math.min(r.tick + whole, replay.endTick);
    if (r.tick === replay.endTick) r.paused = true;
    sendReplaySnapshot(client);
    sendReplayStatus(client);
  }

  const live = () => clients.filter((c) => c.name && !c.peer.closed);
  const sim = setInterval(() => {
    tick++;
    if (replay) {
      if (tick % (TICK_RATE / SNAPSHOT_RATE) === 0) for (const c of live()) replayStep(c);
      return;
    }
    for (const c of live()) {
      c.pos.x = Math.min(MAP.width, Math.max(0, c.pos.x + (c.movement.x * SPEED) / TICK_RATE));
      c.pos.y = Math.min(MAP.height, Math.max(0, c.pos.y + (c.movement.y * SPEED) / TICK_RATE));
    }
    if (tick % (TICK_RATE / SNAPSHOT_RATE) !== 0) return;
    const watchers = live();
    const players = watchers.filter((c) => !c.spectate);
    const entities = players.map((c) => ({
      id: c.entityId,
      kind: 'Player',
      pos: c.pos,
      vel: { x: c.movement.x * SPEED, y: c.movement.y * SPEED },
      aim: 0,
      health: 100,
      owner: c.clientId,
    }));
    entities.push({ id: 1, kind: 'Npc', pos: { x: 500, y: 450 }, vel: { x: 0, y: 0 }, aim: 0, health: 0, owner: 0 });
    entities.sort((a, b) => a.id - b.id);
    const scoreboard = players.map((c) => ({ client: c.clientId, name: c.name, values: [0, 0] }));
    const corrupt = state.corruptNext;
    state.corruptNext = false;
    for (const c of watchers) {
      sendScoreboard(c, scoreboard);
      if (corrupt && c.baseline) {
        // A delta on a tick this client never had: it cannot be applied.
        c.peer.send(encodeServer({ type: 'Snapshot', last_input_seq: c.lastSeq, tick, baseline_tick: c.baseline.tick - 1, removed: [], created: [], updated: [] }, ARENA_SCHEMA));
        continue;
      }
      sendSnapshot(c, entities, tick, c.lastSeq);
    }
  }, 1000 / TICK_RATE);

  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    clients,
    state,
    disconnect,
    async stop() {
      clearInterval(sim);
      for (const c of clients) c.peer.socket.destroy();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
