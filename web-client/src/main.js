// Entry point: reads the player name, wires connection → snapshot buffer → renderer/HUD and
// input → connection (players) or replay bar → connection (spectators: Welcome.entity_id 0),
// runs the frame loop, and publishes the read-only `window.game` hook. The own player is
// predicted (prediction.js): it moves when the key is pressed, not a round trip later.
import { Connection, defaultUrl } from './net.js';
import { queryTokenWarning, takeToken } from './token.js';
import { SnapshotBuffer } from './interpolation.js';
import { InputController } from './input.js';
import { Renderer } from './render.js';
import { generic, loadGame } from './games/index.js';
import { Hud, namedScores } from './hud.js';
import { ReplayBar, playbackRate } from './replay-bar.js';
import { sanitizeName } from './protocol.js';
import { ChatBox } from './chat.js';

const randomName = `player-${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
const params = new URLSearchParams(location.search);
const name = sanitizeName(params.get('name'), randomName);
/** `?spectate=1`: watch without playing (no entity, no player slot). */
const spectate = params.get('spectate') === '1';
/**
 * `#token=`: a signed token, for servers that require one (`server token`); kept for this
 * tab. A `?token=` is refused with a warning (token.js says why).
 */
const { token, queryToken } = takeToken('arena.token');
if (queryToken) {
  const warning = document.getElementById('token-warning');
  warning.textContent = queryTokenWarning('/');
  warning.hidden = false;
}

const canvas = document.getElementById('view');
const renderer = new Renderer(canvas);
const hud = new Hud(document.body);
const buffer = new SnapshotBuffer({ adaptive: true });
/** The own player's prediction; null for spectators and before Welcome. */
let predictor = null;
/** The running game's client module (games/<name>.js), once loaded. */
let game = generic;
/** The own player's drawn position, or null. */
let ownPos = null;
/** When the server said it closes this connection (local ms), after a Draining; else null. */
let drainingAt = null;
/** Every Draining warning of this page, oldest first: { seconds, at } (for tests). */
const drainWarnings = [];
/** The last ReplayStatus of this connection (replay servers only), else null. */
let replayStatus = null;

/** Welcome.entity_id 0: no own player, no inputs, the whole map in view (replays). */
const isSpectator = () => conn.welcome?.entity_id === 0;

const conn = new Connection({
  url: defaultUrl(),
  name,
  spectate,
  token,
  callbacks: {
    onWelcome(welcome) {
      const schema = welcome.schema;
      // Inputs start once the game's module is here: its `encodeInput` makes their bytes (a
      // game without one, or a spectator, sends none).
      input.stop();
      predictor = null;
      loadGame(schema.game).then((loaded) => {
        if (conn.welcome?.schema !== schema) return;
        game = loaded;
        renderer.setGame(game, schema);
        buffer.setGame(schema, game);
        // A game that predicts its player's movement says how (arena: games/arena.js).
        predictor = welcome.entity_id === 0 ? null : game.createPredictor?.(welcome.map, welcome.tick_rate) ?? null;
        if (conn.state === 'connected' && !isSpectator()) input.start(welcome.tick_rate, game.encodeInput);
      });
      buffer.reset(welcome.tick_rate, welcome.snapshot_rate);
      buffer.setGame(schema, null);
      ownPos = null;
      setReplayStatus(null);
      replayBar.setTickRate(welcome.tick_rate);
      console.info(
        `welcome: client ${welcome.client_id}, ` +
          (welcome.entity_id === 0 ? 'spectator' : `entity ${welcome.entity_id}`) +
          `, map ${welcome.map.id}`,
      );
    },
    onSnapshot(snapshot) {
      buffer.push(snapshot, performance.now());
      const id = conn.welcome?.entity_id;
      predictor?.reconcile(snapshot.entities.find((e) => e.id === id) ?? null, snapshot.last_input_seq);
    },
    onReplayStatus(status) {
      setReplayStatus(status);
    },
    onChat(line) {
      chat.addLine(line);
    },
    onNotice(notice) {
      chat.addNotice(notice.text);
    },
    onDraining({ seconds }) {
      const at = performance.now();
      drainingAt = at + seconds * 1000;
      drainWarnings.push({ seconds, at });
      chat.addNotice(`The server is restarting: disconnecting in ${seconds} s`);
    },
    onClose(close, retryInMs) {
      input.stop();
      drainingAt = null;
      setReplayStatus(null);
      console.warn(`connection closed (${close.code} ${close.reason})` + (retryInMs === null ? '' : `, retry in ${retryInMs} ms`));
    },
  },
});

const chat = new ChatBox(document.getElementById('chat'), (text) => conn.send({ type: 'Chat', text }));

function setReplayStatus(status) {
  replayStatus = status;
  buffer.setRate(status ? playbackRate(status) : 1, performance.now());
  replayBar.show(status);
}

const replayBar = new ReplayBar({
  root: document.body,
  send: (command) => conn.send({ type: 'ReplayControl', command }),
});

