// The arena's client part: how its kinds are drawn. Players: a disc with an aim line, a
// health bar and a name, the own one highlighted, dead ones faded; NPCs and projectiles:
// discs. Loaded by the game's name (games/index.js); the engine's renderer calls `drawEntity`
// with the canvas transformed to world units.

export const PLAYER_RADIUS = 16;
export const NPC_RADIUS = 8;
export const PROJECTILE_RADIUS = 4;
export const MAX_HEALTH = 100;

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
