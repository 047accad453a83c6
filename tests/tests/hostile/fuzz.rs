//! Fuzzed messages, a ping-frame flood and clients that never read: documented close codes
//! only, and no harm to anyone else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use glam::Vec2;
use integration_tests::hostile::{
    Rng, binary, closing_within, documented_code, hello, hex, join, still_serving, ws_connect, ws_connect_with,
};
use shared::arena::Input;
use shared::{ClientMessage, InputFrame, ReplayCommand, ServerMessage, codec};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::arena::Arena;

/// A random binary message from case `seed`: random bytes, valid messages mutated, truncated
/// or extended, Inputs with random float bits, Hellos and chat lines with random contents.
fn fuzzed(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let f = |rng: &mut Rng| f32::from_bits(rng.next_u64() as u32);
    let valid = |rng: &mut Rng| -> ClientMessage {
        match rng.below(5) {
            0 => hello("fuzz", rng.below(2) == 0),
            1 => ClientMessage::Input(InputFrame::new(
                rng.next_u64() as u32,
                0,
                &Input { movement: Vec2::X, aim: 0.5, buttons: 1 },
            )),
            2 => ClientMessage::Ping { id: rng.next_u64() as u32 },
            3 => ClientMessage::Chat { text: "hi".into() },
            _ => ClientMessage::ReplayControl(ReplayCommand::Seek(rng.next_u64())),
        }
    };
    match rng.below(8) {
        0 => {
            let len = rng.below(301);
            rng.bytes(len)
        }
        1 => {
            let mut bytes = codec::encode(&valid(&mut rng)).expect("encodes");
            for _ in 0..=rng.below(3) {
                let bit = rng.below(bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            bytes
        }
        2 => {
            let mut bytes = codec::encode(&valid(&mut rng)).expect("encodes");
            bytes.truncate(rng.below(bytes.len()));
            bytes
        }
        3 => {
            let mut bytes = codec::encode(&valid(&mut rng)).expect("encodes");
            let more = 1 + rng.below(8);
            bytes.extend(rng.bytes(more));
            bytes
        }
        4 => {
            let seq = rng.next_u64() as u32;
            let input = Input {
                movement: Vec2::new(f(&mut rng), f(&mut rng)),
                aim: f(&mut rng),
                buttons: rng.next_u64() as u8,
            };
            let view_tick = rng.next_u64() as u32;
            codec::encode(&ClientMessage::Input(InputFrame::new(seq, view_tick, &input))).expect("encodes")
        }
        5 => {
            // A Hello with any version and any name bytes (maybe not UTF-8, maybe too long).
            let mut bytes = vec![0x00, 0xFB];
            bytes.extend_from_slice(&(rng.next_u64() as u16).to_le_bytes());
            let len = rng.below(40);
            bytes.push(len as u8);
            bytes.extend(rng.bytes(len));
            bytes.push(rng.below(3) as u8);
            bytes
        }
        6 => {
            // Any variant index, in each varint width.
            let mut bytes = match rng.below(4) {
                0 => vec![rng.next_u64() as u8],
                1 => vec![0xFB, rng.next_u64() as u8, rng.next_u64() as u8],
                2 => [vec![0xFC], rng.bytes(4)].concat(),
                _ => [vec![0xFD], rng.bytes(8)].concat(),
            };
            let more = rng.below(20);
            bytes.extend(rng.bytes(more));
            bytes
        }
        _ => {
            // A chat line with random characters, control ones included, of any length.
            let len = rng.below(260);
            let text: String = (0..len).map(|_| char::from_u32(rng.below(0x250) as u32).unwrap_or('?')).collect();
            codec::encode(&ClientMessage::Chat { text }).expect("encodes")
        }
    }
}

#[test]
fn fuzzed_messages_get_documented_close_codes_and_clients_that_never_read_hurt_no_one() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let token = arena.token("fuzzer", "player");
    let sleeper = arena.token("sleeper", "spectator");
    let never_reading = arena.attack(async {
        // -- 100 fuzzed messages, each from its own connection, 20 connections at a time;
        // half of them after a Hello (as spectators, so the player cap is not what answers).
        let started = Instant::now();
        let token = Arc::new(token);
        let gate = Arc::new(tokio::sync::Semaphore::new(20));
        let mut cases = JoinSet::new();
        for seed in 0..100u64 {
            let (token, gate) = (token.clone(), gate.clone());
            cases.spawn(async move {
                let _turn = gate.acquire_owned().await.expect("semaphore");
                let bytes = fuzzed(seed);
                let mut ws = ws_connect(addr, &token).await;
                let joined = seed % 2 == 1;
                if joined {
                    join(&mut ws, "fuzz", true).await;
                }
                ws.send(Message::Binary(bytes.clone().into())).await.expect("send the fuzzed message");
                let outcome = closing_within(&mut ws, Duration::from_millis(1500)).await;
                if outcome.is_none() {
                    // A legal message after all (a Ping, an Input, a Hello, a chat line).
                    let _ = ws.close(None).await;
                }
                (seed, joined, bytes, outcome.map(|(closing, _)| closing))
            });
        }
        let mut tally = std::collections::BTreeMap::<String, usize>::new();
        while let Some(case) = cases.join_next().await {
            let (seed, joined, bytes, outcome) = case.expect("fuzz task");
            let what = format!("fuzz case {seed} (after Hello: {joined}): {}", hex(&bytes));
            let key = match outcome {
                None => "still open (a legal message)".to_owned(),
                Some(closing) => {
                    let reason =
                        closing.reason.unwrap_or_else(|| panic!("{what}: closed without a Disconnect: {closing:?}"));
                    let code =
                        closing.code.unwrap_or_else(|| panic!("{what}: closed without a close frame: {closing:?}"));
                    assert_eq!(
                        code,
                        documented_code(reason),
                        "{what}: {reason:?} must close with its documented code: {closing:?}"
                    );
                    assert!(
                        matches!(code, 1002 | 1007 | 1009 | 1013),
                        "{what}: one message can only be illegal, malformed, too big or a join too many: {closing:?}"
                    );
                    format!("{code} {reason:?}")
                }
            };
            *tally.entry(key).or_default() += 1;
        }
        assert!(still_serving(addr).await, "serving after the fuzz");
        println!("fuzz: 100 messages in {} ms: {tally:?}", started.elapsed().as_millis());

        // -- A flood of WebSocket Ping control frames (not game messages) at 5000/s for 2 s,
        // from a client that reads its Pongs: if the server closes it, it must be with a
        // documented code; either way the witnesses must not notice.
        let mut ws = ws_connect(addr, &token).await;
        join(&mut ws, "pinger", false).await;
        let (mut sink, mut stream) = ws.split();
        let reading = tokio::spawn(async move {
            let (mut pongs, mut reason) = (0u64, None);
            loop {
                match stream.next().await {
                    Some(Ok(Message::Pong(_))) => pongs += 1,
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Ok(ServerMessage::Disconnect { reason: r, .. }) = codec::decode_server(&bytes) {
                            reason = Some(r);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return (pongs, reason, frame.map(|f| u16::from(f.code))),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return (pongs, reason, None),
                }
            }
        });
        let flood_started = Instant::now();
        let mut pace = tokio::time::interval(Duration::from_millis(10));
        let mut sent = 0;
        'flood: while flood_started.elapsed() < Duration::from_secs(2) {
            pace.tick().await;
            for _ in 0..50 {
                if sink.feed(Message::Ping(b"flood".to_vec().into())).await.is_err() {
                    break 'flood;
                }
                sent += 1;
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
        let (pongs, reason, code) = tokio::time::timeout(Duration::from_secs(5), reading)
            .await
            .expect("the ping-frame flooder's connection ends after its close")
            .expect("reader task");
        if let Some(reason) = reason {
            assert_eq!(code, Some(documented_code(reason)), "ping-frame flood closed with {reason:?}");
        }
        assert!(still_serving(addr).await, "serving after the ping-frame flood");
        println!(
            "ping-frame flood: {sent} Ping frames in 2 s, {pongs} Pongs, closed by the server: {reason:?} {code:?}"
        );

        // -- 20 clients join, then never read again (a small receive window, so the server's
        // writes to them back up); the witnesses must not notice.
        let mut sleepers = Vec::new();
        for _ in 0..20 {
            let mut ws = ws_connect_with(addr, &format!("token={sleeper}"), &[], Some(4096)).await.expect("upgrade");
            ws.send(binary(&hello("sleeper", true))).await.expect("send Hello");
            sleepers.push(ws);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(still_serving(addr).await, "serving beside clients that never read");
        sleepers
    });
    arena.finish();
    // Held until after the shutdown: they must not delay it.
    drop(never_reading);
}
