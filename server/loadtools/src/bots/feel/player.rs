//! One feel bot: a player that predicts itself, draws the others through the interpolation
//! buffer, and either strafes (a target) or shoots at its target as drawn (a shooter).
//!
//! Bots come in pairs: bot 2k shoots at bot 2k + 1. A target strafes left and right at full
//! speed, turning every 0.5 to 1 s. A shooter walks toward its target until it is within
//! [`RANGE`] with a clear line, then fires one shot every [`SHOT_EVERY`] ticks, led from the
//! target's drawn position and velocity, and judges each shot as the player would see it:
//! the shot's flight against the target as drawn, tick by tick after the tick it was drawn at
//! when fired (what lag compensation promises). The server's verdict is the target's health.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use shared::arena::ArenaRecord;
use shared::arena::{Buttons, Input};
use shared::snapshot::ClientState;
use shared::{ClientMessage, EntityKind, InputFrame, MapData, PROTOCOL_VERSION, ServerMessage, codec};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::predict::Predictor;
use super::view::{Seen, SnapCounter, View};
use engine::games::arena::geometry::{segment_hits_circle, segment_hits_rect};
use engine::games::arena::rules::{
    PLAYER_RADIUS, PROJECTILE_DAMAGE, PROJECTILE_LIFETIME_SECS, PROJECTILE_RADIUS, PROJECTILE_SPEED,
};
use engine::net::conditioner::{self, LinkConditioner};
use engine::splitmix::SplitMix;

/// A shooter closes in to this distance before firing.
pub const RANGE: f32 = 350.0;
/// Ticks between two shots (0.5 s at 60 Hz).
const SHOT_EVERY: u64 = 30;
/// Where a shot starts, from the shooter's center (as the server spawns it).
const MUZZLE: f32 = PLAYER_RADIUS + PROJECTILE_RADIUS + 1.0;
/// View ticks after a killing blow seen in which the target is drawn alive but is dead.
const OVERKILL_TICKS: u32 = 30;
/// Seconds after firing within which the server's hit must show in the target's health.
const VERDICT_WINDOW_S: f64 = 2.0;

/// A shot fired, and what the shooter saw of it.
#[derive(Debug, Clone)]
struct Shot {
    fired_at: f64,
    view_tick: u32,
    origin: Vec2,
    dir: Vec2,
    /// The next view tick to judge it at.
    next_view: u32,
    /// None while in flight on screen; then whether it hit the target as drawn.
    seen_hit: Option<bool>,
    /// Seen to hit a target that an earlier shot was already seen to kill (drawn health was
    /// 25 or less at that hit): the server rightly ignores it, so it is not counted.
    overkill: bool,
}

/// What one bot measured.
#[derive(Debug, Default, Clone)]
pub struct BotFigures {
    /// Own-player corrections, world units.
    pub corrections: Vec<f32>,
    /// Respawn-sized corrections.
    pub own_snaps: u64,
    /// Rendered jumps of others.
    pub remote_snaps: u64,
    /// Frames drawn.
    pub frames: u64,
    /// Entity-frames of others looked at.
    pub remote_samples: u64,
    /// Shots fired (shooters).
    pub shots: u64,
    /// Shots that hit the target as drawn.
    pub seen_hits: u64,
    /// Shots seen to hit a target already seen killed (left out of `seen_hits`).
    pub overkill: u64,
    /// Of those, shots the server also counted (a hit in the target's health in time).
    pub registered: u64,
    /// Hits the server counted in all.
    pub server_hits: u64,
    /// Last interpolation delay, seconds.
    pub delay_s: f64,
    /// Ping round trips, milliseconds.
    pub rtts_ms: Vec<f32>,
    /// Frames drawn past the newest snapshot.
    pub underruns: u64,
    /// Why the bot ended early, if it did.
    pub error: Option<String>,
}

/// How the bot plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Shooter { target: usize },
    Target,
}

