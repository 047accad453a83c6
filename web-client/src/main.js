// Entry point: reads the player name, wires connection → snapshot buffer → renderer/HUD and
// input → connection, runs the frame loop, and publishes the read-only `window.game` hook.
import { Connection, defaultUrl } from './net.js';
import { SnapshotBuffer, Smoother } from './interpolation.js';
import { InputController } from './input.js';
import { Renderer } from './render.js';
import { Hud, sortScoreboard } from './hud.js';
import { sanitizeName } from './protocol.js';

/** How far the own player is carried along its velocity past its newest snapshot. */
const OWN_LEAD_MAX_S = 0.1;

const randomName = `player-${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
const name = sanitizeName(new URLSearchParams(location.search).get('name'), randomName);

const canvas = document.getElementById('view');
const renderer = new Renderer(canvas);
const hud = new Hud(document.body);
const buffer = new SnapshotBuffer();
const ownSmoother = new Smoother();
let newestArrivalMs = 0;

const conn = new Connection({
  url: defaultUrl(),
  name,
  callbacks: {
    onWelcome(welcome) {
      buffer.reset(welcome.tick_rate);
      ownSmoother.reset();
      input.start(welcome.tick_rate);
      console.info(`welcome: client ${welcome.client_id}, entity ${welcome.entity_id}, map ${welcome.map.id}`);
    },
    onSnapshot(snapshot) {
      const now = performance.now();
      if (buffer.push(snapshot, now)) newestArrivalMs = now;
    },
    onClose(close, retryInMs) {
      input.stop();
      console.warn(`connection closed (${close.code} ${close.reason})` + (retryInMs === null ? '' : `, retry in ${retryInMs} ms`));
    },
  },
});

const input = new InputController({
  target: canvas,
  ownScreenPos: () => (ownSmoother.pos ? renderer.worldToScreen(ownSmoother.pos) : null),
  send: (msg) => conn.send(msg),
});

function ownEntity() {
  const snap = buffer.newest;
  const id = conn.welcome?.entity_id;
  if (!snap || id === undefined) return null;
  return snap.entities.find((e) => e.id === id) ?? null;
}

function scoreboard() {
  return buffer.newest ? buffer.newest.scoreboard : [];
}

let lastFrameMs = performance.now();
function frame(now) {
  requestAnimationFrame(frame);
  const dt = Math.min((now - lastFrameMs) / 1000, 0.25);
  lastFrameMs = now;
  try {
    const connected = conn.state === 'connected';
    const own = connected ? ownEntity() : null;
    let ownPos = null;
    if (own) {
      const lead = Math.min(Math.max((now - newestArrivalMs) / 1000, 0), OWN_LEAD_MAX_S);
      ownPos = ownSmoother.update({ x: own.pos.x + own.vel.x * lead, y: own.pos.y + own.vel.y * lead }, dt);
    }
    // Remote entities interpolated in the past; the own player from the newest snapshot,
    // smoothed, with the locally held aim so turning feels immediate.
    const ownId = conn.welcome?.entity_id;
    const entities = connected ? buffer.sample(now).filter((e) => e.id !== ownId) : [];
    if (own) entities.push({ id: own.id, kind: own.kind, x: ownPos.x, y: ownPos.y, aim: input.aim, health: own.health, owner: own.owner });
    renderer.draw({
      map: conn.welcome?.map ?? null,
      entities,
      ownEntityId: ownId,
      ownPos,
      names: new Map(scoreboard().map((r) => [r.client, r.name])),
    });
    let reconnectInMs = null;
    if (conn.state === 'connecting') reconnectInMs = 0;
    else if (conn.reconnectAt !== null) reconnectInMs = Math.max(0, conn.reconnectAt - now);
    hud.update({
      state: conn.state,
      name,
      rtt: conn.rtt,
      tick: buffer.newest?.tick ?? null,
      playersOnline: scoreboard().length,
      clientId: conn.welcome?.client_id ?? null,
      scoreboard: scoreboard(),
      lastClose: conn.lastClose,
      reconnectInMs,
      decodeErrors: conn.decodeErrors,
    });
  } catch (err) {
    console.error('frame failed', err);
  }
}

// Read-only debug hook for tests and the console.
window.game = Object.freeze({
  get state() {
    return conn.state;
  },
  get name() {
    return name;
  },
  get clientId() {
    return conn.welcome?.client_id ?? null;
  },
  get entityId() {
    return conn.welcome?.entity_id ?? null;
  },
  get tick() {
    return buffer.newest?.tick ?? null;
  },
  get lastInputSeq() {
    return buffer.newest?.last_input_seq ?? null;
  },
  get rtt() {
    return conn.rtt;
  },
  get lastClose() {
    return conn.lastClose ? { ...conn.lastClose } : null;
  },
  get playersOnline() {
    return scoreboard().length;
  },
  get decodeErrors() {
    return conn.decodeErrors;
  },
  ownPosition() {
    const e = ownEntity();
    return e ? { x: e.pos.x, y: e.pos.y } : null;
  },
  entities() {
    const snap = buffer.newest;
    if (!snap) return [];
    return snap.entities.map((e) => ({ id: e.id, kind: e.kind, x: e.pos.x, y: e.pos.y, health: e.health, owner: e.owner }));
  },
  scoreboard() {
    return sortScoreboard(scoreboard()).map((r) => ({ ...r }));
  },
});

conn.start();
requestAnimationFrame(frame);
