// Canvas 2D drawing of the world: map bounds and walls, then each entity as the running
// game's client module draws it (games/, chosen by the schema's game name; the own entity
// last). Players: the camera centres on the own entity, one world unit per CSS pixel.
// Spectators: the whole map scaled to fit the canvas (between the HUD at the top and the
// replay bar at the bottom). World and screen are y-down.
import { generic } from './games/index.js';

const GRID = 100;
/** Screen space (CSS px) the fitted map keeps clear for the HUD and the replay bar. */
const FIT_INSETS = { top: 40, right: 16, bottom: 64, left: 16 };
const COLORS = {
  void: '#11141a',
  floor: '#1d2330',
  grid: '#262e3d',
  bounds: '#5a6b8c',
  wall: '#56627a',
  wallEdge: '#8391ad',
};

export class Renderer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.width = 0;
    this.height = 0;
    this.camera = { x: 0, y: 0 };
    /** CSS px per world unit. */
    this.scale = 1;
    /** Screen point (CSS px) the camera is drawn at. */
    this.focus = { x: 0, y: 0 };
    /** The running game's client module, and its schema (for kind indices). */
    this.game = generic;
    this.schema = null;
  }

  /** Draws entities with `game`'s module from now on. */
  setGame(game, schema) {
    this.game = game;
    this.schema = schema;
  }

  /** Matches the backing store to the element size and device pixel ratio. */
  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (w !== this.width || h !== this.height || this.canvas.width !== Math.round(w * dpr)) {
      this.width = w;
      this.height = h;
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    this.dpr = dpr;
  }

  worldToScreen(p) {
    return {
      x: (p.x - this.camera.x) * this.scale + this.focus.x,
      y: (p.y - this.camera.y) * this.scale + this.focus.y,
    };
  }

  /**
   * Places the camera: the whole map fitted (spectators), else centred on `ownPos` at `zoom`
   * CSS px per world unit (1 unless the game zooms, as blobs does out as a blob grows).
   */
  placeCamera(map, ownPos, fitMap, zoom = 1) {
    this.scale = zoom;
    this.focus = { x: this.width / 2, y: this.height / 2 };
    if (fitMap && map) {
      const fit = fitMapView(map, this.width, this.height);
      this.scale = fit.scale;
      this.focus = fit.focus;
      this.camera = { x: map.width / 2, y: map.height / 2 };
    } else if (ownPos) {
      this.camera = { x: ownPos.x, y: ownPos.y };
    } else if (map) {
      this.camera = { x: map.width / 2, y: map.height / 2 };
    }
  }

  /**
   * view: { map, entities: [{id, kind, x, y, aim, health, owner}], ownEntityId, ownPos,
   * names: Map<clientId, name>, fitMap }. The camera centres on `ownPos` (else the map
   * centre), or shows the whole map with `fitMap`; the own entity is drawn last, highlighted.
   */
  draw(view) {
    this.resize();
    const { ctx } = this;
    const map = view.map;
    const ownEntity = view.entities.find((e) => e.id === view.ownEntityId);
    this.placeCamera(map, view.ownPos, view.fitMap, (ownEntity && this.game.zoom?.(ownEntity)) || 1);

    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.void;
    ctx.fillRect(0, 0, this.width, this.height);
    ctx.translate(Math.round(this.focus.x - this.camera.x * this.scale), Math.round(this.focus.y - this.camera.y * this.scale));
    ctx.scale(this.scale, this.scale);

    if (map) this.drawMap(map);
    let own = null;
    for (const e of view.entities) {
      if (e.id === view.ownEntityId) own = e;
      else this.drawEntity(e, false, view.names);
    }
    if (own) this.drawEntity(own, true, view.names);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  drawMap(map) {
    const { ctx } = this;
    ctx.fillStyle = COLORS.floor;
    ctx.fillRect(0, 0, map.width, map.height);
    ctx.strokeStyle = COLORS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = GRID; x < map.width; x += GRID) {
      ctx.moveTo(x + 0.5, 0);
      ctx.lineTo(x + 0.5, map.height);
    }
    for (let y = GRID; y < map.height; y += GRID) {
      ctx.moveTo(0, y + 0.5);
      ctx.lineTo(map.width, y + 0.5);
    }
    ctx.stroke();
    ctx.strokeStyle = COLORS.bounds;
    ctx.lineWidth = 3;
    ctx.strokeRect(-1.5, -1.5, map.width + 3, map.height + 3);
    ctx.fillStyle = COLORS.wall;
    ctx.strokeStyle = COLORS.wallEdge;
    ctx.lineWidth = 2;
    for (const w of map.walls) {
      ctx.fillRect(w.x, w.y, w.w, w.h);
      ctx.strokeRect(w.x + 1, w.y + 1, w.w - 2, w.h - 2);
    }
  }

  drawEntity(e, isOwn, names) {
    const kindIndex = this.schema ? this.schema.kind(e.kind).index : 0;
    this.game.drawEntity(this.ctx, e, { own: isOwn, name: names?.get(e.owner), scale: this.scale, kindIndex });
  }
}

/**
 * Pure: scale (CSS px per world unit) and screen centre that fit the whole map into a
 * `width`×`height` canvas inside FIT_INSETS.
 */
export function fitMapView(map, width, height, insets = FIT_INSETS) {
  const w = Math.max(width - insets.left - insets.right, 1);
  const h = Math.max(height - insets.top - insets.bottom, 1);
  const scale = Math.min(w / Math.max(map.width, 1), h / Math.max(map.height, 1));
  return { scale, focus: { x: insets.left + w / 2, y: insets.top + h / 2 } };
}
