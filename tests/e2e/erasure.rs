//! Erasure: `DELETE /v1/calls/{id}` and `POST /v1/erasure` remove a call's personal data and
//! leave a tombstone that keeps counts and billing true.

use serde_json::{Value, json};

use crate::harness::{
    GatewayConfig, PROVIDERS, TO, TestGateway, frames_until, id_of, next_frame, postgres_section,
    schema_for, test_database_url, unique,
};
use crate::retention::{count, ended_call, footprint};

fn config() -> GatewayConfig {
    GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
}

async fn erase(gw: &TestGateway, id: &str) -> crate::harness::Reply {
    gw.send(gw.client.delete(gw.url(&format!("/v1/calls/{id}"))))
        .await
}

/// What a tombstone keeps of `call`, as shown.
fn kept(call: &Value) -> Value {
    json!({
        "id": call["id"], "provider": call["provider"], "status": call["status"],
        "created_at": call["created_at"], "started_at": call["started_at"],
        "ended_at": call["ended_at"], "duration_secs": call["duration_secs"],
        "cost": call["cost"], "cost_unit": call["cost_unit"],
    })
}

#[tokio::test]
async fn erasing_a_call_leaves_a_tombstone_without_personal_data() {
    let gw = TestGateway::start_config(&config()).await;
    let id = ended_call(&gw).await;
    let other = ended_call(&gw).await;
    let before = gw.call(&id).await;
    assert!(
        before["summary"].is_string() && before["cost"].is_number(),
        "{before}"
    );
    let history = gw.events(&id).await;
    let file = gw.dir().join("recordings").join(format!("{id}.mp3"));
    let other_before = footprint(&gw, &other).await;

    let reply = erase(&gw, &id).await;
    reply.expect_status(200);
    let tombstone = reply.json();
    assert_eq!(kept(&tombstone), kept(&before), "{tombstone}");
    assert_eq!(tombstone["to"], "+1********23", "{tombstone}");
    assert_eq!(tombstone["erased"], true);
    assert!(tombstone["erased_at"].is_string(), "{tombstone}");
    for gone in [
        "summary",
        "analysis",
        "recording_url",
        "first_message",
        "success",
    ] {
        assert!(tombstone.get(gone).is_none(), "{gone} in {tombstone}");
    }
    assert_eq!(tombstone["variables"], json!({}));
    assert_eq!(tombstone["metadata"], json!({}));
    assert_eq!(gw.call(&id).await, tombstone, "GET shows the tombstone");
    assert!(!gw.call(&id).await.to_string().contains("4155550123"));

    // Transcript, recording, receipt bodies and events to applications are gone.
    assert!(gw.transcript(&id).await.is_empty());
    let error = gw
        .get(&format!("/v1/calls/{id}/recording"))
        .await
        .expect_error(404);
    assert_eq!(error["error"]["details"]["pruned"], true, "{error}");
    assert!(!file.exists());
    let receipts = gw.receipts(&[("call_id", id.as_str())]).await;
    assert!(!receipts.is_empty());
    for receipt in &receipts {
        let one = gw
            .get_json(&format!("/v1/webhook-receipts/{}", id_of(receipt)))
            .await;
        assert_eq!(one["body_pruned"], true, "{one}");
        assert!(one.get("body").is_none(), "{one}");
    }
    assert_eq!(count(&gw, "events", &format!("call_id = '{id}'")).await, 0);
    assert_eq!(
        count(&gw, "event_deliveries", &format!("call_id = '{id}'")).await,
        0
    );
    // The status history stays (counts by status stay true).
    assert_eq!(gw.events(&id).await, history);
    // Listing by the number no longer finds it.
    let listed = gw.list_items("/v1/calls", &[("to", TO)]).await;
    assert!(listed.iter().all(|c| c["id"] != id.as_str()), "{listed:?}");
    // Another call is untouched.
    assert_eq!(footprint(&gw, &other).await, other_before);
    assert!(gw.call(&other).await.get("erased").is_none());

    // Idempotent: the same tombstone, nothing changed.
    let again = erase(&gw, &id).await;
    again.expect_status(200);
    assert_eq!(again.json(), tombstone);
    let audit = gw
        .list_items("/v1/audit", &[("action", "call.erase")])
        .await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    for entry in &audit {
        assert_eq!(entry["target"], format!("call:{id}"), "{entry}");
        assert_eq!(entry["outcome"], "success");
    }
    let details: Vec<&str> = audit.iter().filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(details, ["erased=0", "erased=1"], "newest first");
    gw.stop().await;
}

#[tokio::test]
async fn a_late_webhook_stores_nothing_personal_for_an_erased_call() {
    let gw = TestGateway::start_config(&config()).await;
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "frozen"}))
            .await,
    );
    erase(&gw, &id).await.expect_status(200);
    let late = json!({
        "event_id": unique("late"), "call_id": id, "status": "completed",
        "summary": "Ada said her date of birth", "transcript": [{"speaker": "user", "text": "secret"}],
    });
    gw.apply_webhook("frozen", &late).await;
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert!(call.get("summary").is_none(), "{call}");
    assert!(gw.transcript(&id).await.is_empty());
    // Its receipt keeps no raw body either.
    let receipts = gw.receipts(&[("call_id", id.as_str())]).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let one = gw
        .get_json(&format!("/v1/webhook-receipts/{}", id_of(&receipts[0])))
        .await;
    assert_eq!(one["body_pruned"], true, "{one}");
    assert!(!one.to_string().contains("date of birth"), "{one}");
    gw.stop().await;
}

