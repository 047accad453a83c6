// WebSocket lifecycle: connect to /ws (offering arena.v<N> and the page's token), Hello →
// Welcome, apply each Snapshot to this socket's SnapshotDecoder, route Scoreboard/
// ReplayStatus/Pong/Disconnect, ping every second for RTT, record the last close, and
// reconnect with jittered exponential backoff (0.5 s → 8 s) — except after a
// VersionMismatch, where retrying cannot help, or a kick. A message that does not decode, or a
// snapshot that does not apply, breaks the delta chain: the socket is closed (4000, with the
// reason logged) and the reconnect brings a keyframe. Corrupt state is never shown.
import { PROTOCOL_VERSION, decodeServer, encodeClient } from './protocol.js';
import { SnapshotDecoder } from './snapshot.js';

const PING_INTERVAL_MS = 1000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
/** Pings older than this are forgotten (their Pong is not coming). */
const PING_FORGET_MS = 10000;
/** Why a socket that never opened may have failed; browsers do not tell pages the HTTP status. */
export const NOT_UPGRADED = 'no connection: server unreachable, or refused (a missing or expired #token=, or this page\'s origin)';
/** Close code the client uses when the server's stream cannot be followed (4000–4999: private use). */
export const CLOSE_UNDECODABLE = 4000;

/**
 * One logical connection to the game server, surviving reconnects.
 *
 * Callbacks (all optional): onWelcome(welcome), onSnapshot(view), onReplayStatus(status),
 * onStateChange(state), onClose({code, reason}, retryInMs|null). A snapshot view is
 * `{ tick, last_input_seq, keyframe, entities, scoreboard }` with entities as
 * `SnapshotDecoder.view` gives them: `{ id, kind, owner, pos: {x, y}, vel: {x, y}, ...fields }`
 * in world units, dead-reckoned to `tick`, each field of the game's schema unquantized.
 */
export class Connection {
  constructor({ url, name, spectate = false, token = null, callbacks = {} }) {
    this.url = url;
    /** Subprotocols offered: ours, and the token as `bearer.<token>` when there is one. */
    this.protocols = socketProtocols(token);
    this.name = name;
    this.spectate = spectate;
    /** This socket's decoded world (null before Welcome). */
    this.decoder = null;
    /** The last Scoreboard rows. */
    this.scoreboard = [];
    /** Payload bytes of the snapshots received on this page. */
    this.snapshotBytes = 0;
    this.cb = callbacks;
    /** 'connecting' until Welcome, 'connected' after it, 'closed' after the socket closes. */
    this.state = 'closed';
    this.welcome = null;
    this.rtt = null;
    this.lastClose = null;
    this.lastCloseAt = null;
    /** The last Disconnect the server sent on the current socket, if any. */
    this.disconnect = null;
    /** Time (performance.now) of the next reconnect attempt, or null. */
    this.reconnectAt = null;
    this.noReconnect = false;
    this.attempt = 0;
    this.ws = null;
    this.pingId = 0;
    this.pingsSent = new Map();
    this.pingTimer = null;
    this.reconnectTimer = null;
    this.decodeErrors = 0;
  }

  start() {
    this.noReconnect = false;
    this.open();
  }

  /** Closes for good (no reconnect). */
  stop() {
    this.noReconnect = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectAt = null;
    if (this.ws) this.ws.close(1000, 'client stopped');
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.cb.onStateChange?.(state);
  }

