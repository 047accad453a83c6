//! Rooms: the matches a process hosts. A room is one match of one room type (a game and its
//! settings), with its own World, Schedule, seed, tick counter, recording and clients. Rooms
//! run in parallel on the simulation pool ([`crate::runner::SimPool`]) and route their frames
//! on the router pool ([`RouterPool`]); the front finds them through the
//! [`RoomDirectory`] this module implements.
//!
//! Lifecycle: a room is made at start (the default room, which a `/ws` without a room joins)
//! or by an admin (`POST /api/rooms`); it is locked while every player slot is taken; a room
//! other than the default one is disposed once it has been empty for `--room-empty-ttl`, and
//! its recording finished. `--max-rooms` caps how many exist at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

use crate::bridge::Bridge;
use crate::clock::unix_now;
use crate::metrics::Metrics;
use crate::net::drain::Drain;
use crate::net::front::rooms::{CreateError, RoomDirectory, RoomInfo, RoomRef};
use crate::net::front::seats::Seats;
use crate::net::replication::delta_cache::DeltaCache;
use crate::net::replication::router::{ClientIds, Registry, Route, RouterPool};
use crate::net::session::SimLink;
use crate::net::session::chat_limit::ChatBudget;
use crate::record::writer::{Recorder, Writer, WriterOptions, header_for};
use crate::runner::{RoomKey, RoomSim, SimPool};
use crate::sim::Simulation;
use crate::sim::game::GameError;
use crate::sim::stats::TickStats;

/// Makes a room type's simulation from a seed.
pub type MakeSim = Arc<dyn Fn(u64) -> Result<Simulation, GameError> + Send + Sync>;

/// A kind of room: a game and its settings.
#[derive(Clone)]
pub struct RoomType {
    /// Its name, as the API and `--room-type` call it.
    pub name: String,
    /// Makes one of its simulations.
    pub make: MakeSim,
    /// `--view-radius`, if given (else the game's default).
    pub view_radius: Option<f32>,
}

/// Where and how rooms record.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    /// `--record`.
    pub dir: PathBuf,
    /// `--checksum-interval`.
    pub checksum_interval: u32,
    /// `--record-sync-interval`.
    pub sync_every: Duration,
    /// `--record-max-bytes`.
    pub max_bytes: u64,
}

/// How the rooms of a process are run.
#[derive(Debug, Clone)]
pub struct RoomsSettings {
    /// `--max-rooms`.
    pub max_rooms: usize,
    /// `--room-empty-ttl`.
    pub empty_ttl: Duration,
    /// `--sim-threads`: simulation threads, and as many router threads.
    pub threads: usize,
    /// `--seed`: the default room's seed; every other room's is drawn from it.
    pub seed: u64,
    /// `--chat-lines-per-second`, per room.
    pub chat_lines_per_second: u32,
    /// Recording, if on.
    pub record: Option<RecordSettings>,
}

/// One room.
struct Room {
    id: String,
    kind: String,
    game: String,
    key: RoomKey,
    link: Arc<SimLink>,
    created: u64,
    max_clients: u16,
    writer: Mutex<Option<Writer>>,
    /// Since when it has had no client (`None` while it has one).
    empty_since: Mutex<Option<Instant>>,
}

impl Room {
    fn info(&self, seats: &Seats) -> RoomInfo {
        let stats = self.link.stats.snapshot();
        RoomInfo {
            tick: stats.tick,
            tick_p99_us: u64::try_from(stats.quantile(0.99).as_micros()).unwrap_or(u64::MAX),
            id: self.id.clone(),
            kind: self.kind.clone(),
            game: self.game.clone(),
            clients: self.link.registry.len(),
            max_clients: self.max_clients,
            locked: seats.occupied(&self.id) >= usize::from(self.max_clients),
            metadata: serde_json::Map::new(),
            created: self.created,
        }
    }
}

