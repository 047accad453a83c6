// The blobs game's client part (server/engine/src/games/blobs): how a blob and a pellet are
// drawn, the camera's zoom, and the input — where the pointer is, relative to the own blob.
import { Writer } from '../protocol.js';

/** A blob's radius for its mass (rules.rs `radius`). */
export const radius = (mass) => 6 * Math.sqrt(Math.max(mass, 0));

/** The pointer's offset from the own blob in world units: two f32 (`Steer { toward }`). */
export function encodeInput({ pointer }) {
  const w = new Writer(8);
  w.vec2(pointer ?? { x: 0, y: 0 }, 'blobs input pointer');
  return w.finish();
}

/** Zooms out as the own blob grows, so that it keeps about the same size on screen. */
export function zoom(own) {
  return Math.min(1, Math.max(0.3, 40 / Math.max(radius(own.mass ?? 10), 1)));
}

/** Draws `e`: a blob with its name, or a pellet in its hue. */
export function drawEntity(ctx, e, { own, scale }) {
  if (e.kind === 'Pellet') {
    ctx.fillStyle = `hsl(${(e.hue ?? 0) * 1.41} 80% 60%)`;
    ctx.beginPath();
    ctx.arc(e.x, e.y, 5, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  const r = radius(e.mass ?? 10);
  ctx.fillStyle = `hsl(${(e.hue ?? 0) * 1.41} 70% ${own ? 62 : 50}%)`;
  ctx.beginPath();
  ctx.arc(e.x, e.y, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.strokeStyle = own ? '#ffffff' : 'rgba(0,0,0,0.35)';
  ctx.lineWidth = 3 / scale;
  ctx.stroke();
  if (e.name) {
    ctx.fillStyle = '#ffffff';
    ctx.font = `${Math.max(12 / scale, r / 2.5)}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(e.name, e.x, e.y);
  }
}
