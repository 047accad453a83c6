//! After the upgrade: every violation gets its documented close code, with its reason.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use integration_tests::hostile::{
    Witness, binary, closed_within, closing_within, documented_code, hello, join, still_serving, ws_connect,
};
use shared::arena::{Buttons, Input};
use shared::{ClientMessage, DisconnectReason, InputFrame, PROTOCOL_VERSION, ReplayCommand, ServerMessage, codec};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::arena::{Arena, HELLO_TIMEOUT, MAX_PLAYERS, WITNESSES};

/// Connects with `token` (joining as a player first if `joined`), sends `messages`, and
/// checks the server closed this connection with `reason` and its documented code, saying
/// why, and kept serving. Returns the close text.
async fn closed_for(
    addr: SocketAddr,
    token: &str,
    what: &str,
    joined: bool,
    messages: Vec<Message>,
    reason: DisconnectReason,
) -> String {
    let mut ws = ws_connect(addr, token).await;
    if joined {
        join(&mut ws, "offender", false).await;
    }
    for message in messages {
        ws.send(message).await.unwrap_or_else(|e| panic!("{what}: send: {e}"));
    }
    let (closing, _) = closed_within(&mut ws, Duration::from_secs(5), what).await;
    let code = documented_code(reason);
    assert_eq!((closing.reason, closing.code), (Some(reason), Some(code)), "{what}: {closing:?}");
    assert!(!closing.text.is_empty(), "{what}: the close frame says why");
    assert!(still_serving(addr).await, "{what}: the server stopped serving");
    closing.text
}

/// `bytes` as fragments of `size`: a binary frame, then continuation frames, the last final.
fn fragments(bytes: &[u8], size: usize) -> Vec<Message> {
    let count = bytes.len().div_ceil(size);
    bytes
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let opcode = if i == 0 { Data::Binary } else { Data::Continue };
            Message::Frame(Frame::message(piece.to_vec(), OpCode::Data(opcode), i + 1 == count))
        })
        .collect()
}

