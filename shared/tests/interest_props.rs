//! Property tests of interest management (`shared::snapshot::interest`) with the snapshot
//! format: random worlds (players, NPCs and shots moving, teleporting, spawning and leaving)
//! are replicated to clients that each see only their own view and skip random snapshots, the
//! way the server's router and writers do it: one grid per frame, one filtered frame per
//! client, each delta against the filtered frame that client was last sent. Every client,
//! decoding only its bytes, must hold exactly its filtered frame every time, and that frame
//! must be exactly the view's rules applied to the world: everything within the radius, nothing
//! beyond the hysteresis band, its own player and shots always, everything for a spectator.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::collections::BTreeMap;
use std::sync::Arc;

use glam::Vec2;
use shared::snapshot::interest::{Grid, Interest, View};
use shared::snapshot::{ClientState, Frame, Replicator, Snapshot};
use shared::{EntityKind, EntityState, ServerMessage, codec};

mod common;

use common::Rng;

/// Speeds the random worlds' entities move at.
const SPEEDS: [f32; 3] = [100.0, 200.0, 600.0];

/// Clients 1 to 4 may own a player and shots; client 5 is a spectator.
const CLIENTS: u32 = 5;

struct World {
    entities: BTreeMap<u32, EntityState>,
    next_id: u32,
}

impl World {
    fn spawn(&mut self, rng: &mut Rng, kind: EntityKind, owner: u32, pos: Vec2) {
        self.next_id += 1;
        let vel = if rng.chance(60) { rng.vel_among(&SPEEDS) } else { Vec2::ZERO };
        let mut state = EntityState { pos, vel, owner, ..EntityState::new(self.next_id, kind.index()) };
        if kind == EntityKind::Player {
            state.values[shared::arena::HEALTH] = 100;
        }
        self.entities.insert(state.id, state);
    }

    fn player_of(&self, client: u32) -> Option<&EntityState> {
        self.entities.values().find(|e| e.kind == EntityKind::Player.index() && e.owner == client)
    }

    fn step(&mut self, rng: &mut Rng, dt: f32) {
        // Players join and (rarely) leave; they fire shots that fly far.
        for client in 1..CLIENTS {
            match self.player_of(client).map(|p| (p.id, p.pos)) {
                None if rng.chance(2) => {
                    let pos = rng.point();
                    self.spawn(rng, EntityKind::Player, client, pos);
                }
                Some((id, _)) if rng.below(400) == 0 => {
                    self.entities.remove(&id);
                }
                Some((_, pos)) if rng.chance(3) => self.spawn(rng, EntityKind::Projectile, client, pos),
                _ => {}
            }
        }
        if rng.chance(15) {
            let pos = rng.point();
            self.spawn(rng, EntityKind::Npc, 0, pos);
        }
        if rng.chance(10) && self.entities.len() > 1 {
            let victim = *self.entities.keys().nth(rng.below(self.entities.len() as u64) as usize).unwrap();
            if self.entities[&victim].kind != EntityKind::Player.index() {
                self.entities.remove(&victim);
            }
        }
        for e in self.entities.values_mut() {
            e.pos += e.vel * dt;
            match rng.below(150) {
                0 => e.vel = Vec2::ZERO,
                1 => e.vel = rng.vel_among(&SPEEDS),
                2 => e.pos = rng.point(),
                _ => {}
            }
        }
    }

    fn truth(&self) -> Vec<EntityState> {
        self.entities.values().cloned().collect()
    }
}

/// One client of the server's send path: its view (kept by the router), its baseline (the
/// filtered frame its writer last sent), and what it decoded.
struct Client {
    id: u32,
    view: View,
    baseline: Option<Arc<Frame>>,
    state: ClientState,
    skip_percent: u64,
    entered: usize,
    left: usize,
}

impl Client {
    fn receive(&mut self, frame: &Arc<Frame>) {
        let base = self.baseline.as_deref().filter(|b| b.can_base(frame));
        let snapshot = Snapshot::between(base, frame);
        if base.is_some() {
            self.entered += snapshot.created.len();
            self.left += snapshot.removed.len();
        }
        let mut bytes = codec::snapshot_head(7);
        snapshot.write_body(&mut bytes);
        let ServerMessage::Snapshot(decoded) = codec::decode_server(&bytes).expect("snapshot decodes") else {
            panic!("not a snapshot")
        };
        self.state.apply(&decoded).expect("a filtered delta applies on the filtered baseline");
        assert_eq!(frame.entities, *self.state.entities(), "client {} holds its view at tick {}", self.id, frame.tick);
        self.baseline = Some(frame.clone());
    }
}