/// Everything a bot needs from the run.
pub struct Setup {
    /// Server address (loopback in tests).
    pub addr: std::net::SocketAddr,
    /// WebSocket URL.
    pub url: String,
    /// The conditioner on this bot's link.
    pub link: LinkConditioner,
    /// Bot index.
    pub index: usize,
    /// Measure until this instant.
    pub until: Instant,
    /// Measurements start here (after joining and settling).
    pub measure_from: Instant,
}

/// The bot's name: the pair and the role, so a shooter finds its target on the scoreboard.
pub fn name(index: usize) -> String {
    if index.is_multiple_of(2) { format!("feel{}-shooter", index / 2) } else { format!("feel{}-target", index / 2) }
}

/// Plays one bot until `setup.until`; returns what it measured.
pub async fn run(setup: Setup) -> BotFigures {
    let mut figures = BotFigures::default();
    if let Err(e) = play(&setup, &mut figures).await {
        figures.error = Some(e);
    }
    figures
}

async fn play(setup: &Setup, figures: &mut BotFigures) -> Result<(), String> {
    let stream = TcpStream::connect(setup.addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let stream = conditioner::condition(stream, setup.link, setup.index as u64);
    let (mut ws, _) =
        tokio_tungstenite::client_async(setup.url.as_str(), stream).await.map_err(|e| format!("handshake: {e}"))?;
    let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name(setup.index), spectate: false };
    ws.send(binary(&hello)?).await.map_err(|e| format!("send Hello: {e}"))?;
    let welcome = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => match codec::decode_server(&bytes) {
                Ok(ServerMessage::Welcome(w)) => break w,
                Ok(ServerMessage::Disconnect { message, .. }) => return Err(format!("refused: {message}")),
                _ => {}
            },
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no Welcome: {other:?}")),
        }
    };
    let role = if setup.index.is_multiple_of(2) { Role::Shooter { target: setup.index + 1 } } else { Role::Target };
    let mut bot = Bot::new(welcome.map.clone(), welcome.tick_rate, welcome.snapshot_rate, welcome.entity_id, role);
    let epoch = Instant::now();
    let seconds = |at: Instant| at.duration_since(epoch).as_secs_f64();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(welcome.tick_rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Binary(bytes))) => bot.on_message(&bytes, seconds(Instant::now()), Instant::now() >= setup.measure_from)?,
                Some(Ok(Message::Close(frame))) => return Err(format!("closed by the server: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("connection ended".into()),
            },
            at = ticker.tick() => {
                if at >= setup.until {
                    break;
                }
                let measuring = at >= setup.measure_from;
                let input = bot.frame(seconds(at), measuring);
                ws.send(binary(&ClientMessage::Input(input))?).await.map_err(|e| format!("send: {e}"))?;
                if bot.ticks.is_multiple_of(60) {
                    let id = (bot.ticks / 60) as u32;
                    bot.pings.push((id, seconds(Instant::now())));
                    ws.send(binary(&ClientMessage::Ping { id })?).await.map_err(|e| format!("send: {e}"))?;
                }
            }
        }
    }
    bot.finish(figures);
    let _ = ws.close(None).await;
    Ok(())
}

fn binary(message: &ClientMessage) -> Result<Message, String> {
    codec::encode(message).map(|b| Message::Binary(b.into())).map_err(|e| e.to_string())
}

struct Bot {
    map: MapData,
    tick_rate: u16,
    entity_id: u32,
    role: Role,
    state: ClientState,
    predictor: Predictor,
    view: View,
    snaps: SnapCounter,
    seq: u32,
    ticks: u64,
    rng: SplitMix,
    strafe: f32,
    turn_at: u64,
    /// Client id of this bot's target, once the scoreboard names it.
    target_client: Option<u32>,
    target_health: Option<u8>,
    shots: Vec<Shot>,
    server_hits: Vec<f64>,
    /// A shooter blocked by a wall walks along it for a while: direction and last tick.
    detour: Option<(Vec2, u64)>,
    /// Ticks in a row a walking shooter did not get anywhere.
    stuck: u32,
    last_pos: Option<Vec2>,
    /// Pings in flight: id and local send time.
    pings: Vec<(u32, f64)>,
    /// Local time of the last frame.
    last_frame: Option<f64>,
    /// View tick of the last killing blow seen.
    killed_at: Option<u32>,
    figures: BotFigures,
}

