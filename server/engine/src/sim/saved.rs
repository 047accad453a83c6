//! What of a world its future depends on: the components and resources that a state digest
//! hashes and a keyframe copies. The engine registers its own (motion, replicated fields, the
//! input in force); a game registers the rest of its state through
//! [`Setup::save`](crate::sim::game::Setup::save) and
//! [`Setup::save_resource`](crate::sim::game::Setup::save_resource).
//!
//! Each part is encoded with the protocol codec, so a part's bytes are a pure function of its
//! value (floats as their bits). Saved state names entities by [`NetId`](super::components::NetId),
//! never by `Entity`: a restored keyframe spawns new handles.

use bevy_ecs::prelude::*;
use bevy_ecs::world::{EntityRef, EntityWorldMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Writes `value` onto `out` with the protocol codec (a part's bytes, whole or as a digest
/// hashes them).
pub fn encode_part<T: Serialize>(value: &T, out: &mut Vec<u8>) -> bool {
    bincode::serde::encode_into_std_write(value, out, shared::codec::CONFIG).is_ok()
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bincode::serde::decode_from_slice(bytes, shared::codec::CONFIG) {
        Ok((value, read)) if read == bytes.len() => Ok(value),
        Ok((_, read)) => Err(format!("{} trailing bytes", bytes.len() - read)),
        Err(e) => Err(e.to_string()),
    }
}

/// A saved component: how to write it (whole, and as hashed) and read it back.
struct Part {
    name: &'static str,
    save: fn(&EntityRef, &mut Vec<u8>) -> bool,
    digest: fn(&EntityRef, &mut Vec<u8>) -> bool,
    load: fn(&mut EntityWorldMut, &[u8]) -> Result<(), String>,
}

/// A saved resource.
struct ResourcePart {
    name: &'static str,
    save: fn(&World, &mut Vec<u8>) -> bool,
    load: fn(&mut World, &[u8]) -> Result<(), String>,
}

fn save_component<C: Component + Serialize>(entity: &EntityRef, out: &mut Vec<u8>) -> bool {
    entity.get::<C>().is_some_and(|c| encode_part(c, out))
}

fn load_component<C: Component + DeserializeOwned>(entity: &mut EntityWorldMut, bytes: &[u8]) -> Result<(), String> {
    entity.insert(decode::<C>(bytes)?);
    Ok(())
}

fn save_resource<R: Resource + Serialize>(world: &World, out: &mut Vec<u8>) -> bool {
    world.get_resource::<R>().is_some_and(|r| encode_part(r, out))
}

fn load_resource<R: Resource + DeserializeOwned>(world: &mut World, bytes: &[u8]) -> Result<(), String> {
    world.insert_resource(decode::<R>(bytes)?);
    Ok(())
}

/// The registry of saved parts, in registration order (which the digest follows).
#[derive(Resource, Default)]
pub struct Saved {
    parts: Vec<Part>,
    resources: Vec<ResourcePart>,
}

impl Saved {
    /// Saves component `C` of every entity that has it, hashed whole.
    pub fn component<C: Component + Serialize + DeserializeOwned>(&mut self) {
        self.component_hashed_as::<C>(save_component::<C>);
    }

    /// Saves component `C`, hashed as `digest` writes it (for state that a replay need not
    /// reproduce, such as inputs received and not yet applied).
    pub fn component_hashed_as<C: Component + Serialize + DeserializeOwned>(
        &mut self,
        digest: fn(&EntityRef, &mut Vec<u8>) -> bool,
    ) {
        if self.parts.iter().any(|p| p.name == std::any::type_name::<C>()) {
            return;
        }
        self.parts.push(Part {
            name: std::any::type_name::<C>(),
            save: save_component::<C>,
            digest,
            load: load_component::<C>,
        });
    }

    /// Saves resource `R`, hashed whole.
    pub fn resource<R: Resource + Serialize + DeserializeOwned>(&mut self) {
        if self.resources.iter().any(|p| p.name == std::any::type_name::<R>()) {
            return;
        }
        self.resources.push(ResourcePart {
            name: std::any::type_name::<R>(),
            save: save_resource::<R>,
            load: load_resource::<R>,
        });
    }

    /// Writes each part `entity` has as `index u8 · length u32 LE · bytes`; with `digest`, as
    /// hashed rather than whole.
    pub fn write_entity(&self, entity: &EntityRef, digest: bool, out: &mut Vec<u8>) {
        for (index, part) in self.parts.iter().enumerate() {
            let start = out.len();
            out.push(index as u8);
            out.extend_from_slice(&[0; 4]);
            let write = if digest { part.digest } else { part.save };
            if write(entity, out) {
                let len = (out.len() - start - 5) as u32;
                out[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
            } else {
                out.truncate(start);
            }
        }
    }

    /// Inserts the parts that [`Saved::write_entity`] wrote (whole) into `entity`.
    pub fn read_entity(&self, entity: &mut EntityWorldMut, mut bytes: &[u8]) -> Result<(), String> {
        while let [index, a, b, c, d, rest @ ..] = bytes {
            let len = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
            let part = self.parts.get(usize::from(*index)).ok_or("a part that is not registered")?;
            let body = rest.get(..len).ok_or("a part cut short")?;
            (part.load)(entity, body).map_err(|e| format!("{}: {e}", part.name))?;
            bytes = &rest[len..];
        }
        if bytes.is_empty() { Ok(()) } else { Err("a part cut short".into()) }
    }

    /// Writes every saved resource, each as `length u32 LE · bytes` (length 0: absent).
    pub fn write_resources(&self, world: &World, out: &mut Vec<u8>) {
        for part in &self.resources {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            if (part.save)(world, out) {
                let len = (out.len() - start - 4) as u32;
                out[start..start + 4].copy_from_slice(&len.to_le_bytes());
            } else {
                out.truncate(start + 4);
            }
        }
    }

    /// Puts back the resources [`Saved::write_resources`] wrote.
    pub fn read_resources(&self, world: &mut World, mut bytes: &[u8]) -> Result<(), String> {
        for part in &self.resources {
            let [a, b, c, d, rest @ ..] = bytes else { return Err("resources cut short".into()) };
            let len = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
            let body = rest.get(..len).ok_or("a resource cut short")?;
            if len > 0 {
                (part.load)(world, body).map_err(|e| format!("{}: {e}", part.name))?;
            }
            bytes = &rest[len..];
        }
        Ok(())
    }
}
