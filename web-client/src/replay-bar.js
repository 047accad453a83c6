// Replay bar for spectators of a replay server: play/pause, speed (0.5× 1× 2× 4×), seek (slider
// and tick input + Go), and the tick / time readout. It only shows what the last ReplayStatus
// said and sends ReplayControl commands; the server's answer updates it. Space toggles pause.
// The pure helpers (formatTime, parseSeekTick, playbackRate) have no DOM and run under node.
import { REPLAY_SPEEDS } from './protocol.js';

/** Pure: `tick` at `tickRate` ticks per second as m:ss (minutes are not capped at 59). */
export function formatTime(tick, tickRate) {
  if (!(tickRate > 0) || !Number.isFinite(tick) || tick < 0) return '–:––';
  const total = Math.floor(tick / tickRate);
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

/** Pure: the tick typed by the user, clamped to [0, endTick]; null if it is not a whole number. */
export function parseSeekTick(text, endTick) {
  const s = String(text ?? '').trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  if (!Number.isSafeInteger(n)) return endTick;
  return Math.min(Math.max(n, 0), endTick);
}

/** Pure: server seconds per real second for a ReplayStatus (0 while paused). */
export function playbackRate(status) {
  return status.paused ? 0 : status.speed_percent / 100;
}

const speedLabel = (percent) => `${percent / 100}×`;

/** Whether a key event belongs to a form control (typing in the tick input, a focused button). */
function fromControl(e) {
  const t = e.target;
  return t instanceof Element && t.closest('input, button, select, textarea') !== null;
}

export class ReplayBar {
  /**
   * root: element the bar is appended to; send(command) sends a ReplayCommand
   * ({type:'Play'|'Pause'} | {type:'Speed',percent} | {type:'Seek',tick}).
   */
  constructor({ root, send }) {
    this.send = send;
    this.status = null;
    this.tickRate = 60;
    this.dragging = false;
    this.build(root);
    this.show(null);
    window.addEventListener('keydown', (e) => {
      if (e.code !== 'Space' || !this.status || e.repeat || fromControl(e)) return;
      e.preventDefault();
      this.togglePause();
    });
  }

  build(root) {
    const el = (tag, props = {}, ...children) => {
      const node = Object.assign(document.createElement(tag), props);
      node.append(...children);
      return node;
    };
    const button = (id, text, onClick) =>
      el('button', { id, type: 'button', textContent: text, onclick: (e) => {
        e.currentTarget.blur(); // so Space goes back to the page shortcut, not the button
        onClick();
      } });

    this.play = button('replay-play', 'Pause', () => this.togglePause());
    this.speeds = REPLAY_SPEEDS.map((percent) => {
      const b = button(`replay-speed-${percent}`, speedLabel(percent), () => this.send({ type: 'Speed', percent }));
      b.dataset.speed = String(percent);
      return b;
    });
    this.slider = el('input', { id: 'replay-seek', type: 'range', min: '0', max: '0', step: '1', value: '0', title: 'seek' });
    this.slider.setAttribute('aria-label', 'seek');
    this.slider.addEventListener('input', () => {
      this.dragging = true; // status updates leave the thumb alone until it is released
      this.slider.title = `seek to ${this.slider.value} (${formatTime(Number(this.slider.value), this.tickRate)})`;
    });
    this.slider.addEventListener('change', () => {
      this.dragging = false;
      this.seek(this.slider.value);
    });
    this.input = el('input', { id: 'replay-seek-input', type: 'number', min: '0', step: '1', placeholder: 'tick' });
    this.input.setAttribute('aria-label', 'seek to tick');
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') this.seek(this.input.value);
    });
    this.go = button('replay-seek-go', 'Go', () => this.seek(this.input.value));
    this.tickOut = el('span', { id: 'replay-tick', textContent: '0' });
    this.endOut = el('span', { id: 'replay-end', textContent: '0' });
    this.timeOut = el('span', { id: 'replay-time', textContent: '0:00 / 0:00' });
    this.root = el(
      'div',
      { id: 'replay-bar' },
      this.play,
      el('span', { className: 'replay-speeds' }, ...this.speeds),
      this.slider,
      el('span', { className: 'replay-goto' }, this.input, this.go),
      el('span', { className: 'replay-readout' }, 'tick ', this.tickOut, ' / ', this.endOut, ' · ', this.timeOut),
    );
    root.append(this.root);
  }

  setTickRate(tickRate) {
    this.tickRate = tickRate;
  }

  /** Sends Seek for typed/slid text; ignored unless it is a whole number. */
  seek(text) {
    if (!this.status) return;
    const tick = parseSeekTick(text, this.status.end_tick);
    if (tick === null) {
      this.input.setCustomValidity('a tick: a whole number');
      this.input.reportValidity();
      return;
    }
    this.input.setCustomValidity('');
    this.send({ type: 'Seek', tick });
  }

  togglePause() {
    if (this.status) this.send({ type: this.status.paused ? 'Play' : 'Pause' });
  }

  /** Shows the bar for a ReplayStatus, or hides it for null. */
  show(status) {
    this.status = status;
    this.root.hidden = status === null;
    if (!status) return;
    this.play.textContent = status.paused ? 'Play' : 'Pause';
    this.play.dataset.paused = String(status.paused);
    for (const b of this.speeds) {
      const on = Number(b.dataset.speed) === status.speed_percent;
      b.classList.toggle('active', on);
      b.setAttribute('aria-pressed', String(on));
    }
    this.slider.max = String(status.end_tick);
    this.input.max = String(status.end_tick);
    if (!this.dragging) this.slider.value = String(status.tick);
    this.tickOut.textContent = String(status.tick);
    this.endOut.textContent = String(status.end_tick);
    this.timeOut.textContent = `${formatTime(status.tick, this.tickRate)} / ${formatTime(status.end_tick, this.tickRate)}`;
  }
}