const input = new InputController({
  target: canvas,
  ownScreenPos: () => (ownPos ? renderer.worldToScreen(ownPos) : null),
  // Only an input that went out is predicted: the server never sees the others. Prediction
  // steps with the controls the frame's bytes were made from.
  send: (frame, controls) => {
    // The tick others are drawn at: the server judges this input's shots against it.
    const view = buffer.renderTime(performance.now());
    frame.view_tick = view === null ? 0 : Math.max(0, Math.round(view * buffer.tickRate));
    if (conn.send(frame)) predictor?.input({ seq: frame.seq, movement: controls.movement });
  },
  worldScale: () => renderer.scale,
});

function ownEntity() {
  const snap = buffer.newest;
  const id = conn.welcome?.entity_id;
  if (!snap || id === undefined || id === 0) return null;
  return snap.entities.find((e) => e.id === id) ?? null;
}

function scoreboard() {
  return conn.state === 'connected' ? conn.scoreboard : [];
}

let lastFrameMs = performance.now();
function frame(now) {
  requestAnimationFrame(frame);
  const dt = Math.min((now - lastFrameMs) / 1000, 0.25);
  lastFrameMs = now;
  try {
    const connected = conn.state === 'connected';
    const own = connected ? ownEntity() : null;
    const ownId = conn.welcome?.entity_id;
    const sampled = connected ? buffer.sample(now) : [];
    // Remote entities interpolated in the past; the own entity predicted where the game
    // predicts it (else interpolated like the rest), with what the game shows of the local
    // controls at once (the arena's aim, so turning feels immediate).
    const shown = own ? sampled.find((e) => e.id === ownId) ?? { ...own, x: own.pos.x, y: own.pos.y } : null;
    ownPos = own ? predictor?.display(dt) ?? { x: shown.x, y: shown.y } : null;
    const entities = sampled.filter((e) => e.id !== ownId);
    if (own) entities.push({ ...shown, x: ownPos.x, y: ownPos.y, ...(game.showControls?.(input.controls()) ?? {}) });
    renderer.draw({
      map: conn.welcome?.map ?? null,
      entities,
      ownEntityId: ownId,
      ownPos,
      names: new Map(scoreboard().map((r) => [r.client, r.name])),
      fitMap: connected && isSpectator(),
    });
    let reconnectInMs = null;
    if (conn.state === 'connecting') reconnectInMs = 0;
    else if (conn.reconnectAt !== null) reconnectInMs = Math.max(0, conn.reconnectAt - now);
    hud.update({
      state: conn.state,
      name,
      spectator: connected && isSpectator(),
      rtt: conn.rtt,
      tick: buffer.newest?.tick ?? null,
      playersOnline: scoreboard().length,
      // A spectator has no row of its own (its client id may equal a recorded player's).
      clientId: isSpectator() ? null : conn.welcome?.client_id ?? null,
      scoreboard: scoreboard(),
      columns: conn.welcome?.schema?.scores ?? [],
      lastClose: conn.lastClose,
      reconnectInMs,
      decodeErrors: conn.decodeErrors,
      drainingInMs: connected && drainingAt !== null ? Math.max(0, drainingAt - now) : null,
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
  get tickRate() {
    return conn.welcome?.tick_rate ?? null;
  },
  /** True when Welcome made us a spectator (entity_id 0), e.g. on a replay server. */
  get spectator() {
    return isSpectator();
  },
  /** The last ReplayStatus as { tick, endTick, paused, speedPercent }, or null. */
  replay() {
    const s = replayStatus;
    return s ? { tick: s.tick, endTick: s.end_tick, paused: s.paused, speedPercent: s.speed_percent } : null;
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
  /** When the last close happened (performance.now()), or null. */
  get lastCloseAt() {
    return conn.lastCloseAt ?? null;
  },
  /** Draining warnings received, oldest first: { seconds, at } (at: performance.now()). */
  get drainWarnings() {
    return drainWarnings.map((w) => ({ ...w }));
  },
  get playersOnline() {
    return scoreboard().length;
  },
  get decodeErrors() {
    return conn.decodeErrors;
  },
  /** Chat lines shown, oldest first: { kind: 'chat'|'announcement'|'notice', from, name, tick, text }. */
  get chat() {
    return chat.lines.map((line) => ({ ...line }));
  },
  /** Payload bytes of every snapshot received by this page. */
  get snapshotBytes() {
    return conn.snapshotBytes;
  },
  ownPosition() {
    const e = ownEntity();
    return e ? { x: e.pos.x, y: e.pos.y } : null;
  },
  /** The own player's predicted position (where it is drawn, before smoothing), or null. */
  predictedPosition() {
    const p = predictor?.pos;
    return p ? { x: p[0], y: p[1] } : null;
  },
  /**
   * Prediction figures: corrections (distance from the predicted position to the reconciled
   * one at each snapshot, world units) { count, mean, p99, max, snaps }, and inputs pending.
   */
  prediction() {
    return predictor ? { ...predictor.stats(), pending: predictor.pending.length } : null;
  },
  entities() {
    const snap = buffer.newest;
    if (!snap) return [];
    return snap.entities.map(({ pos, vel: _vel, ...fields }) => ({ ...fields, x: pos.x, y: pos.y }));
  },
  scoreboard() {
    return namedScores(scoreboard(), conn.welcome?.schema?.scores ?? []);
  },
});

conn.start();
requestAnimationFrame(frame);