#[tokio::test]
async fn live_subscribers_of_an_erased_call_get_no_personal_data() {
    use futures_util::SinkExt;
    let gw = TestGateway::start_config(&config()).await;
    let body = json!({"to": TO, "provider": "frozen", "variables": {"customer_name": "Ada"}});
    let id = id_of(&gw.create_call(body).await);
    let mut socket = gw.live_socket(&gw.admin_key).await;
    let subscribe = json!({"subscribe": id, "after_seq": 0}).to_string();
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(subscribe))
        .await
        .expect("send");
    assert_eq!(
        next_frame(&mut socket).await["type"],
        "subscription_confirmed"
    );
    erase(&gw, &id).await.expect_status(200);
    let turn = json!({"event_id": unique("turn"), "call_id": id, "turn": {"speaker": "user", "text": "my card number"}});
    gw.apply_webhook("frozen", &turn).await;
    let end = json!({"event_id": unique("end"), "call_id": id, "status": "completed"});
    gw.apply_webhook("frozen", &end).await;
    let frames = frames_until(&mut socket, "call_completed").await;
    let text = serde_json::to_string(&frames).unwrap();
    assert!(
        !frames.iter().any(|f| f["type"] == "transcription"),
        "{text}"
    );
    for secret in ["my card number", "Ada", "4155550123"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let completed = frames.last().unwrap();
    assert_eq!(completed["call"]["erased"], true, "{completed}");
    gw.stop().await;
}

#[tokio::test]
async fn erasing_an_unknown_call_is_404_and_needs_an_admin() {
    let gw = TestGateway::start_config(&config()).await;
    let missing = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        erase(&gw, &missing).await.expect_error(404)["error"]["code"],
        "not_found"
    );
    erase(&gw, "not-a-call").await.expect_error(404);
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "frozen"}))
            .await,
    );
    let created = gw
        .post_json("/v1/api-keys", &json!({"name": "ops", "role": "operator"}))
        .await;
    created.expect_status(201);
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let as_operator = |request: reqwest::RequestBuilder| request.bearer_auth(&key);
    let denied = gw
        .send(as_operator(
            gw.anonymous.delete(gw.url(&format!("/v1/calls/{id}"))),
        ))
        .await;
    denied.expect_error(403);
    let denied = gw
        .send(as_operator(
            gw.anonymous
                .post(gw.url("/v1/erasure"))
                .json(&json!({"phone_number": TO})),
        ))
        .await;
    denied.expect_error(403);
    assert!(gw.call(&id).await.get("erased").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn erasure_by_number_erases_every_call_to_it_once() {
    let gw = TestGateway::start_config(&config()).await;
    let other_number = "+442071838750";
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(id_of(
            &gw.create_call(json!({"to": TO, "provider": "frozen"}))
                .await,
        ));
    }
    let other = id_of(
        &gw.create_call(json!({"to": other_number, "provider": "frozen"}))
            .await,
    );
    // One of them was erased on its own before.
    erase(&gw, &ids[0]).await.expect_status(200);

    let reply = gw
        .post_json("/v1/erasure", &json!({"phone_number": TO}))
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json(), json!({"erased": 2}));
    for id in &ids {
        let call = gw.call(id).await;
        assert_eq!(call["erased"], true, "{call}");
        assert_eq!(call["to"], "+1********23");
    }
    assert!(gw.call(&other).await.get("erased").is_none());
    let again = gw
        .post_json("/v1/erasure", &json!({"phone_number": TO}))
        .await;
    assert_eq!(again.json(), json!({"erased": 0}));

    let audit = gw
        .list_items("/v1/audit", &[("action", "erasure.request")])
        .await;
    let details: Vec<&str> = audit.iter().filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(details, ["erased=0", "erased=2"], "{audit:?}");
    assert!(
        audit.iter().all(|e| !e.to_string().contains("4155550123")),
        "the audit log keeps no number: {audit:?}"
    );

    for bad in [
        json!({"phone_number": "4155550123"}),
        json!({"phone_number": "+0123"}),
    ] {
        let error = gw.post_json("/v1/erasure", &bad).await.expect_error(422);
        assert_eq!(
            error["error"]["details"]["field"], "phone_number",
            "{error}"
        );
    }
    gw.post_json("/v1/erasure", &json!({}))
        .await
        .expect_error(422);
    gw.stop().await;
}

#[tokio::test]
async fn an_erasure_on_one_instance_is_seen_by_the_other_at_once() {
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let a = TestGateway::start_config(&config()).await;
    let shared = postgres_section(&url, &schema_for(a.dir()), "");
    let b = TestGateway::start_config(&config().database(&shared)).await;
    let id = ended_call(&a).await;
    assert!(b.call(&id).await["summary"].is_string());
    assert!(!b.transcript(&id).await.is_empty());

    let tombstone = erase(&a, &id).await.json();
    assert_eq!(b.call(&id).await, tombstone);
    assert!(b.transcript(&id).await.is_empty());
    // The second instance answers the same tombstone, and erases nothing more.
    let again = erase(&b, &id).await;
    again.expect_status(200);
    assert_eq!(again.json(), tombstone);
    let reply = b
        .post_json("/v1/erasure", &json!({"phone_number": TO}))
        .await;
    assert_eq!(reply.json(), json!({"erased": 0}));
    b.stop().await;
    a.stop().await;
}