/// The rooms of a process.
pub struct Rooms {
    types: Vec<RoomType>,
    settings: RoomsSettings,
    rooms: RwLock<BTreeMap<String, Arc<Room>>>,
    default: Option<String>,
    /// Serializes making and disposing, so `--max-rooms` is never overshot.
    lifecycle: Mutex<()>,
    pool: Mutex<Option<SimPool>>,
    routers: Mutex<Option<RouterPool>>,
    ids: Arc<ClientIds>,
    next_key: AtomicU64,
    metrics: Arc<Metrics>,
    drain: Arc<Drain>,
    seats: Arc<Seats>,
    random: SystemRandom,
}

impl Rooms {
    /// Starts the pools and, if `default_type` names one of `types`, the default room.
    pub fn start(
        types: Vec<RoomType>,
        default_type: Option<&str>,
        settings: RoomsSettings,
        metrics: Arc<Metrics>,
        drain: Arc<Drain>,
        seats: Arc<Seats>,
    ) -> Result<Arc<Rooms>, CreateError> {
        metrics.set_room_types(&types.iter().map(|t| t.name.clone()).collect::<Vec<_>>());
        let failed = |e: std::io::Error| CreateError::Failed(format!("cannot start a thread: {e}"));
        let routers = RouterPool::spawn(settings.threads).map_err(failed)?;
        let pool = SimPool::spawn(settings.threads, &routers, metrics.clone()).map_err(failed)?;
        let mut rooms = Rooms {
            types,
            settings,
            rooms: RwLock::default(),
            default: None,
            lifecycle: Mutex::new(()),
            pool: Mutex::new(Some(pool)),
            routers: Mutex::new(Some(routers)),
            ids: Arc::default(),
            next_key: AtomicU64::new(0),
            metrics,
            drain,
            seats,
            random: SystemRandom::new(),
        };
        if let Some(kind) = default_type {
            let room = rooms.make(kind, true)?;
            rooms.default = Some(room.id.clone());
            tracing::info!(room = %room.id, kind, "default room");
        }
        Ok(Arc::new(rooms))
    }

    /// Clients in every room.
    pub fn clients(&self) -> usize {
        self.read().values().map(|room| room.link.registry.len()).sum()
    }

