//! Every message on the wire, grouped by the connection state in which it is legal.
//!
//! A connection starts in [`ConnectionState::AwaitingHello`]: the client's first message must be
//! `Hello`, answered by `Welcome` (or `Disconnect`). It is then [`ConnectionState::Playing`].
//! [`ClientMessage::verify`] is the one check of what a client may send where; the server calls
//! it before anything reaches the simulation.

use serde::{Deserialize, Serialize};

use crate::input::InputFrame;
use crate::map::MapData;
use crate::snapshot::Snapshot;
use crate::state::ScoreEntry;

/// Longest player name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 24;
/// Longest chat line, in bytes of UTF-8.
pub const MAX_CHAT_BYTES: usize = 200;

/// Where a connection is in its life; decides which client messages are legal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Upgraded, waiting for `Hello`.
    AwaitingHello,
    /// Welcomed; sends inputs and pings.
    Playing,
}

/// Messages from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    // -- AwaitingHello --
    /// First message of every connection.
    Hello {
        /// Must equal [`crate::PROTOCOL_VERSION`].
        protocol_version: u16,
        /// Display name; 1 to [`MAX_NAME_BYTES`] bytes, no control characters.
        name: String,
        /// Watch without playing: no entity, no player slot, no inputs.
        spectate: bool,
    },
    // -- Playing --
    /// One tick of input: the game's, in the engine's frame.
    Input(InputFrame),
    /// Round-trip probe, answered at once with `Pong` carrying the same `id`.
    Ping {
        /// Client-chosen id of the probe.
        id: u32,
    },
    /// Controls playback on a replay server (`server replay FILE --serve`); a live server
    /// refuses it as a protocol violation.
    ReplayControl(ReplayCommand),
    /// A chat line for everyone: 1 to [`MAX_CHAT_BYTES`] bytes, no control characters. At most
    /// 5 per 10 s; over that the server answers `Notice` and drops the line.
    Chat {
        /// The line.
        text: String,
    },
}

/// What a spectator asks of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplayCommand {
    /// Resume playback.
    Play,
    /// Hold playback at the current tick.
    Pause,
    /// Playback speed in percent of real time: one of [`REPLAY_SPEEDS`].
    Speed(u16),
    /// Jump to a tick (clamped to the recording's range).
    Seek(u64),
}

/// The playback speeds a replay offers, in percent of real time.
pub const REPLAY_SPEEDS: [u16; 4] = [50, 100, 200, 400];

/// Why a client message was refused. Each maps to a WebSocket close code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessage {
    /// The message is not legal in the connection's state.
    #[error("{message} is not allowed while {state:?}")]
    WrongState {
        /// The message's name.
        message: &'static str,
        /// The state it arrived in.
        state: ConnectionState,
    },
    /// `Hello` with another protocol version.
    #[error("protocol version mismatch: server speaks {server}, client sent {client}")]
    VersionMismatch {
        /// [`crate::PROTOCOL_VERSION`].
        server: u16,
        /// What the client sent.
        client: u16,
    },
    /// A field is out of its legal range.
    #[error("invalid {field}: {why}")]
    BadField {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl InvalidMessage {
    /// The disconnect reason the server answers with.
    pub fn reason(&self) -> DisconnectReason {
        match self {
            InvalidMessage::WrongState { .. } => DisconnectReason::ProtocolViolation,
            InvalidMessage::VersionMismatch { .. } => DisconnectReason::VersionMismatch,
            InvalidMessage::BadField { .. } => DisconnectReason::InvalidMessage,
        }
    }
}

impl ClientMessage {
    /// The variant's name, for logs and close reasons.
    pub fn name(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "Hello",
            ClientMessage::Input(_) => "Input",
            ClientMessage::Ping { .. } => "Ping",
            ClientMessage::ReplayControl(_) => "ReplayControl",
            ClientMessage::Chat { .. } => "Chat",
        }
    }

    /// Checks that the message is legal in `state` and that every field is in range. The
    /// game part of an input is the game's to check (`GameInput::decode`), where the server
    /// knows which game runs.
    pub fn verify(&self, state: ConnectionState) -> Result<(), InvalidMessage> {
        let legal = matches!(
            (self, state),
            (ClientMessage::Hello { .. }, ConnectionState::AwaitingHello)
                | (ClientMessage::Input(_), ConnectionState::Playing)
                | (ClientMessage::Ping { .. }, ConnectionState::Playing)
                | (ClientMessage::ReplayControl(_), ConnectionState::Playing)
                | (ClientMessage::Chat { .. }, ConnectionState::Playing)
        );
        if !legal {
            return Err(InvalidMessage::WrongState { message: self.name(), state });
        }
        match self {
            ClientMessage::Hello { protocol_version, name, .. } => {
                if *protocol_version != crate::PROTOCOL_VERSION {
                    return Err(InvalidMessage::VersionMismatch {
                        server: crate::PROTOCOL_VERSION,
                        client: *protocol_version,
                    });
                }
                verify_name(name)
            }
            ClientMessage::Input(frame) => {
                frame.verify().map_err(|why| InvalidMessage::BadField { field: "input", why })
            }
            ClientMessage::Ping { .. } => Ok(()),
            ClientMessage::ReplayControl(ReplayCommand::Speed(speed)) if !REPLAY_SPEEDS.contains(speed) => {
                Err(InvalidMessage::BadField { field: "replay speed", why: "not one of 50, 100, 200, 400" })
            }
            ClientMessage::ReplayControl(_) => Ok(()),
            ClientMessage::Chat { text } => {
                verify_chat(text).map_err(|why| InvalidMessage::BadField { field: "chat", why })
            }
        }
    }
}

