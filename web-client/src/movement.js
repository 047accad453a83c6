// How a player moves: shared/src/movement.rs, transcribed operation for operation in single
// precision (Math.fround after every operation, walls in map order), so that predicting the own
// player gives the server's positions bit for bit. shared/tests/trajectories.json holds the two
// to it (tests/movement.test.js). Change both together.

const f = Math.fround;

/** Player circle radius, world units. */
export const PLAYER_RADIUS = 16;
/** Player speed at full stick, units per second. */
export const PLAYER_SPEED = 200;

/** The time step of one tick, as the server computes it (1 / tick_rate in f32). */
export function tickDt(tickRate) {
  return f(1 / tickRate);
}

/**
 * Walls as the rules read them, with their far edges precomputed in f32:
 * { x, y, w, h, maxX, maxY }. `map` is Welcome.map ({ width, height, walls: [{x,y,w,h}] }).
 */
export function prepareMap(map) {
  return {
    width: f(map.width),
    height: f(map.height),
    walls: map.walls.map((w) => {
      const x = f(w.x);
      const y = f(w.y);
      const ww = f(w.w);
      const hh = f(w.h);
      return { x, y, w: ww, h: hh, maxX: f(x + ww), maxY: f(y + hh) };
    }),
  };
}

const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

/** Pushes a circle out of a wall along the axis of least penetration (see the Rust). */
export function pushOut(cx, cy, radius, wall) {
  const closestX = clamp(cx, wall.x, wall.maxX);
  const closestY = clamp(cy, wall.y, wall.maxY);
  const ox = f(cx - closestX);
  const oy = f(cy - closestY);
  const distSq = f(f(ox * ox) + f(oy * oy));
  if (distSq > 0) {
    if (distSq >= f(radius * radius)) return [cx, cy];
    const dist = f(Math.sqrt(distSq));
    const k = f(radius / dist);
    return [f(closestX + f(ox * k)), f(closestY + f(oy * k))];
  }
  const toLeft = f(cx - wall.x);
  const toRight = f(wall.maxX - cx);
  const toTop = f(cy - wall.y);
  const toBottom = f(wall.maxY - cy);
  const least = Math.min(toLeft, toRight, toTop, toBottom);
  if (least === toLeft) return [f(wall.x - radius), cy];
  if (least === toRight) return [f(wall.maxX + radius), cy];
  if (least === toTop) return [cx, f(wall.y - radius)];
  return [cx, f(wall.maxY + radius)];
}

/** Pushes a player out of every wall in map order, then inside the map's bounds. */
export function confine(x, y, map) {
  const lo = PLAYER_RADIUS;
  const hiX = Math.max(f(map.width - lo), lo);
  const hiY = Math.max(f(map.height - lo), lo);
  let p = [x, y];
  for (const wall of map.walls) p = pushOut(p[0], p[1], PLAYER_RADIUS, wall);
  return [clamp(p[0], lo, hiX), clamp(p[1], lo, hiY)];
}

/**
 * One tick of a living player at (x, y) with movement (mx, my) (as sent: f32), on a map from
 * prepareMap, `dt` from tickDt. Returns [x, y].
 */
export function step(x, y, mx, my, map, dt) {
  const vx = f(f(mx) * PLAYER_SPEED);
  const vy = f(f(my) * PLAYER_SPEED);
  return confine(f(x + f(vx * dt)), f(y + f(vy * dt)), map);
}
