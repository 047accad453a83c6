// The client part of a game that has none of its own: every entity a dot, coloured by its
// kind's index in the schema, the own one ringed. What a game's module replaces. It has no
// `encodeInput`: the controls are a game's own, and bytes it does not define would only be
// refused, so a game drawn generically is watched, not played (the page sends no Input).

const PALETTE = ['#4aa3ff', '#9fd86b', '#ff7a59', '#c58bff', '#ffd84a', '#5ee0d0'];

/** Draws `e` as a dot; `kindIndex` is its kind's place in the schema. */
export function drawEntity(ctx, e, { own, kindIndex }) {
  ctx.fillStyle = own ? '#ffffff' : PALETTE[kindIndex % PALETTE.length];
  ctx.beginPath();
  ctx.arc(e.x, e.y, own ? 10 : 6, 0, Math.PI * 2);
  ctx.fill();
}