/// The rules of a chat line (also applied to server announcements): not blank, at most
/// [`MAX_CHAT_BYTES`] bytes, no control characters (no line breaks, no terminal escapes).
pub fn verify_chat(text: &str) -> Result<(), &'static str> {
    if text.trim().is_empty() {
        return Err("empty");
    }
    if text.len() > MAX_CHAT_BYTES {
        return Err("longer than 200 bytes");
    }
    if text.chars().any(char::is_control) {
        return Err("contains control characters");
    }
    Ok(())
}

fn verify_name(name: &str) -> Result<(), InvalidMessage> {
    let bad = |why| Err(InvalidMessage::BadField { field: "name", why });
    if name.trim().is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad("longer than 24 bytes");
    }
    if name.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    Ok(())
}

/// Why the server ends a connection. Sent in [`ServerMessage::Disconnect`] just before the
/// WebSocket close frame, whose code is [`DisconnectReason::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisconnectReason {
    /// The server is shutting down (1001).
    ServerShutdown,
    /// `Hello` carried another protocol version (1002).
    VersionMismatch,
    /// A message not legal in the connection's state (1002).
    ProtocolViolation,
    /// A text frame; only binary frames carry game traffic (1003).
    TextFrame,
    /// A frame that does not decode, or a field out of range (1007).
    InvalidMessage,
    /// No `Hello` in time, or the peer went silent (1008).
    Timeout,
    /// The client did not read fast enough and its queue overflowed (1008).
    TooSlow,
    /// A message over the size limit (1009).
    MessageTooBig,
    /// The server already has its maximum number of players (1013).
    ServerFull,
    /// More messages per second than a client ever needs (1008).
    RateLimited,
    /// An administrator removed the client (4001); it should not reconnect by itself.
    Kicked,
}

impl DisconnectReason {
    /// Every reason, in declaration order.
    pub const ALL: [DisconnectReason; 11] = [
        DisconnectReason::ServerShutdown,
        DisconnectReason::VersionMismatch,
        DisconnectReason::ProtocolViolation,
        DisconnectReason::TextFrame,
        DisconnectReason::InvalidMessage,
        DisconnectReason::Timeout,
        DisconnectReason::TooSlow,
        DisconnectReason::MessageTooBig,
        DisconnectReason::ServerFull,
        DisconnectReason::RateLimited,
        DisconnectReason::Kicked,
    ];

    /// The WebSocket close code that goes with the reason (RFC 6455, section 7.4.1).
    pub fn close_code(self) -> u16 {
        match self {
            DisconnectReason::ServerShutdown => 1001,
            DisconnectReason::VersionMismatch | DisconnectReason::ProtocolViolation => 1002,
            DisconnectReason::TextFrame => 1003,
            DisconnectReason::InvalidMessage => 1007,
            DisconnectReason::Timeout | DisconnectReason::TooSlow | DisconnectReason::RateLimited => 1008,
            DisconnectReason::MessageTooBig => 1009,
            DisconnectReason::ServerFull => 1013,
            // RFC 6455 leaves 4000-4999 to applications.
            DisconnectReason::Kicked => 4001,
        }
    }
}

/// Sent in reply to `Hello`: who the client is and how the world is set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The connection's client id (appears as `owner` of its player and in the scoreboard);
    /// 0 on a replay server, where the recorded players own the ids.
    pub client_id: u32,
    /// Network id of the client's own player entity; 0 for a spectator.
    pub entity_id: u32,
    /// Simulation ticks per second.
    pub tick_rate: u16,
    /// Snapshots per second.
    pub snapshot_rate: u16,
    /// The running game's replicated schema: the tables every snapshot entry follows (its
    /// hash, `Schema::hash`, names the protocol a client must speak).
    pub schema: std::sync::Arc<crate::schema::Schema>,
    /// The arena.
    pub map: MapData,
}

