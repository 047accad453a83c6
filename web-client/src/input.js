// Keyboard and mouse → one Input message per simulation tick. WASD/arrows move (normalized so
// the vector's length is ≤ 1), the mouse aims (and points) relative to the own player on
// screen, left click or Space fires; each game takes the controls it uses. A fixed-step accumulator on a timer sends exactly tick_rate inputs a second.
// Each tick's controls `{ movement: { x, y }, aim, buttons }` go out as the game's bytes (its
// module's `encodeInput`) in an Input frame `{ type: 'Input', seq, view_tick, data }`; the
// controls themselves are handed along too, for prediction.
import { BUTTON_FIRE } from './games/arena.js';

const MOVE_KEYS = {
  KeyW: [0, -1],
  ArrowUp: [0, -1],
  KeyS: [0, 1],
  ArrowDown: [0, 1],
  KeyA: [-1, 0],
  ArrowLeft: [-1, 0],
  KeyD: [1, 0],
  ArrowRight: [1, 0],
};
// Fallback when `code` is missing (some synthetic events): map `key` to a code.
const KEY_TO_CODE = {
  w: 'KeyW', a: 'KeyA', s: 'KeyS', d: 'KeyD', ' ': 'Space',
  ArrowUp: 'ArrowUp', ArrowDown: 'ArrowDown', ArrowLeft: 'ArrowLeft', ArrowRight: 'ArrowRight',
};
/** Most ticks sent in one catch-up after the timer was starved (e.g. a background tab). */
const MAX_CATCH_UP_TICKS = 6;

/** Pure: movement vector from a set of held key codes, length ≤ 1, y down. */
export function movementFromKeys(held) {
  let x = 0;
  let y = 0;
  for (const code of held) {
    const d = MOVE_KEYS[code];
    if (d) {
      x += d[0];
      y += d[1];
    }
  }
  x = Math.sign(x);
  y = Math.sign(y);
  const len = Math.hypot(x, y);
  return len > 1 ? { x: x / len, y: y / len } : { x, y };
}

/** Pure: aim angle in [-π, π] from the own player's screen position to the pointer. */
export function aimAngle(from, to) {
  const a = Math.atan2(to.y - from.y, to.x - from.x);
  return Math.max(-Math.PI, Math.min(Math.PI, a));
}

export class InputController {
  /**
   * target: element receiving mouse events (the canvas); ownScreenPos(): {x,y}|null in CSS
   * pixels of that element; send(frame, controls): delivers an Input frame, made from
   * `controls`.
   */
  constructor({ target, ownScreenPos, send, worldScale = () => 1 }) {
    this.target = target;
    this.ownScreenPos = ownScreenPos;
    this.worldScale = worldScale;
    this.sendFn = send;
    this.held = new Set();
    this.mouse = null;
    this.mouseFire = false;
    this.aim = 0;
    this.seq = 0;
    this.timer = null;
    /** The running game's `encodeInput` (controls → bytes), while started. */
    this.encode = null;
    this.listen();
  }

  listen() {
    const code = (e) => e.code || KEY_TO_CODE[e.key] || KEY_TO_CODE[e.key?.toLowerCase?.()] || '';
    // Keys typed into a text field (the chat box) are text, not moves.
    const typing = (e) => e.target instanceof Element && e.target.closest('input, textarea') !== null;
    window.addEventListener('focusin', (e) => {
      if (typing(e)) this.held.clear();
    });
    window.addEventListener('keydown', (e) => {
      if (typing(e)) return;
      const c = code(e);
      if (c in MOVE_KEYS || c === 'Space') {
        this.held.add(c);
        e.preventDefault();
      }
    });
    window.addEventListener('keyup', (e) => {
      this.held.delete(code(e));
    });
    window.addEventListener('blur', () => {
      this.held.clear();
      this.mouseFire = false;
    });
    this.target.addEventListener('mousemove', (e) => {
      const r = this.target.getBoundingClientRect();
      this.mouse = { x: e.clientX - r.left, y: e.clientY - r.top };
    });
    this.target.addEventListener('mousedown', (e) => {
      if (e.button === 0) this.mouseFire = true;
    });
    window.addEventListener('mouseup', (e) => {
      if (e.button === 0) this.mouseFire = false;
    });
    this.target.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /**
   * The controls held now: `{ movement: { x, y }, aim, buttons, pointer: { x, y } }`, where
   * `pointer` is the mouse's offset from the own entity in world units (zero when unknown).
   */
  controls() {
    const own = this.ownScreenPos();
    if (own && this.mouse) this.aim = aimAngle(own, this.mouse);
    const scale = this.worldScale() || 1;
    const pointer = own && this.mouse ? { x: (this.mouse.x - own.x) / scale, y: (this.mouse.y - own.y) / scale } : { x: 0, y: 0 };
    return {
      movement: movementFromKeys(this.held),
      aim: this.aim,
      buttons: this.mouseFire || this.held.has('Space') ? BUTTON_FIRE : 0,
      pointer,
    };
  }

  /**
   * The next tick's `{ frame, controls }` (advances seq): the Input frame (view_tick 0, for
   * the sender to fill in) carrying `encode(controls)`.
   */
  next(encode = this.encode) {
    const controls = this.controls();
    this.seq = (this.seq + 1) >>> 0;
    return { frame: { type: 'Input', seq: this.seq, view_tick: 0, data: encode(controls) }, controls };
  }

  /**
   * Starts sending one input per tick at `tickRate` Hz, each encoded by `encodeInput` (the
   * running game's); a game without one sends no inputs.
   */
  start(tickRate, encodeInput) {
    this.stop();
    if (typeof encodeInput !== 'function') return;
    this.encode = encodeInput;
    const step = 1000 / tickRate;
    let last = performance.now();
    let acc = 0;
    const pump = () => {
      const now = performance.now();
      acc += now - last;
      last = now;
      if (acc > step * MAX_CATCH_UP_TICKS) acc = step * MAX_CATCH_UP_TICKS;
      while (acc >= step) {
        acc -= step;
        const { frame, controls } = this.next();
        this.sendFn(frame, controls);
      }
    };
    this.timer = setInterval(pump, Math.max(4, step / 2));
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.encode = null;
  }
}