/// Checks `view` (client `client`'s filtered frame of `world`) against the rules, entity by
/// entity, without the grid.
fn check_rules(
    world: &Frame,
    view: &Frame,
    previous: Option<&Frame>,
    client: u32,
    center: Option<[i64; 2]>,
    interest: &Interest,
) {
    let Some(center) = center else {
        assert_eq!(view, world, "a client that never had a player sees the world");
        return;
    };
    assert_eq!((view.view, view.serial, view.tick, view.epoch), (client, world.serial, world.tick, world.epoch));
    let mut in_view = view.entities.iter().peekable();
    for record in world.entities.iter() {
        let shown = in_view.next_if(|r| r.id == record.id).is_some_and(|r| {
            assert_eq!(r, record, "records are the world's, unchanged");
            true
        });
        let p = record.pos_at(world.tick, world.tick_rate);
        let d2 = ((p[0] - center[0]) as f64).powi(2) + ((p[1] - center[1]) as f64).powi(2);
        let own = record.owner == client && record.kind != EntityKind::Npc.index();
        let was_shown = previous.is_some_and(|f| f.entities.contains(record.id));
        if own || d2 <= (interest.enter() as f64).powi(2) {
            assert!(shown, "entity {} at distance² {d2} (own: {own}) must be in client {client}'s view", record.id);
        } else if d2 > (interest.leave() as f64).powi(2) {
            assert!(!shown, "entity {} at distance² {d2} is beyond the band", record.id);
        } else {
            assert_eq!(shown, was_shown, "entity {} in the band stays as it was", record.id);
        }
    }
    assert!(in_view.next().is_none(), "the view holds only world entities, in id order");
}

fn run_case(seed: u64, ticks: u64, radius: f32) -> Vec<Client> {
    let mut rng = Rng(seed);
    let mut world = World { entities: BTreeMap::new(), next_id: 0 };
    for _ in 0..80 {
        let pos = rng.point();
        world.spawn(&mut rng, EntityKind::Npc, 0, pos);
    }
    let interest = Interest::new(radius).expect("a radius");
    let mut rep = Replicator::new(shared::arena::schema(), 60);
    let mut clients: Vec<Client> = (1..=CLIENTS)
        .map(|id| Client {
            id,
            view: View::default(),
            baseline: None,
            state: ClientState::new(shared::arena::schema(), 60),
            skip_percent: [0, 30, 70, 95, 20][(id as usize - 1) % 5],
            entered: 0,
            left: 0,
        })
        .collect();
    for tick in 1..=ticks {
        world.step(&mut rng, 1.0 / 60.0);
        if tick % 3 != 0 {
            continue;
        }
        let frame = rep.update(tick, &world.truth());
        let grid = Grid::build(&frame, interest.cell());
        for client in &mut clients {
            // The router makes every client's view at every frame (the hysteresis follows the
            // views made, whether or not the writer got to send them).
            let previous = client.view.last().cloned();
            let filtered = client.view.frame_for(&interest, &grid, &frame, client.id);
            check_rules(&frame, &filtered, previous.as_deref(), client.id, client.view.center(), &interest);
            if !rng.chance(client.skip_percent) {
                client.receive(&filtered);
            }
        }
    }
    clients
}

#[test]
fn every_client_decodes_exactly_its_view_as_entities_enter_and_leave() {
    let (mut entered, mut left) = (0, 0);
    for seed in 0..40 {
        let radius = [150.0, 300.0, 700.0][seed as usize % 3];
        for client in run_case(seed, 900, radius) {
            entered += client.entered;
            left += client.left;
        }
    }
    assert!(entered > 1000 && left > 1000, "views changed: {entered} entered, {left} left in deltas");
}

#[test]
fn a_view_costs_what_it_holds_not_what_the_world_holds() {
    // 20 000 NPCs at rest on a 4000 × 4000 square; a player in the middle with radius 400 sees
    // π · 400² / 4000² ≈ 3% of them: its keyframe is about 3% of the world's.
    let mut rng = Rng(11);
    let mut truth: Vec<EntityState> = (1..=20_000)
        .map(|id| EntityState {
            pos: Vec2::new(rng.f32(0.0, 4000.0), rng.f32(0.0, 4000.0)),
            ..EntityState::new(id, EntityKind::Npc.index())
        })
        .collect();
    let mut player =
        EntityState { pos: Vec2::splat(2000.0), owner: 1, ..EntityState::new(20_001, EntityKind::Player.index()) };
    player.values[shared::arena::HEALTH] = 100;
    truth.push(player);
    let frame = Replicator::new(shared::arena::schema(), 60).update(3, &truth);
    let interest = Interest::new(400.0).expect("a radius");
    let grid = Grid::build(&frame, interest.cell());
    let view = View::default().frame_for(&interest, &grid, &frame, 1);
    let size = |f: &Frame| {
        let mut body = Vec::new();
        Snapshot::between(None, f).write_body(&mut body);
        body.len()
    };
    let share = view.entities.len() as f64 / frame.entities.len() as f64;
    assert!((0.025..0.04).contains(&share), "{} of {} entities in view", view.entities.len(), frame.entities.len());
    assert!((size(&view) as f64) < 0.045 * size(&frame) as f64, "{} vs {} bytes", size(&view), size(&frame));
}