    /// The default room's recording file, if it records.
    pub fn default_recording(&self) -> Option<PathBuf> {
        let room = self.default.as_ref().and_then(|id| self.read().get(id).cloned())?;
        room.writer.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|w| w.path().to_path_buf())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Room>>> {
        self.rooms.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Room>>> {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh room id: 9 random characters of `[A-Za-z0-9]` (as Colyseus's), unused here.
    fn fresh_id(&self) -> Result<String, CreateError> {
        const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const LENGTH: usize = 9;
        let rooms = self.read();
        for _ in 0..16 {
            let mut bytes = [0u8; 32];
            self.random.fill(&mut bytes).map_err(|_| CreateError::Failed("no system randomness".into()))?;
            // 248 = 4 × 62: rejecting the bytes above keeps every character equally likely.
            let id: String = bytes
                .iter()
                .filter(|&&b| b < 248)
                .take(LENGTH)
                .map(|&b| char::from(ALPHABET[usize::from(b % 62)]))
                .collect();
            if id.len() == LENGTH && !rooms.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(CreateError::Failed("no free room id".into()))
    }

    fn make(&self, kind: &str, default: bool) -> Result<Arc<Room>, CreateError> {
        let _made_one_at_a_time = self.lifecycle.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(room_type) = self.types.iter().find(|t| t.name == kind) else {
            let known = self.types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
            return Err(CreateError::UnknownType(kind.to_owned(), known));
        };
        if self.drain.is_draining() {
            return Err(CreateError::Draining);
        }
        if self.read().len() >= self.settings.max_rooms {
            return Err(CreateError::AtCapacity(self.settings.max_rooms));
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        // The default room keeps `--seed`, so a one-room server records what it did before
        // rooms; every other room's seed is drawn from it and its key, and recorded.
        let seed =
            if default { self.settings.seed } else { crate::splitmix::SplitMix(self.settings.seed ^ key).next_u64() };
        let mut sim = (room_type.make)(seed).map_err(|e| CreateError::Failed(e.to_string()))?;
        let id = self.fresh_id()?;
        let (writer, recorder) = match &self.settings.record {
            None => (None, None),
            Some(record) => {
                let header = header_for(&sim, record.checksum_interval, unix_now());
                let options = WriterOptions {
                    sync_every: record.sync_every,
                    max_bytes: record.max_bytes,
                    ..WriterOptions::for_tick_rate(sim.settings().tick_rate)
                };
                let (writer, tx) = Writer::create_in(&record.dir, &id, &header, options).map_err(|e| {
                    CreateError::Failed(format!("cannot create a recording in {}: {e}", record.dir.display()))
                })?;
                tracing::info!(room = %id, path = %writer.path().display(), "recording");
                if default {
                    self.metrics.set_recording(writer.bytes());
                }
                let recorder = Recorder::attach(&mut sim, tx, record.checksum_interval);
                (Some(writer), Some(recorder))
            }
        };
        let bridge = Bridge::new();
        let view_radius = room_type.view_radius.unwrap_or(sim.default_view_radius());
        let registry = Arc::new(Registry::new(view_radius, self.ids.clone()));
        let stats = Arc::new(TickStats::new(sim.settings().tick_rate));
        let link = Arc::new(SimLink {
            room: id.clone(),
            to_sim: bridge.to_sim,
            registry: registry.clone(),
            deltas: DeltaCache::default(),
            check_input: sim.input_check(),
            replay: false,
            stats: stats.clone(),
            chat_budget: ChatBudget::new(self.settings.chat_lines_per_second),
        });
        let room = Arc::new(Room {
            id: id.clone(),
            kind: kind.to_owned(),
            game: sim.game().name.to_string(),
            key,
            link,
            created: unix_now(),
            max_clients: sim.settings().max_players,
            writer: Mutex::new(writer),
            empty_since: Mutex::new(Some(Instant::now())),
        });
        tracing::info!(room = %id, kind, game = %room.game, seed, "room made");
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(pool) = pool.as_ref() else { return Err(CreateError::Draining) };
        let route = Route::new(registry);
        pool.add(key, RoomSim { sim, from_net: bridge.from_net, route, recorder, stats, sampled: default });
        self.write().insert(id, room.clone());
        self.metrics.room_made(kind);
        Ok(room)
    }

    /// Disposes of every room other than the default that has been empty for
    /// `--room-empty-ttl`, with no seat reserved in it, and samples clients per room for the
    /// metrics; returns how many it disposed of. The server calls it every second.
    pub fn dispose_idle(&self) -> usize {
        let now = Instant::now();
        let due: Vec<Arc<Room>> = self
            .read()
            .values()
            .filter(|room| Some(&room.id) != self.default.as_ref())
            .filter(|room| {
                let mut since = room.empty_since.lock().unwrap_or_else(PoisonError::into_inner);
                if room.link.registry.is_empty() && self.seats.occupied(&room.id) == 0 {
                    now.duration_since(*since.get_or_insert(now)) >= self.settings.empty_ttl
                } else {
                    *since = None;
                    false
                }
            })
            .cloned()
            .collect();
        for room in &due {
            self.dispose(room);
        }
        self.metrics.sample_rooms(self.read().values().map(|room| room.link.registry.len()));
        due.len()
    }

    fn dispose(&self, room: &Room) {
        let _one_at_a_time = self.lifecycle.lock().unwrap_or_else(PoisonError::into_inner);
        // A client that joined, or a seat reserved, since the check keeps the room.
        if !room.link.registry.is_empty() || self.seats.occupied(&room.id) > 0 {
            return;
        }
        self.write().remove(&room.id);
        self.seats.forget(&room.id);
        self.metrics.room_disposed(&room.kind);
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let stopped = pool.as_ref().and_then(|pool| pool.remove(room.key));
        tracing::info!(room = %room.id, tick = stopped.map(|sim| sim.tick()), "room disposed: empty");
        finish_recording(&room.id, room.writer.lock().unwrap_or_else(PoisonError::into_inner).take());
    }

    /// Stops every room after its current tick, finishing its recording, then the router
    /// threads; false if a thread panicked or a recording failed.
    pub fn stop(&self) -> bool {
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner).take();
        let mut ok = pool.is_none_or(SimPool::stop);
        for room in self.write().values() {
            ok &= finish_recording(&room.id, room.writer.lock().unwrap_or_else(PoisonError::into_inner).take());
        }
        // The routers end once every simulation thread has dropped its lane.
        let routers = self.routers.lock().unwrap_or_else(PoisonError::into_inner).take();
        ok && routers.is_none_or(RouterPool::join)
    }
}

/// Waits for a room's recording writer; false if it failed.
fn finish_recording(room: &str, writer: Option<Writer>) -> bool {
    writer.is_none_or(|w| match w.join() {
        Ok(path) => {
            tracing::info!(room, path = %path.display(), "recording saved");
            true
        }
        Err(e) => {
            tracing::error!(room, "recording failed: {e}");
            false
        }
    })
}

impl RoomDirectory for Rooms {
    fn room(&self, id: Option<&str>) -> Option<RoomRef> {
        let id = id.or(self.default.as_deref())?;
        let room = self.read().get(id).cloned()?;
        Some(RoomRef { id: room.id.clone(), link: room.link.clone(), max_players: usize::from(room.max_clients) })
    }

    fn info(&self, id: &str) -> Option<RoomInfo> {
        self.read().get(id).map(|room| room.info(&self.seats))
    }

    fn types(&self) -> Vec<String> {
        self.types.iter().map(|t| t.name.clone()).collect()
    }

    fn create(&self, kind: &str) -> Result<RoomInfo, CreateError> {
        self.make(kind, false).map(|room| room.info(&self.seats))
    }

    fn list(&self, kind: Option<&str>) -> Vec<RoomInfo> {
        let mut rooms: Vec<&Arc<Room>> = Vec::new();
        let all = self.read();
        rooms.extend(all.values().filter(|room| kind.is_none_or(|kind| room.kind == kind)));
        rooms.sort_unstable_by_key(|room| room.key);
        rooms.into_iter().map(|room| room.info(&self.seats)).collect()
    }

    fn links(&self) -> Vec<Arc<SimLink>> {
        self.read().values().map(|room| room.link.clone()).collect()
    }

    fn has_a_place(&self) -> bool {
        let rooms = self.read();
        rooms.len() < self.settings.max_rooms
            || rooms.values().any(|room| self.seats.occupied(&room.id) < usize::from(room.max_clients))
    }
}

/// The one room of a replay server: the replay, which no one makes or disposes of.
pub struct ReplayRoom(pub Arc<SimLink>);

impl RoomDirectory for ReplayRoom {
    fn room(&self, id: Option<&str>) -> Option<RoomRef> {
        // The replay has no id: only a `/ws` without a room reaches it.
        match id {
            None => Some(RoomRef { id: String::new(), link: self.0.clone(), max_players: 0 }),
            Some(_) => None,
        }
    }

    fn info(&self, _id: &str) -> Option<RoomInfo> {
        None
    }

    fn types(&self) -> Vec<String> {
        Vec::new()
    }

    fn create(&self, kind: &str) -> Result<RoomInfo, CreateError> {
        Err(CreateError::UnknownType(kind.to_owned(), "none: this server plays a recording".into()))
    }

    fn list(&self, _kind: Option<&str>) -> Vec<RoomInfo> {
        Vec::new()
    }

    fn links(&self) -> Vec<Arc<SimLink>> {
        vec![self.0.clone()]
    }

    fn has_a_place(&self) -> bool {
        // Every viewer of a replay spectates: there is always room.
        true
    }

    fn ticks(&self) -> Vec<(String, u64)> {
        vec![("replay".to_owned(), self.0.stats.snapshot().tick)]
    }
}