/// Messages from the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    // -- AwaitingHello --
    /// Accepts the `Hello`; the connection is now `Playing`.
    Welcome(Welcome),
    // -- Playing --
    /// The world as of a tick: a delta from the last snapshot this connection was sent, or a
    /// keyframe (see [`Snapshot`]). A client that falls behind skips snapshots and simply
    /// gets a delta from an older baseline.
    Snapshot(Snapshot),
    /// Answer to `Ping`, sent by the network layer as soon as the `Ping` is read.
    Pong {
        /// The `Ping`'s id.
        id: u32,
    },
    // -- Any state --
    /// The server is about to close the connection, and why.
    Disconnect {
        /// Machine-readable reason.
        reason: DisconnectReason,
        /// Human-readable detail.
        message: String,
    },
    // -- Replay servers only --
    /// Where a replay stands; sent to spectators with each snapshot and after each
    /// `ReplayControl`. Only replay servers send it.
    ReplayStatus {
        /// The tick shown now.
        tick: u64,
        /// The recording's last tick.
        end_tick: u64,
        /// Whether playback is paused.
        paused: bool,
        /// Playback speed in percent of real time.
        speed_percent: u16,
    },
    // -- Playing, again --
    /// The game's scoreboard: rows in the game's order (best first), each with one value per
    /// column its schema names (`Schema::scores`); sent after `Welcome` and whenever it
    /// changes.
    Scoreboard(Vec<ScoreEntry>),
    /// A chat line or a server announcement, to every client, in order.
    Chat(ChatLine),
    /// A line from the server to this client only (e.g. its chat line was dropped).
    Notice {
        /// What to show.
        text: String,
    },
    /// The server is draining (shutting down or moving its players): it takes no new players
    /// and closes this connection with 1001 in `seconds`, sooner if everyone leaves.
    Draining {
        /// Seconds left, rounded up.
        seconds: u16,
    },
}

/// One chat line as broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    /// The sender's client id (as in `Welcome` and the scoreboard); 0 for a server
    /// announcement.
    pub from: u32,
    /// The sender's name; `server` for an announcement.
    pub name: String,
    /// The simulation tick at which the server took the line.
    pub tick: u64,
    /// The line, as checked by [`verify_chat`].
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PROTOCOL_VERSION;
    use crate::input::InputFrame;

    fn hello(version: u16, name: &str) -> ClientMessage {
        ClientMessage::Hello { protocol_version: version, name: name.into(), spectate: false }
    }

    #[test]
    fn state_machine() {
        let input = ClientMessage::Input(InputFrame::default());
        assert_eq!(hello(PROTOCOL_VERSION, "ann").verify(ConnectionState::AwaitingHello), Ok(()));
        assert_eq!(input.verify(ConnectionState::Playing), Ok(()));
        assert_eq!(
            input.verify(ConnectionState::AwaitingHello).map_err(|e| e.reason()),
            Err(DisconnectReason::ProtocolViolation)
        );
        assert_eq!(
            hello(PROTOCOL_VERSION, "ann").verify(ConnectionState::Playing).map_err(|e| e.reason()),
            Err(DisconnectReason::ProtocolViolation)
        );
    }

    #[test]
    fn chat_checks() {
        let chat = |text: &str| ClientMessage::Chat { text: text.into() };
        assert_eq!(chat("gg").verify(ConnectionState::Playing), Ok(()));
        assert_eq!(chat(&"é".repeat(100)).verify(ConnectionState::Playing), Ok(()), "200 bytes");
        assert_eq!(
            chat("hi").verify(ConnectionState::AwaitingHello).map_err(|e| e.reason()),
            Err(DisconnectReason::ProtocolViolation)
        );
        for bad in ["", "  ", "a\nb", "\u{1b}[2J", &"x".repeat(MAX_CHAT_BYTES + 1)] {
            let err = chat(bad).verify(ConnectionState::Playing);
            assert_eq!(err.map_err(|e| e.reason()), Err(DisconnectReason::InvalidMessage), "{bad:?}");
        }
    }

    #[test]
    fn hello_checks() {
        let err = hello(PROTOCOL_VERSION + 1, "ann").verify(ConnectionState::AwaitingHello);
        assert_eq!(err.map_err(|e| e.reason()), Err(DisconnectReason::VersionMismatch));
        for name in ["", "   ", "a\u{7}b", &"x".repeat(MAX_NAME_BYTES + 1)] {
            let err = hello(PROTOCOL_VERSION, name).verify(ConnectionState::AwaitingHello);
            assert_eq!(err.map_err(|e| e.reason()), Err(DisconnectReason::InvalidMessage), "{name:?}");
        }
    }
}