  open() {
    clearTimeout(this.reconnectTimer);
    this.reconnectAt = null;
    this.disconnect = null;
    this.welcome = null;
    this.decoder = null;
    this.scoreboard = [];
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url, this.protocols);
    } catch (err) {
      console.error('WebSocket constructor failed', err);
      this.handleClose(ws, { code: 1006, reason: String(err?.message ?? err) });
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (this.ws !== ws) return;
      this.sendRaw(
        encodeClient({ type: 'Hello', protocol_version: PROTOCOL_VERSION, name: this.name, spectate: this.spectate }),
      );
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.handleMessage(ev.data);
    };
    ws.onerror = () => {
      // Always followed by a close event, which carries what we can know.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      // A refusal before the upgrade (401, 403, 400, 429, 503) reaches a page only as 1006
      // with no reason: say what it may be.
      const reason = ev.reason || (opened ? '' : NOT_UPGRADED);
      this.handleClose(ws, { code: ev.code, reason });
    };
  }

  handleMessage(data) {
    if (!(data instanceof ArrayBuffer)) {
      console.warn('ignoring non-binary message from server');
      return;
    }
    let msg;
    try {
      msg = decodeServer(data, this.decoder?.schema ?? null);
      if (msg.type === 'Snapshot' && this.decoder) {
        this.decoder.apply(msg);
        this.snapshotBytes += data.byteLength;
      }
    } catch (err) {
      this.decodeErrors++;
      console.error(`server message of ${data.byteLength} bytes cannot be followed; reconnecting for a keyframe:`, err.message);
      this.ws?.close(CLOSE_UNDECODABLE, 'undecodable server message');
      return;
    }
    try {
      this.dispatch(msg);
    } catch (err) {
      console.error(`error handling ${msg.type}:`, err);
    }
  }

  /** The decoded world as a snapshot view (see the class comment). */
  view(msg) {
    const d = this.decoder;
    const entities = d.entities.map((e) => d.view(e));
    return { tick: d.tick, last_input_seq: msg.last_input_seq, keyframe: msg.baseline_tick === null, entities, scoreboard: this.scoreboard };
  }

  dispatch(msg) {
    switch (msg.type) {
      case 'Welcome':
        this.welcome = msg;
        this.decoder = new SnapshotDecoder(msg.schema, msg.tick_rate);
        this.attempt = 0;
        this.rtt = null;
        this.pingsSent.clear();
        this.setState('connected');
        this.cb.onWelcome?.(msg);
        this.startPinging();
        break;
      case 'Snapshot':
        if (this.welcome) this.cb.onSnapshot?.(this.view(msg));
        break;
      case 'Scoreboard':
        this.scoreboard = msg.rows;
        break;
      case 'ReplayStatus':
        if (this.welcome) this.cb.onReplayStatus?.(msg);
        break;
      case 'Chat':
        this.cb.onChat?.(msg);
        break;
      case 'Notice':
        console.info(`server notice: ${msg.text}`);
        this.cb.onNotice?.(msg);
        break;
      case 'Draining':
        console.warn(`server draining: closing in ${msg.seconds} s`);
        this.cb.onDraining?.(msg);
        break;
      case 'Pong': {
        const sentAt = this.pingsSent.get(msg.id);
        if (sentAt !== undefined) {
          this.pingsSent.delete(msg.id);
          this.rtt = performance.now() - sentAt;
        }
        break;
      }
      case 'Disconnect':
        this.disconnect = msg;
        // Retrying cannot help a version mismatch, and must not undo an administrator's kick.
        if (msg.reason === 'VersionMismatch' || msg.reason === 'Kicked') this.noReconnect = true;
        console.warn(`server disconnect: ${msg.reason}: ${msg.message}`);
        break;
    }
  }

  startPinging() {
    clearInterval(this.pingTimer);
    const ping = () => {
      const now = performance.now();
      for (const [id, at] of this.pingsSent) if (now - at > PING_FORGET_MS) this.pingsSent.delete(id);
      this.pingId = (this.pingId + 1) >>> 0;
      this.pingsSent.set(this.pingId, now);
      this.send({ type: 'Ping', id: this.pingId });
    };
    ping();
    this.pingTimer = setInterval(ping, PING_INTERVAL_MS);
  }

  /** Sends a client message if the game connection is up; returns whether it was sent. */
  send(msg) {
    if (this.state !== 'connected') return false;
    return this.sendRaw(encodeClient(msg));
  }

  sendRaw(bytes) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(bytes);
    return true;
  }

  handleClose(ws, { code, reason }) {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.ws = null;
    if (ws) ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    // The close reason is what the server put in the close frame; fall back to its Disconnect.
    const d = this.disconnect;
    const text = reason || (d ? `${d.reason}${d.message ? `: ${d.message}` : ''}` : '');
    this.lastClose = { code, reason: text };
    this.lastCloseAt = performance.now();
    this.setState('closed');
    let retryIn = null;
    if (!this.noReconnect) {
      retryIn = backoffDelay(this.attempt++);
      this.reconnectAt = performance.now() + retryIn;
      this.reconnectTimer = setTimeout(() => this.open(), retryIn);
    }
    this.cb.onClose?.(this.lastClose, retryIn);
  }
}

/**
 * Delay before reconnect attempt `attempt` (0-based): a base of 0.5 s doubling up to 8 s, of
 * which a random 50–100% is used so that clients dropped together do not return together.
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.5 + 0.5 * random()));
}

/**
 * What the socket offers in Sec-WebSocket-Protocol: `arena.v<version>`, which the server
 * selects, and the page's token as a `bearer.` entry. Browsers cannot set an Authorization
 * header on a WebSocket; a subprotocol entry, unlike a query string, stays out of proxies'
 * access logs.
 */
export function socketProtocols(token) {
  const protocols = [`arena.v${PROTOCOL_VERSION}`];
  if (token) protocols.push(`bearer.${token}`);
  return protocols;
}

/** The WebSocket URL of the page's own server. */
export function defaultUrl(loc = location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}
