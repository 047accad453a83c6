// Finds a game's client part by the name its schema gives (`Welcome.schema.game`): the
// module `games/<name>.js`, or the generic one when there is none, so that any game on the
// engine is at least shown.
import * as generic from './generic.js';

const NAME = /^[a-z0-9_-]{1,32}$/;

/**
 * The module of game `name` (`{ drawEntity(ctx, e, info), encodeInput?(controls) }`: a game
 * without `encodeInput` sends no inputs), or the generic one.
 */
export async function loadGame(name) {
  if (!NAME.test(String(name))) return generic;
  try {
    const module = await import(`./${name}.js`);
    return typeof module.drawEntity === 'function' ? module : generic;
  } catch (err) {
    console.warn(`no client module for game ${name}; drawing it generically:`, err.message);
    return generic;
  }
}

export { generic };
