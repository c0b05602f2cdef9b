//! Who may keep a live stream open: revoked credentials close open connections (on every
//! instance), connections per principal are capped, and guessing identifiers is abuse.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::auth::user_with_role;
use crate::harness::{GatewayConfig, PROVIDERS, Socket, TO, TestGateway, next_frame};

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

fn config(live: &str) -> GatewayConfig {
    GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
        .sections(&format!("[live]\n{live}"))
}

async fn subscribed(gw: &TestGateway, token: &str) -> Socket {
    let mut socket = gw.live_socket(token).await;
    let id = gw.create_call_on("frozen", TO).await;
    send(&mut socket, json!({"subscribe": id})).await;
    let confirmed = next_frame(&mut socket).await;
    assert_eq!(confirmed["type"], "subscription_confirmed", "{confirmed}");
    socket
}

/// The connection ends within `within`: an `UNAUTHORIZED` error, then a 1008 close.
pub(crate) async fn closed_as_unauthorized(socket: &mut Socket, within: Duration) {
    let ended = async {
        let mut error = None;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    error = Some(serde_json::from_str::<Value>(&text).expect("JSON frame"))
                }
                Some(Ok(Message::Close(frame))) => return (error, frame),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    let (error, close) = tokio::time::timeout(within, ended)
        .await
        .expect("the connection is closed in time");
    let error = error.expect("an error frame before the close");
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "UNAUTHORIZED", "{error}");
    let close = close.expect("a close code");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "credentials revoked");
}

async fn api_key(gw: &TestGateway, role: &str) -> (String, String) {
    let created = gw
        .post_json("/v1/api-keys", &json!({"name": "live", "role": role}))
        .await;
    created.expect_status(201);
    let body = created.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["key"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn revoking_an_api_key_closes_its_open_streams() {
    let gw = TestGateway::start().await;
    let (id, key) = api_key(&gw, "viewer").await;
    let mut socket = subscribed(&gw, &key).await;
    let mut other = subscribed(&gw, &gw.admin_key).await;
    let revoke = gw.client.delete(gw.url(&format!("/v1/api-keys/{id}")));
    gw.send(revoke).await.expect_status(204);
    closed_as_unauthorized(&mut socket, Duration::from_secs(5)).await;
    // Other principals' connections stay open.
    send(&mut other, json!({"unsubscribe": "x"})).await;
    assert_eq!(
        next_frame(&mut other).await["type"],
        "unsubscribe_confirmed"
    );
    gw.stop().await;
}

#[tokio::test]
async fn disabling_a_user_closes_their_open_streams() {
    let gw = TestGateway::start().await;
    let (id, access, _) = user_with_role(&gw, "lena", "viewer").await;
    let mut socket = subscribed(&gw, &access).await;
    let disable = gw
        .client
        .patch(gw.url(&format!("/v1/users/{id}")))
        .json(&json!({"disabled": true}));
    gw.send(disable).await.expect_status(200);
    closed_as_unauthorized(&mut socket, Duration::from_secs(5)).await;
    gw.stop().await;
}

/// A revocation the stream is never told about (here: written by another process's store,
/// which publishes to nobody) is caught by the periodic check.
#[tokio::test]
async fn a_revocation_nobody_announced_is_caught_by_the_periodic_check() {
    let gw = TestGateway::start_config(&config("revalidate_secs = 1")).await;
    let (id, key) = api_key(&gw, "viewer").await;
    let mut socket = subscribed(&gw, &key).await;
    let other_process = voice_gateway::store::Store::open(&gw.server().gateway().settings.database)
        .await
        .expect("the same database");
    assert!(other_process.revoke_api_key(&id).await.expect("revoked"));
    closed_as_unauthorized(&mut socket, Duration::from_secs(5)).await;
    other_process.close().await;
    gw.stop().await;
}

fn refused_status(
    result: Result<impl std::fmt::Debug, tokio_tungstenite::tungstenite::Error>,
) -> u16 {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let body: Value = serde_json::from_slice(body).expect("a JSON error body");
            assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
            response.status().as_u16()
        }
        other => panic!("expected a refused upgrade, got {other:?}"),
    }
}

#[tokio::test]
async fn connections_per_principal_are_capped() {
    let gw = TestGateway::start_config(&config("max_connections_per_principal = 2")).await;
    let first = gw.live_socket(&gw.admin_key).await;
    let _second = gw.live_socket(&gw.admin_key).await;
    let url = gw.ws_url(&format!("/ws/calls/transcriptions?token={}", gw.admin_key));
    assert_eq!(
        refused_status(tokio_tungstenite::connect_async(url.as_str()).await),
        429
    );
    // Another principal has its own allowance.
    let (_, key) = api_key(&gw, "viewer").await;
    let _theirs = gw.live_socket(&key).await;
    // A closed connection frees its place.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = refused_status(Err::<(), _>(e));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the place was never freed: {e}"),
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn guessing_identifiers_closes_the_connection() {
    let gw = TestGateway::start().await;
    let mut socket = gw.live_socket(&gw.admin_key).await;
    for n in 0..20 {
        send(&mut socket, json!({"subscribe": format!("CA-guess-{n}")})).await;
    }
    let ended = async {
        let mut not_found = 0;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(frame["code"], "CALL_NOT_FOUND", "{frame}");
                    not_found += 1;
                }
                Some(Ok(Message::Close(frame))) => return (not_found, frame),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    let (not_found, close) = tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("closed in time");
    assert_eq!(not_found, 20);
    assert_eq!(u16::from(close.expect("a close code").code), 1008);
    gw.stop().await;
}
