//! `GET /ws/calls/transcriptions`: the live call-update stream.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{Socket, TO, TestGateway, frames_until, id_of, next_frame, unique};

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_whole_echo_call_streams_in_order() {
    let gw = TestGateway::start().await;
    let mut socket = gw.live_socket(&gw.admin_key).await;
    let call = gw
        .create_call(json!({"to": TO, "provider": "slow", "variables": {"customer_name": "Ada"}}))
        .await;
    let id = id_of(&call);
    send(&mut socket, json!({"subscribe": id, "after_seq": 0})).await;
    let confirmed = next_frame(&mut socket).await;
    assert_eq!(confirmed["type"], "subscription_confirmed", "{confirmed}");
    assert_eq!(confirmed["call_id"], id);
    assert_eq!(confirmed["provider"], "slow");
    let frames = frames_until(&mut socket, "call_completed").await;
    let statuses: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "call_status")
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["ringing", "in_progress", "completed"],
        "{frames:?}"
    );
    let seqs: Vec<i64> = frames
        .iter()
        .filter(|f| f["type"] == "transcription")
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    let kinds = kinds(&frames);
    let completed_status = kinds.iter().rposition(|k| k == "call_status").unwrap();
    assert_eq!(
        completed_status,
        kinds.len() - 2,
        "call_status right before call_completed: {kinds:?}"
    );
    let last = frames.last().unwrap();
    assert_eq!(last["call"]["status"], "completed");
    assert!(last["call"]["summary"].is_string());
    gw.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let gw = TestGateway::start().await;
    let base = gw.base.replacen("http://", "ws://", 1);
    for url in [
        format!("{base}/ws/calls/transcriptions"),
        format!("{base}/ws/calls/transcriptions?token=nonsense"),
        format!("{base}/ws/calls/transcriptions?token=vgk_unknown"),
    ] {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{url}")
            }
            other => panic!("{url}: expected a refused upgrade, got {other:?}"),
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn errors_keep_the_connection_open() {
    let gw = TestGateway::start().await;
    let mut socket = gw.live_socket(&gw.admin_key).await;
    let cases = [
        (Message::text("not json"), "INVALID_MESSAGE"),
        (
            Message::text(r#"{"subscribe":"x","surprise":1}"#),
            "INVALID_MESSAGE",
        ),
        (Message::binary(vec![1, 2, 3]), "INVALID_MESSAGE"),
        (
            Message::text(format!(r#"{{"subscribe":"{}"}}"#, "a".repeat(5000))),
            "INVALID_MESSAGE",
        ),
        (
            Message::text(r#"{"subscribe":"has space"}"#),
            "INVALID_IDENTIFIER",
        ),
        (
            Message::text(format!(r#"{{"subscribe":"{}"}}"#, uuid::Uuid::now_v7())),
            "CALL_NOT_FOUND",
        ),
        (
            Message::text(r#"{"subscribe":"CA-unknown-sid"}"#),
            "CALL_NOT_FOUND",
        ),
    ];
    for (frame, code) in cases {
        socket.send(frame).await.unwrap();
        let error = next_frame(&mut socket).await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["code"], code, "{error}");
    }
    // Still open and working.
    let id = gw.create_call_on("frozen", TO).await;
    send(&mut socket, json!({"subscribe": id})).await;
    assert_eq!(
        next_frame(&mut socket).await["type"],
        "subscription_confirmed"
    );
    send(&mut socket, json!({"unsubscribe": id})).await;
    let unsubscribed = next_frame(&mut socket).await;
    assert_eq!(unsubscribed["type"], "unsubscribe_confirmed");
    assert_eq!(unsubscribed["call_id"], id);
    gw.stop().await;
}

#[tokio::test]
async fn vendor_ids_two_clients_two_calls_and_resume() {
    let gw = TestGateway::start().await;
    let first = gw
        .create_call(json!({"to": TO, "provider": "frozen"}))
        .await;
    let second_id = gw.create_call_on("frozen", TO).await;
    let first_id = id_of(&first);
    let vendor_id = first["provider_call_id"].as_str().unwrap().to_owned();

    let mut a = gw.live_socket(&gw.admin_key).await;
    let mut b = gw.live_socket(&gw.admin_key).await;
    send(&mut a, json!({"subscribe": vendor_id})).await;
    let confirmed = next_frame(&mut a).await;
    assert_eq!(confirmed["call_id"], first_id, "{confirmed}");
    send(&mut a, json!({"subscribe": second_id})).await;
    next_frame(&mut a).await;
    send(&mut b, json!({"subscribe": first_id})).await;
    next_frame(&mut b).await;

    let turn = |call: &str, n: u32| json!({"event_id": unique("t"), "call_id": call, "turn": {"speaker": "user", "text": format!("turn {n}")}});
    gw.apply_webhook("frozen", &turn(&first_id, 1)).await;
    gw.apply_webhook("frozen", &turn(&second_id, 1)).await;
    for socket in [&mut a, &mut b] {
        let frame = next_frame(socket).await;
        assert_eq!(
            (frame["call_id"].as_str(), frame["seq"].as_i64()),
            (Some(first_id.as_str()), Some(1))
        );
    }
    let other = next_frame(&mut a).await;
    assert_eq!(other["call_id"], second_id);

    // b drops; two turns land; b comes back with after_seq = 1 and gets exactly 2 and 3.
    b.close(None).await.unwrap();
    gw.apply_webhook("frozen", &turn(&first_id, 2)).await;
    gw.apply_webhook("frozen", &turn(&first_id, 3)).await;
    let mut b = gw.live_socket(&gw.admin_key).await;
    send(&mut b, json!({"subscribe": first_id, "after_seq": 1})).await;
    assert_eq!(next_frame(&mut b).await["type"], "subscription_confirmed");
    let replayed: Vec<i64> = [next_frame(&mut b).await, next_frame(&mut b).await]
        .iter()
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(replayed, [2, 3]);
    gw.apply_webhook("frozen", &turn(&first_id, 4)).await;
    assert_eq!(
        next_frame(&mut b).await["seq"],
        4,
        "no gap and no repeat at the seam"
    );
    gw.stop().await;
}

#[tokio::test]
async fn subscribing_to_an_ended_call_gets_its_end() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("echo", TO).await;
    gw.wait_for_status(&id, "completed").await;
    let mut socket = gw.live_socket(&gw.admin_key).await;
    send(&mut socket, json!({"subscribe": id, "after_seq": 0})).await;
    let frames = frames_until(&mut socket, "call_completed").await;
    assert_eq!(
        kinds(&frames),
        [
            "subscription_confirmed",
            "transcription",
            "transcription",
            "transcription",
            "call_status",
            "call_completed"
        ]
    );
    assert_eq!(frames[4]["status"], "completed");
    assert_eq!(frames[4]["previous_status"], "in_progress");
    gw.stop().await;
}

#[tokio::test]
async fn an_expiring_token_ends_the_stream_with_1008() {
    use voice_gateway::auth::tokens::JwtKeys;
    let gw = TestGateway::start().await;
    let user = json!({"username": "exp", "email": "exp@example.com", "password": "correct horse battery", "role": "viewer"});
    let created = gw.post_json("/v1/users", &user).await;
    created.expect_status(201);
    let user_id = created.json()["id"].as_str().unwrap().to_owned();
    let keys = JwtKeys::new(
        crate::harness::JWT_SECRET.as_bytes(),
        "voice-gateway",
        "voice-gateway-api",
    );
    let short = keys.issue(&user_id, "viewer", 0, 2).unwrap();
    let mut socket = gw.live_socket(&short).await;
    let error = next_frame(&mut socket).await;
    assert_eq!(error["code"], "TOKEN_EXPIRED", "{error}");
    let close = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    match close {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    gw.stop().await;
}

#[tokio::test]
async fn subscriptions_per_connection_are_limited() {
    let gw = TestGateway::start().await;
    let mut socket = gw.live_socket(&gw.admin_key).await;
    for _ in 0..100 {
        let id = gw.create_call_on("frozen", TO).await;
        send(&mut socket, json!({"subscribe": id})).await;
        assert_eq!(
            next_frame(&mut socket).await["type"],
            "subscription_confirmed"
        );
    }
    let one_more = gw.create_call_on("frozen", TO).await;
    send(&mut socket, json!({"subscribe": one_more})).await;
    let error = next_frame(&mut socket).await;
    assert_eq!(error["code"], "TOO_MANY_SUBSCRIPTIONS", "{error}");
    assert_eq!(error["identifier"], one_more);
    gw.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_delays_nobody() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let mut stalled = gw.live_socket(&gw.admin_key).await;
    send(&mut stalled, json!({"subscribe": id})).await;
    let mut reader = gw.live_socket(&gw.admin_key).await;
    send(&mut reader, json!({"subscribe": id})).await;
    assert_eq!(
        next_frame(&mut reader).await["type"],
        "subscription_confirmed"
    );
    // The stalled client never reads again; the webhooks and the reading client carry on.
    let turns = 300;
    let reading = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while seqs.len() < turns {
            let frame = next_frame(&mut reader).await;
            seqs.push(frame["seq"].as_i64().unwrap());
        }
        seqs
    });
    let started = tokio::time::Instant::now();
    for n in 0..turns {
        let text = format!("turn {n} {}", "x".repeat(200));
        let turn = json!({"speaker": "user", "text": text});
        let body = json!({"event_id": unique("t"), "call_id": id, "turn": turn});
        gw.apply_webhook("frozen", &body).await;
    }
    let seqs = reading.await.unwrap();
    assert_eq!(
        seqs,
        (1..=turns as i64).collect::<Vec<_>>(),
        "every turn, in order"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(stalled);
    gw.stop().await;
}
