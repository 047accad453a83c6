// Keyboard and mouse → one Input message per simulation tick. WASD/arrows move (normalized so
// the vector's length is ≤ 1), the mouse aims relative to the own player on screen, left click
// or Space fires. A fixed-step accumulator on a timer sends exactly tick_rate inputs a second.
import { BUTTON_FIRE } from './protocol.js';

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
   * pixels of that element; send(msg): delivers an Input message.
   */
  constructor({ target, ownScreenPos, send }) {
    this.target = target;
    this.ownScreenPos = ownScreenPos;
    this.sendFn = send;
    this.held = new Set();
    this.mouse = null;
    this.mouseFire = false;
    this.aim = 0;
    this.seq = 0;
    this.timer = null;
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

  /** The Input for the next tick (advances seq). */
  next() {
    const own = this.ownScreenPos();
    if (own && this.mouse) this.aim = aimAngle(own, this.mouse);
    this.seq = (this.seq + 1) >>> 0;
    return {
      type: 'Input',
      seq: this.seq,
      movement: movementFromKeys(this.held),
      aim: this.aim,
      buttons: this.mouseFire || this.held.has('Space') ? BUTTON_FIRE : 0,
    };
  }

  /** Starts sending one input per tick at `tickRate` Hz. */
  start(tickRate) {
    this.stop();
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
        this.sendFn(this.next());
      }
    };
    this.timer = setInterval(pump, Math.max(4, step / 2));
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
