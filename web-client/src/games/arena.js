// The arena's client part: how its kinds are drawn, and its input. Players: a disc with an aim
// line, a health bar and a name, the own one highlighted, dead ones faded; NPCs and
// projectiles: discs. Loaded by the game's name (games/index.js); the engine's renderer calls
// `drawEntity` with the canvas transformed to world units, and the input controller sends each
// tick's controls as the bytes `encodeInput` makes (the game part of an Input frame).
import { Reader, Writer } from '../protocol.js';
import { Predictor } from '../prediction.js';

export const PLAYER_RADIUS = 16;
export const NPC_RADIUS = 8;
export const PROJECTILE_RADIUS = 4;
export const MAX_HEALTH = 100;

/** Button bits of the arena input's `buttons`. */
export const BUTTON_FIRE = 1;
/** Encoded size of an arena input: movement.x, movement.y, aim (f32 each), buttons (u8). */
export const INPUT_BYTES = 13;

/**
 * The arena input `{ movement: { x, y }, aim, buttons }` (shared/src/arena.rs `Input`) in the
 * protocol's codec: f32 movement.x · f32 movement.y · f32 aim · u8 buttons, little-endian.
 * Ranges (movement length ≤ 1, aim in [-π, π], known button bits) are the server's to check.
 */
export function encodeInput({ movement, aim, buttons }) {
  const w = new Writer(INPUT_BYTES);
  w.vec2(movement, 'arena input movement');
  w.f32(aim, 'arena input aim');
  w.u8(buttons, 'arena input buttons');
  return w.finish();
}

/** The arena input in `bytes` (an Input frame's data); ProtocolError if it is not exactly one. */
export function decodeInput(bytes) {
  const r = new Reader(bytes);
  const input = {
    movement: r.vec2('arena input movement'),
    aim: r.f32('arena input aim'),
    buttons: r.u8('arena input buttons'),
  };
  r.finish('arena input');
  return input;
}

/** The arena predicts its player's movement (prediction.js replays shared/src/movement.rs). */
export function createPredictor(map, tickRate) {
  return new Predictor(map, tickRate);
}

/** A player that came back from the dead jumped, however near the spawn point it was. */
export function teleported(a, b) {
  return b.kind === 'Player' && a.health === 0 && b.health > 0;
}

/** What of the local controls the own player shows at once: its aim. */
export function showControls(controls) {
  return { aim: controls.aim };
}

const COLORS = {
  player: '#4aa3ff',
  own: '#ffd84a',
  npc: '#9fd86b',
  projectile: '#ff7a59',
  name: '#e8ecf4',
  hpBack: '#40161a',
  hpFront: '#4ee07a',
};

/** Draws `e` (`{ kind, x, y, owner, ...fields }`); `scale` is CSS px per world unit. */
export function drawEntity(ctx, e, { own, name, scale }) {
  switch (e.kind) {
    case 'Player':
      drawPlayer(ctx, e, own, name, scale);
      break;
    case 'Npc':
      disc(ctx, e.x, e.y, NPC_RADIUS, COLORS.npc);
      break;
    case 'Projectile':
      disc(ctx, e.x, e.y, PROJECTILE_RADIUS, COLORS.projectile);
      break;
  }
}

function drawPlayer(ctx, e, own, name, scale) {
  const dead = e.health === 0;
  ctx.save();
  ctx.globalAlpha = dead ? 0.3 : 1;
  const color = own ? COLORS.own : COLORS.player;
  ctx.strokeStyle = color;
  ctx.lineWidth = 4;
  ctx.beginPath();
  ctx.moveTo(e.x, e.y);
  ctx.lineTo(e.x + Math.cos(e.aim) * (PLAYER_RADIUS + 10), e.y + Math.sin(e.aim) * (PLAYER_RADIUS + 10));
  ctx.stroke();
  disc(ctx, e.x, e.y, PLAYER_RADIUS, color);
  if (own) {
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(e.x, e.y, PLAYER_RADIUS + 4, 0, Math.PI * 2);
    ctx.stroke();
  }
  // Health bar and name keep their screen size when the map is shown scaled down.
  const k = 1 / Math.min(scale, 1);
  const bw = 36 * k;
  const by = e.y - PLAYER_RADIUS - 10 * k;
  ctx.fillStyle = COLORS.hpBack;
  ctx.fillRect(e.x - bw / 2, by, bw, 5 * k);
  ctx.fillStyle = COLORS.hpFront;
  ctx.fillRect(e.x - bw / 2, by, (bw * Math.min(e.health, MAX_HEALTH)) / MAX_HEALTH, 5 * k);
  ctx.fillStyle = COLORS.name;
  ctx.font = `${12 * k}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(name ?? `#${e.owner}`, e.x, by - 3 * k);
  ctx.restore();
}

/** A filled circle. */
export function disc(ctx, x, y, r, color) {
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fill();
}