impl Bot {
    fn new(map: MapData, tick_rate: u16, snapshot_rate: u16, entity_id: u32, role: Role) -> Self {
        Bot {
            predictor: Predictor::new(map.clone(), tick_rate),
            map,
            tick_rate,
            entity_id,
            role,
            state: ClientState::new(shared::arena::schema(), tick_rate),
            view: View::new(tick_rate, snapshot_rate),
            snaps: SnapCounter::default(),
            seq: 0,
            ticks: 0,
            rng: SplitMix(u64::from(entity_id) ^ 0xFEE1),
            strafe: 1.0,
            turn_at: 30,
            target_client: None,
            target_health: None,
            shots: Vec::new(),
            server_hits: Vec::new(),
            detour: None,
            stuck: 0,
            last_pos: None,
            pings: Vec::new(),
            last_frame: None,
            killed_at: None,
            figures: BotFigures::default(),
        }
    }

    fn on_message(&mut self, bytes: &[u8], now: f64, measuring: bool) -> Result<(), String> {
        match codec::decode_server(bytes).map_err(|e| format!("decode: {e}"))? {
            ServerMessage::Snapshot(snapshot) => {
                self.state.apply(&snapshot).map_err(|e| format!("snapshot: {e}"))?;
                let tick = snapshot.tick;
                let rate = self.tick_rate;
                let seen: Vec<Seen> = self
                    .state
                    .entities()
                    .iter()
                    .filter_map(|r| {
                        let kind = r.arena_kind()?;
                        Some(Seen {
                            id: r.id,
                            kind,
                            pos: r.world_pos_at(tick, rate),
                            vel: r.world_vel(),
                            health: r.health(),
                        })
                    })
                    .collect();
                if let Some(own) = seen.iter().find(|e| e.id == self.entity_id) {
                    let snaps = self.predictor.snaps;
                    let correction = self.predictor.reconcile(own.pos, own.health, snapshot.last_input_seq);
                    if let Some(error) = correction.filter(|_| measuring && self.predictor.snaps == snaps) {
                        self.figures.corrections.push(error);
                    }
                }
                self.judge_server(snapshot_health(&self.state, self.target_client), now, measuring);
                let others = seen.into_iter().filter(|e| e.id != self.entity_id).collect();
                self.view.push(tick, others, now);
            }
            ServerMessage::Scoreboard(rows) => {
                if let Role::Shooter { target } = self.role {
                    let wanted = name(target);
                    self.target_client = rows.iter().find(|r| r.name == wanted).map(|r| r.client);
                }
            }
            ServerMessage::Pong { id } => {
                if let Some(i) = self.pings.iter().position(|&(p, _)| p == id) {
                    let (_, sent) = self.pings.swap_remove(i);
                    if measuring {
                        self.figures.rtts_ms.push(((now - sent) * 1000.0) as f32);
                    }
                }
            }
            ServerMessage::Disconnect { message, .. } => return Err(format!("disconnected: {message}")),
            _ => {}
        }
        Ok(())
    }

    /// Counts the hits the server dealt the target, from its health.
    fn judge_server(&mut self, health: Option<u8>, now: f64, measuring: bool) {
        let Some(health) = health else { return };
        if let Some(before) = self.target_health
            && health < before
            && measuring
        {
            let hits = u64::from((before - health).div_ceil(PROJECTILE_DAMAGE));
            for _ in 0..hits {
                self.server_hits.push(now);
            }
        }
        self.target_health = Some(health);
    }

