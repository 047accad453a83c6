// The Rust side's serde JSON of snapshot records and entries (kind as an index, fields in a
// `values` array by slot, the text apart) turned into the JS decoder's shapes (kind by name,
// each field under its own name), by the schema: what lets the golden vectors and the Rust
// stream be compared with what snapshot.js decodes.

/** Each field of `kind` with where the Rust record keeps it: a value slot, or the text. */
function slots(kind) {
  let slot = 0;
  return kind.fields.map((f) => {
    const text = typeof f.encoding === 'object' && 'Text' in f.encoding;
    return { name: f.name, slot: text ? null : slot++ };
  });
}

/** A Rust `EntityRecord` as snapshot.js holds it. */
export function recordFromRust(schema, r) {
  const kind = schema.kinds[r.kind];
  const out = { id: r.id, kind: kind.name, owner: r.owner };
  for (const { name, slot } of slots(kind)) out[name] = slot === null ? r.text : r.values[slot];
  return Object.assign(out, { pos: r.pos, vel: r.vel, base_tick: r.base_tick });
}

/** A Rust `(kind, EntityUpdate)` as snapshot.js parses it: a key for each of the kind's rows. */
export function updateFromRust(schema, kindIndex, u) {
  const kind = schema.kinds[kindIndex];
  const out = { id: u.id, kind: kind.name };
  if (kind.owned) out.owner = u.owner;
  for (const { name, slot } of slots(kind)) out[name] = slot === null ? u.text : u.values[slot];
  if (kind.motion !== 'None') out.pos = u.pos;
  if (kind.motion === 'DeadReckoned') Object.assign(out, { vel: u.vel, age: u.age });
  return out;
}

/** A Rust `Snapshot`'s JSON as snapshot.js parses it. */
export function snapshotFromRust(schema, s) {
  return {
    type: 'Snapshot',
    last_input_seq: s.last_input_seq,
    tick: s.tick,
    baseline_tick: s.baseline_tick,
    removed: s.removed,
    created: s.created.map((r) => recordFromRust(schema, r)),
    updated: s.updated.map(([k, u]) => updateFromRust(schema, k, u)),
  };
}
