// Chat: the log of lines (players', server announcements, notices meant for us) and the input
// box. Every line is put into the page with textContent only, never as HTML, so a line is
// always shown as the text it is. Enter opens the box (and, in it, sends); Escape closes it.
// While the box has focus, keys type text and do not move the player (input.js skips them).
import { MAX_CHAT_BYTES } from './protocol.js';

/** Lines kept in the log. */
export const CHAT_HISTORY = 50;

const encoder = new TextEncoder();

/**
 * Why `text` cannot be sent, or null if it can: the server's rules (1 to 200 UTF-8 bytes, no
 * control characters); a line that breaks them would close the connection.
 */
export function chatError(text) {
  if (text.trim() === '') return 'empty';
  const bytes = encoder.encode(text).length;
  if (bytes > MAX_CHAT_BYTES) return `too long: ${bytes} of ${MAX_CHAT_BYTES} bytes`;
  if (/\p{Cc}/u.test(text)) return 'control characters are not allowed';
  return null;
}

export class ChatBox {
  /**
   * @param {HTMLElement} root  element holding `.chat-log` (a list) and a form with an input
   * @param {(text: string) => boolean} send  sends a line; false when not connected
   */
  constructor(root, send) {
    this.log = root.querySelector('.chat-log');
    this.form = root.querySelector('form');
    this.input = root.querySelector('input');
    this.hint = root.querySelector('.chat-hint');
    this.send = send;
    /** Every line shown, oldest first: { kind: 'chat'|'announcement'|'notice', from, name, tick, text }. */
    this.lines = [];
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener('input', () => this.showHint(null));
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.input.blur();
        e.preventDefault();
      }
    });
    window.addEventListener('keydown', (e) => {
      // Enter on the game (not in another field, such as the replay bar's) opens the box.
      if (e.key === 'Enter' && !(document.activeElement instanceof HTMLInputElement)) {
        this.input.focus();
        e.preventDefault();
      }
    });
  }

  submit() {
    const text = this.input.value.trim();
    if (text === '') {
      this.input.blur();
      return;
    }
    const error = chatError(text);
    if (error) {
      this.showHint(error);
      return;
    }
    if (!this.send(text)) {
      this.showHint('not connected');
      return;
    }
    this.input.value = '';
    this.input.blur();
  }

  /** A chat line or announcement from the server. */
  addLine(line) {
    const kind = line.from === 0 ? 'announcement' : 'chat';
    this.append({ kind, from: line.from, name: line.name, tick: line.tick, text: line.text });
  }

  /** A notice for us alone. */
  addNotice(text) {
    this.append({ kind: 'notice', from: null, name: null, tick: null, text });
  }

  append(entry) {
    this.lines.push(entry);
    if (this.lines.length > CHAT_HISTORY) this.lines.shift();
    const item = document.createElement('li');
    item.className = entry.kind;
    if (entry.name !== null) {
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = `${entry.name}: `;
      item.append(name);
    }
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = entry.text;
    item.append(text);
    this.log.append(item);
    while (this.log.children.length > CHAT_HISTORY) this.log.firstElementChild.remove();
    this.log.scrollTop = this.log.scrollHeight;
  }

  showHint(text) {
    this.hint.textContent = text ?? '';
    this.hint.hidden = !text;
  }
}