    /// One frame (and tick): draw the others, judge shots, make the input.
    fn frame(&mut self, now: f64, measuring: bool) -> InputFrame {
        self.ticks += 1;
        let drawn = self.view.sample(now);
        let dt = self.last_frame.replace(now).map_or(1.0 / 60.0, |last| now - last);
        if measuring {
            self.snaps.frame(&drawn, dt);
        }
        let view_tick = self.view.render_tick(now);
        let own = self.predictor.pos;
        let mut movement = Vec2::ZERO;
        let mut aim = 0.0;
        let mut buttons = 0;
        match self.role {
            Role::Target => {
                if self.ticks >= self.turn_at {
                    self.strafe = -self.strafe;
                    self.turn_at = self.ticks + 30 + self.rng.next_u64() % 31;
                }
                movement = Vec2::new(self.strafe, 0.0);
            }
            Role::Shooter { .. } => {
                let target = self
                    .target_client
                    .and_then(|c| {
                        drawn.iter().find(|e| e.kind == EntityKind::Player && target_of(&self.state, e.id) == Some(c))
                    })
                    .copied();
                self.track_shots(view_tick, target.as_ref());
                if let (Some(own), Some(target)) = (own, target.filter(|t| t.health > 0)) {
                    let to = target.pos - own;
                    let clear = self.clear_line(own, target.pos);
                    if to.length() > RANGE || !clear {
                        movement = self.walk_toward(own, to);
                    } else {
                        let dir = lead(own, target.pos, target.vel);
                        aim = dir.y.atan2(dir.x);
                        if self.ticks.is_multiple_of(SHOT_EVERY) && measuring {
                            buttons = Buttons::FIRE;
                            let dir = Vec2::new(libm::cosf(aim), libm::sinf(aim));
                            let origin = own + dir * MUZZLE;
                            self.shots.push(Shot {
                                fired_at: now,
                                view_tick,
                                origin,
                                dir,
                                next_view: view_tick,
                                seen_hit: None,
                                overkill: false,
                            });
                        }
                    }
                }
            }
        }
        self.seq += 1;
        self.predictor.input(self.seq, movement);
        InputFrame::new(self.seq, view_tick, &Input { movement, aim, buttons })
    }

    /// Straight at the target; along the wall for a second when that gets nowhere.
    fn walk_toward(&mut self, own: Vec2, to: Vec2) -> Vec2 {
        let moved = self.last_pos.replace(own).map_or(f32::INFINITY, |p| p.distance(own));
        self.stuck = if moved < 0.5 { self.stuck + 1 } else { 0 };
        if let Some((dir, until)) = self.detour {
            if self.ticks < until {
                return dir;
            }
            self.detour = None;
        }
        let straight = to.normalize_or_zero();
        if self.stuck >= 5 {
            let side = if self.rng.next_u64().is_multiple_of(2) { 1.0 } else { -1.0 };
            let along = straight.perp() * side;
            self.detour = Some((along, self.ticks + 60));
            self.stuck = 0;
            return along;
        }
        straight
    }

    fn clear_line(&self, from: Vec2, to: Vec2) -> bool {
        self.map.walls.iter().all(|w| segment_hits_rect(from, to - from, w, PROJECTILE_RADIUS).is_none())
    }

