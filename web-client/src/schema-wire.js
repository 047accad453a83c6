// The game's schema as `Welcome` carries it (shared/src/schema.rs, `SchemaDesc`, in bincode 2
// `standard` form): read into the shape serde's JSON gives (`{ game, kinds: [{ name, owned,
// avatar, motion, fields: [{ name, encoding, hint }] }] }`, an encoding being `'Byte'` or
// `{ Angle: { steps } }`), and written back for tests and fake servers. It takes protocol.js's
// Reader and Writer, so that module can import this one and not the other way round.
import { ProtocolError } from './errors.js';

export const MOTIONS = Object.freeze(['None', 'Static', 'DeadReckoned']);
export const HINTS = Object.freeze(['Snap', 'Interpolate', 'InterpolateAngle']);
export const ENCODINGS = Object.freeze(['UInt', 'Byte', 'Int', 'Angle', 'Scalar', 'Enum', 'Text']);

// Smallest encodings, to refuse impossible counts before allocating.
const MIN_KIND_BYTES = 5;
const MIN_FIELD_BYTES = 3;
const MIN_STRING_BYTES = 1;

export function zigzag32(n) {
  return n >= 0 ? 2 * n : -2 * n - 1;
}

export function unzigzag(raw) {
  return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
}

function readEncoding(r, what) {
  const name = r.variant(ENCODINGS, what);
  switch (name) {
    case 'UInt':
      return { UInt: { max: r.u32(`${what}.max`) } };
    case 'Byte':
      return 'Byte';
    case 'Int':
      return { Int: { min: unzigzag(r.u32(`${what}.min`)), max: unzigzag(r.u32(`${what}.max`)) } };
    case 'Angle':
      return { Angle: { steps: r.u32(`${what}.steps`) } };
    case 'Scalar':
      return { Scalar: { scale: r.f32(`${what}.scale`), min: r.f32(`${what}.min`), max: r.f32(`${what}.max`) } };
    case 'Enum':
      return { Enum: { variants: r.vec((rr) => rr.string(`${what} variant`), MIN_STRING_BYTES, `${what}.variants`) } };
    case 'Text':
      return { Text: { max_bytes: r.u16(`${what}.max_bytes`) } };
  }
  throw new ProtocolError(`unreachable encoding ${name}`);
}

function readField(r) {
  return {
    name: r.string('Field.name'),
    encoding: readEncoding(r, 'Field.encoding'),
    hint: r.variant(HINTS, 'Hint'),
  };
}

function readKind(r) {
  return {
    name: r.string('Kind.name'),
    owned: r.bool('Kind.owned'),
    avatar: r.bool('Kind.avatar'),
    motion: r.variant(MOTIONS, 'Motion'),
    fields: r.vec(readField, MIN_FIELD_BYTES, 'Kind.fields'),
  };
}

/** Reads a schema description. */
export function readSchemaDesc(r) {
  return {
    game: r.string('Schema.game'),
    kinds: r.vec(readKind, MIN_KIND_BYTES, 'Schema.kinds'),
    scores: r.vec((rr) => rr.string('Schema score column'), MIN_STRING_BYTES, 'Schema.scores'),
  };
}

function writeEncoding(w, encoding) {
  const [name] = typeof encoding === 'string' ? [encoding] : Object.keys(encoding);
  const p = typeof encoding === 'string' ? {} : encoding[name];
  w.variant(ENCODINGS, name, 'Encoding');
  switch (name) {
    case 'UInt':
      w.u32(p.max, 'UInt.max');
      break;
    case 'Int':
      w.u32(zigzag32(p.min), 'Int.min');
      w.u32(zigzag32(p.max), 'Int.max');
      break;
    case 'Angle':
      w.u32(p.steps, 'Angle.steps');
      break;
    case 'Scalar':
      w.f32(p.scale, 'Scalar.scale');
      w.f32(p.min, 'Scalar.min');
      w.f32(p.max, 'Scalar.max');
      break;
    case 'Enum':
      w.vec(p.variants, (ww, v) => ww.string(v, 'Enum variant'), 'Enum.variants');
      break;
    case 'Text':
      w.u16(p.max_bytes, 'Text.max_bytes');
      break;
  }
}

/** Writes a schema description (a compiled schema works too: it keeps these keys). */
export function writeSchemaDesc(w, desc) {
  w.string(desc.game, 'Schema.game');
  w.vec(desc.kinds, (ww, k) => {
    ww.string(k.name, 'Kind.name');
    ww.bool(k.owned);
    ww.bool(k.avatar);
    ww.variant(MOTIONS, k.motion, 'Motion');
    ww.vec(k.fields, (w3, f) => {
      w3.string(f.name, 'Field.name');
      writeEncoding(w3, f.encoding);
      w3.variant(HINTS, f.hint, 'Hint');
    }, 'Kind.fields');
  }, 'Schema.kinds');
  w.vec(desc.scores ?? [], (ww, c) => ww.string(c, 'Schema score column'), 'Schema.scores');
}
