//! Bursts within the documented allowance, which must be answered, not closed.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use integration_tests::hostile::{binary, join, still_serving, ws_connect};
use shared::{ClientMessage, ServerMessage, codec};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::arena::Arena;

/// Sends `messages` in one burst after a `Hello`, reading everything that comes back until
/// `done` says the answers are all in; what came back, or how the connection ended first.
async fn burst(
    addr: SocketAddr,
    token: &str,
    messages: &[ClientMessage],
    mut done: impl FnMut(&[ServerMessage]) -> bool,
) -> Result<Vec<ServerMessage>, String> {
    let mut ws = ws_connect(addr, token).await;
    join(&mut ws, "burst", false).await;
    for message in messages {
        ws.feed(binary(message)).await.expect("send");
    }
    ws.flush().await.expect("flush");
    let mut answers = Vec::new();
    while !done(&answers) {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Err(_) => return Err(format!("answers stopped after {} messages", answers.len())),
            Ok(Some(Ok(Message::Binary(bytes)))) => match codec::decode_server(&bytes).expect("decodes") {
                ServerMessage::Disconnect { reason, message } => {
                    return Err(format!("closed with {reason:?} ({message}) after {} answers", answers.len()));
                }
                answer => answers.push(answer),
            },
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed: {frame:?}")),
            Ok(Some(Ok(_))) => {}
            Ok(other) => return Err(format!("connection ended: {other:?}")),
        }
    }
    let _ = ws.close(None).await;
    Ok(answers)
}

/// WIRE.md: more than 240 messages per second is refused only when sustained, "bursts of 120
/// pass"; and a chat line over the chat rate gets a `Notice`, with no disconnect. A burst
/// under the allowance whose every message has an answer must therefore be answered, from a
/// client that reads all along.
#[test]
fn a_burst_within_the_allowance_is_answered_not_closed() {
    let mut arena = Arena::start();
    let addr = arena.addr;
    let token = arena.token("burst", "player");
    let outcomes = arena.attack(async {
        let pings: Vec<ClientMessage> = (0..100).map(|id| ClientMessage::Ping { id }).collect();
        let pongs = |answers: &[ServerMessage]| {
            answers.iter().filter(|m| matches!(m, ServerMessage::Pong { .. })).count() == 100
        };
        let ping_burst = burst(addr, &token, &pings, pongs).await;
        let lines: Vec<ClientMessage> = (0..100).map(|i| ClientMessage::Chat { text: format!("line {i}") }).collect();
        let notices = |answers: &[ServerMessage]| {
            answers.iter().filter(|m| matches!(m, ServerMessage::Notice { .. })).count() == 95
        };
        let chat_burst = burst(addr, &token, &lines, notices).await;
        // 20 clients at 200 messages a second for 2 s: busy, but under the sustained 240.
        let mut busy = JoinSet::new();
        for i in 0..20u32 {
            let token = token.clone();
            busy.spawn(async move {
                let mut ws = ws_connect(addr, &token).await;
                join(&mut ws, "busy", true).await;
                let (mut sink, mut stream) = ws.split();
                let reader = tokio::spawn(async move {
                    // Snapshots keep coming, so stop at the last Pong or a deadline.
                    let mut pongs = 0u32;
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
                    while pongs < 400 {
                        let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, stream.next()).await else {
                            break;
                        };
                        match message {
                            Message::Binary(bytes) => {
                                if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Pong { .. })) {
                                    pongs += 1;
                                }
                            }
                            Message::Close(frame) => return Err(format!("busy client {i} closed: {frame:?}")),
                            _ => {}
                        }
                    }
                    Ok(pongs)
                });
                let mut ticker = tokio::time::interval(Duration::from_millis(5));
                for id in 0..400u32 {
                    ticker.tick().await;
                    sink.send(binary(&ClientMessage::Ping { id })).await.map_err(|e| format!("send: {e}"))?;
                }
                match reader.await.expect("reader") {
                    Ok(400) => Ok(()),
                    Ok(pongs) => Err(format!("busy client {i}: {pongs} of 400 Pongs")),
                    Err(e) => Err(e),
                }
            });
        }
        let mut sustained = Ok(());
        while let Some(outcome) = busy.join_next().await {
            if let Err(e) = outcome.expect("busy task") {
                sustained = Err(e);
            }
        }
        assert!(still_serving(addr).await, "serving after the bursts");
        [
            ("100 Pings", ping_burst.map(|_| ())),
            ("100 chat lines", chat_burst.map(|_| ())),
            ("20 clients at 200 messages/s", sustained),
        ]
    });
    let failed: Vec<String> =
        outcomes.iter().filter_map(|(what, outcome)| outcome.as_ref().err().map(|e| format!("{what}: {e}"))).collect();
    arena.finish();
    assert!(failed.is_empty(), "a burst within the allowed 120 messages was not answered: {failed:?}");
}