    /// Judges each shot in flight as its shooter sees it, at each view tick up to the one
    /// drawn now: the shot's step in that tick (the server moves a shot one step in the tick
    /// it is fired, so at view tick v it covers steps v - fired and v - fired + 1) against the
    /// target where it is drawn at that tick.
    fn track_shots(&mut self, view_tick: u32, target: Option<&Seen>) {
        let per_tick = PROJECTILE_SPEED / f32::from(self.tick_rate.max(1));
        let lifetime = (PROJECTILE_LIFETIME_SECS * f32::from(self.tick_rate)) as u32;
        let Some(target_id) = target.map(|t| t.id) else { return };
        let rate = self.view.tick_rate();
        let own_id = self.entity_id;
        for shot in self.shots.iter_mut().filter(|s| s.seen_hit.is_none()) {
            while shot.seen_hit.is_none() && shot.next_view <= view_tick {
                let v = shot.next_view;
                shot.next_view += 1;
                let flown = (v - shot.view_tick) as f32;
                let from = shot.origin + shot.dir * per_tick * flown;
                let delta = shot.dir * per_tick;
                let wall = self
                    .map
                    .walls
                    .iter()
                    .filter_map(|w| segment_hits_rect(from, delta, w, PROJECTILE_RADIUS))
                    .fold(f32::INFINITY, f32::min);
                let drawn = self.view.drawn_at(f64::from(v) / rate);
                // The first living player along the step, as the server takes it: a shot that
                // meets someone else first is not a hit on the target, on screen or off.
                let first = drawn
                    .iter()
                    .filter(|e| e.kind == EntityKind::Player && e.health > 0 && e.id != own_id)
                    .filter_map(|e| {
                        segment_hits_circle(from, delta, e.pos, PLAYER_RADIUS + PROJECTILE_RADIUS).map(|t| (t, e))
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                let seen = first.map(|(_, e)| *e).filter(|e| e.id == target_id);
                shot.seen_hit = match first {
                    Some((t, e)) if t <= wall && e.id != target_id => Some(false),
                    Some((t, _)) if t <= wall => {
                        // Within half a second of a killing blow seen before, the target is
                        // dead on the server already: the news has not been drawn yet.
                        shot.overkill = self.killed_at.is_some_and(|k| v <= k + OVERKILL_TICKS);
                        if seen.is_some_and(|t| t.health <= PROJECTILE_DAMAGE) && !shot.overkill {
                            self.killed_at = Some(v);
                        }
                        Some(true)
                    }
                    _ if wall.is_finite() || v - shot.view_tick > lifetime => Some(false),
                    _ => None,
                };
            }
        }
    }

    fn finish(mut self, figures: &mut BotFigures) {
        // Each shot seen to hit is registered if a server hit came within its window, each
        // server hit used once, in order.
        let mut hits = self.server_hits.iter().copied().peekable();
        for shot in &self.shots {
            if shot.seen_hit == Some(true) && shot.overkill {
                self.figures.overkill += 1;
            } else if shot.seen_hit == Some(true) {
                self.figures.seen_hits += 1;
                while hits.next_if(|&h| h < shot.fired_at).is_some() {}
                if hits.next_if(|&h| h <= shot.fired_at + VERDICT_WINDOW_S).is_some() {
                    self.figures.registered += 1;
                }
            }
        }
        self.figures.shots = self.shots.len() as u64;
        self.figures.server_hits = self.server_hits.len() as u64;
        self.figures.remote_snaps = self.snaps.snaps;
        self.figures.frames = self.snaps.frames;
        self.figures.remote_samples = self.snaps.samples;
        self.figures.own_snaps = self.predictor.snaps;
        self.figures.delay_s = self.view.delay;
        self.figures.underruns = self.view.underruns;
        *figures = self.figures;
    }
}

/// The client owning entity `id`, from the decoded state.
fn target_of(state: &ClientState, id: u32) -> Option<u32> {
    state.entities().iter().find(|r| r.id == id).map(|r| r.owner)
}

/// The health of `client`'s player in the decoded state.
fn snapshot_health(state: &ClientState, client: Option<u32>) -> Option<u8> {
    let client = client?;
    state.entities().iter().find(|r| r.is(EntityKind::Player) && r.owner == client).map(|r| r.health())
}

/// The direction to fire from `from` to meet a target at `pos` moving at `vel`.
fn lead(from: Vec2, pos: Vec2, vel: Vec2) -> Vec2 {
    let mut aim_at = pos;
    for _ in 0..4 {
        let t = ((aim_at - from).length() - MUZZLE).max(0.0) / PROJECTILE_SPEED;
        aim_at = pos + vel * t;
    }
    (aim_at - from).normalize_or(Vec2::X)
}
