// The dots example's client part (server/examples/dots.rs): a dot per player, and the
// arrow keys' direction as its input.
import { Writer } from '../protocol.js';

/** The input: the walking direction, two f32 (`Walk(Vec2)`). */
export function encodeInput({ movement }) {
  const w = new Writer(8);
  w.vec2(movement, 'dots input');
  return w.finish();
}

/** A dot; the own one larger and white. */
export function drawEntity(ctx, e, { own }) {
  ctx.fillStyle = own ? '#ffffff' : '#4aa3ff';
  ctx.beginPath();
  ctx.arc(e.x, e.y, own ? 12 : 10, 0, Math.PI * 2);
  ctx.fill();
}