/// Waits until the witness's scoreboard has `count` rows: that many players on the server.
async fn players_are(witness: &Witness, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while witness.scoreboard().len() != count {
        assert!(Instant::now() < deadline, "expected {count} players, the scoreboard says {:?}", witness.scoreboard());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn after_the_upgrade_every_violation_gets_its_documented_close_code() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let token = arena.token("offender", "player");
    let players: Vec<String> =
        (0..=MAX_PLAYERS - WITNESSES).map(|i| arena.token(&format!("extra{i}"), "player")).collect();
    arena.attack(async {
        // 1008: no Hello within the hello timeout. It runs beside the other cases.
        let silent = {
            let token = token.clone();
            tokio::spawn(async move {
                let mut ws = ws_connect(addr, &token).await;
                closing_within(&mut ws, HELLO_TIMEOUT + Duration::from_secs(5)).await
            })
        };

        // One case per line: what is sent (after a Hello if joined), and the reason (so the
        // close code) WIRE.md gives for it.
        let input = InputFrame::new(1, 0, &Input { movement: Vec2::X, aim: 0.0, buttons: 0 });
        let nan = InputFrame::new(1, 0, &Input { movement: Vec2::new(f32::NAN, 0.0), aim: 0.0, buttons: 0 });
        let wide_aim = InputFrame::new(1, 0, &Input { movement: Vec2::ZERO, aim: 100.0, buttons: Buttons::FIRE });
        let unknown_button = InputFrame::new(1, 0, &Input { movement: Vec2::ZERO, aim: 0.0, buttons: 0x80 });
        // A game part of 65 bytes, one over `shared::input::MAX_INPUT_BYTES`: a legal arena
        // input followed by padding, so only its length is wrong.
        let mut long_data = input.clone();
        long_data.data.resize(65, 0);
        // A game part that is no arena input: three bytes where movement alone takes eight.
        let undecodable = InputFrame { seq: 1, view_tick: 0, data: vec![0x01, 0x02, 0x03] };
        // Version 2's Hello had no `spectate`: 00 02 03 "old".
        let v2_hello = Message::Binary(vec![0x00, 0x02, 0x03, b'o', b'l', b'd'].into());
        let garbage = || Message::Binary(vec![0xFF, 0x00, 0x13].into());
        // A chat line of 300 bytes, sent in fragments of 100: each under the limit, the
        // message over it.
        let mut long_chat = codec::encode(&ClientMessage::Chat { text: "x".repeat(200) }).expect("encodes");
        long_chat.extend(std::iter::repeat_n(b'x', 300 - long_chat.len()));
        use DisconnectReason::{InvalidMessage, MessageTooBig, ProtocolViolation, TextFrame, VersionMismatch};
        let cases = [
            ("Input before Hello", false, vec![binary(&ClientMessage::Input(input))], ProtocolViolation),
            ("Hello of protocol version 2", false, vec![v2_hello], VersionMismatch),
            ("a second Hello", true, vec![binary(&hello("again", false))], ProtocolViolation),
            (
                "ReplayControl on a live server",
                true,
                vec![binary(&ClientMessage::ReplayControl(ReplayCommand::Pause))],
                ProtocolViolation,
            ),
            ("text frame", true, vec![Message::Text("hello".into())], TextFrame),
            ("garbage binary before Hello", false, vec![garbage()], InvalidMessage),
            ("garbage binary", true, vec![garbage()], InvalidMessage),
            ("NaN in Input", true, vec![binary(&ClientMessage::Input(nan))], InvalidMessage),
            ("aim out of range in Input", true, vec![binary(&ClientMessage::Input(wide_aim))], InvalidMessage),
            ("unknown button bits in Input", true, vec![binary(&ClientMessage::Input(unknown_button))], InvalidMessage),
            ("Input with 65 bytes of game input", true, vec![binary(&ClientMessage::Input(long_data))], InvalidMessage),
            (
                "Input whose game part is no arena input",
                true,
                vec![binary(&ClientMessage::Input(undecodable))],
                InvalidMessage,
            ),
            ("empty binary message", true, vec![Message::Binary(Vec::new().into())], InvalidMessage),
            ("message over the limit", true, vec![Message::Binary(vec![0x02; 300].into())], MessageTooBig),
            (
                "message over the limit before Hello",
                false,
                vec![Message::Binary(vec![0x00; 4096].into())],
                MessageTooBig,
            ),
            ("fragmented message over the limit", true, fragments(&long_chat, 100), MessageTooBig),
        ];
        for (what, joined, messages, reason) in cases {
            let why = closed_for(addr, &token, what, joined, messages, reason).await;
            if reason == VersionMismatch {
                assert!(why.contains(&PROTOCOL_VERSION.to_string()) && why.contains('2'), "names both versions: {why}");
            }
            if what.ends_with("in Input") || what.contains("no arena input") {
                assert!(why.contains("invalid input: "), "{what}: the game refused it: {why}");
            }
            if what.contains("65 bytes") {
                assert!(why.contains("64 bytes"), "{what}: refused for its length: {why}");
            }
        }

        // 1008: Pings at 500/s, twice the sustained rate, from a client that reads its Pongs:
        // the burst allowance runs out within a second.
        let mut ws = ws_connect(addr, &token).await;
        join(&mut ws, "flooder", false).await;
        let (mut sink, mut stream) = ws.split();
        let flooding = async {
            let mut pace = tokio::time::interval(Duration::from_millis(2));
            for id in 0..2500 {
                pace.tick().await;
                if sink.send(binary(&ClientMessage::Ping { id })).await.is_err() {
                    break;
                }
            }
            std::future::pending::<()>().await;
        };
        let mut pongs = 0;
        let reading = async {
            let mut reason = None;
            loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(bytes))) => match codec::decode_server(&bytes).expect("decodes") {
                        ServerMessage::Pong { .. } => pongs += 1,
                        ServerMessage::Disconnect { reason: r, .. } => reason = Some(r),
                        _ => {}
                    },
                    Some(Ok(Message::Close(frame))) => break (reason, frame.map(|f| u16::from(f.code))),
                    Some(Ok(_)) => {}
                    other => panic!("Ping flood: the connection ended without a close frame: {other:?}"),
                }
            }
        };
        let flood_started = Instant::now();
        let closing = tokio::time::timeout(Duration::from_secs(8), async {
            tokio::select! {
                closing = reading => closing,
                () = flooding => unreachable!("the flood never ends by itself"),
            }
        })
        .await
        .expect("a Ping flood at 500/s is closed");
        assert_eq!(closing, (Some(DisconnectReason::RateLimited), Some(1008)), "Ping flood after {pongs} Pongs");
        println!("Ping flood at 500/s: 1008 after {pongs} Pongs, {} ms", flood_started.elapsed().as_millis());
        assert!(still_serving(addr).await, "serving after the Ping flood");

        // 1013: the witnesses are 3 of the 8 players; 5 more fill the server, the next is
        // refused, and a spectator still gets in. First, the offenders above must be gone.
        players_are(&arena.witnesses[0], WITNESSES).await;
        let mut extras = Vec::new();
        for token in &players[..MAX_PLAYERS - WITNESSES] {
            let mut ws = ws_connect(addr, token).await;
            assert_ne!(join(&mut ws, "extra", false).await.entity_id, 0, "players up to --max-players join");
            extras.push(ws);
        }
        players_are(&arena.witnesses[0], MAX_PLAYERS).await;
        let late = &players[MAX_PLAYERS - WITNESSES];
        let late_hello = vec![binary(&hello("late", false))];
        closed_for(addr, late, "join over --max-players", false, late_hello, DisconnectReason::ServerFull).await;
        let mut watcher = ws_connect(addr, late).await;
        assert_eq!(join(&mut watcher, "watcher", true).await.entity_id, 0, "a spectator takes no player slot");
        for ws in &mut extras {
            ws.close(None).await.expect("close");
        }

        // The silent connection's 1008.
        let (closing, after) = silent.await.expect("task").expect("the silent connection was closed");
        assert_eq!(
            (closing.reason, closing.code),
            (Some(DisconnectReason::Timeout), Some(1008)),
            "no Hello: {closing:?}"
        );
        assert!(after >= HELLO_TIMEOUT - Duration::from_millis(200), "not before the hello timeout: {after:?}");
        assert!(after <= HELLO_TIMEOUT + Duration::from_secs(1), "within a second of the hello timeout: {after:?}");
        println!("no Hello: 1008 after {} ms", after.as_millis());
    });
    arena.finish();
}
