//! Health, placing calls, the echo script, idempotency, listing, hang-up and providers.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::harness::{TO, TestGateway, id_of, unique};

/// The `Call` fields every answer has (the others are omitted while they have no value).
const REQUIRED_CALL_FIELDS: [&str; 10] = [
    "id",
    "provider",
    "provider_kind",
    "telephony_ids",
    "status",
    "to",
    "variables",
    "metadata",
    "created_at",
    "updated_at",
];

const STATUSES: [&str; 9] = [
    "queued",
    "initiating",
    "ringing",
    "in_progress",
    "completed",
    "failed",
    "no_answer",
    "busy",
    "canceled",
];

fn rfc3339(value: &Value) -> DateTime<Utc> {
    let raw = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp string: {value}"));
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {raw}"))
        .with_timezone(&Utc)
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn health_endpoints_answer() {
    let gw = TestGateway::start().await;
    let root = gw.get_json("/").await;
    assert_eq!(
        root,
        json!({
            "message": "Voice Gateway is running",
            "version": env!("CARGO_PKG_VERSION"),
            "status": "healthy",
        })
    );
    gw.get("/health/live").await.expect_status(200);
    let ready = gw.get("/health/ready").await;
    ready.expect_status(200);
    assert_eq!(ready.json()["status"], "healthy");
    gw.stop().await;
}

#[tokio::test]
async fn create_call_answers_201_with_the_stored_call() {
    let gw = TestGateway::start().await;
    let reply = gw
        .post_json(
            "/v1/calls",
            &json!({"to": TO, "variables": {"customer_name": "Ada"}}),
        )
        .await;
    reply.expect_status(201);
    let call = reply.json();
    // Required fields are always there; optional ones are omitted when absent, never null.
    for field in REQUIRED_CALL_FIELDS {
        assert!(call.get(field).is_some(), "call has no `{field}`: {call}");
    }
    for (field, value) in call.as_object().expect("call is an object") {
        assert!(
            !value.is_null(),
            "`{field}` is null (absent fields are omitted): {call}"
        );
    }
    let id = id_of(&call);
    uuid::Uuid::parse_str(&id).expect("call id is a UUID");
    assert_eq!(call["provider"], "echo");
    assert_eq!(call["provider_kind"], "echo");
    assert!(
        call["provider_call_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "echo accepts at once, so the call has its vendor id: {call}"
    );
    assert!(
        STATUSES.contains(&call["status"].as_str().unwrap_or_default()),
        "{call}"
    );
    assert_eq!(call["to"], TO);
    assert_eq!(call["variables"], json!({"customer_name": "Ada"}));
    assert_eq!(call["metadata"], json!({}));
    assert_eq!(call["idempotency_key"], Value::Null);
    let created = rfc3339(&call["created_at"]);
    assert!((Utc::now() - created).num_seconds().abs() < 60, "{created}");

    // The same call is readable by its id.
    let stored = gw.call(&id).await;
    assert_eq!(stored["id"], call["id"]);
    assert_eq!(stored["to"], TO);
    assert_eq!(stored["variables"], json!({"customer_name": "Ada"}));
    assert_eq!(stored["created_at"], call["created_at"]);
    gw.stop().await;
}

#[tokio::test]
async fn echo_call_plays_ringing_conversation_and_completes() {
    let gw = TestGateway::start().await;
    let call = gw
        .create_call(json!({"to": TO, "variables": {"customer_name": "Ada"}}))
        .await;
    let id = id_of(&call);

    let done = gw.wait_for_status(&id, "completed").await;
    assert!(
        done["summary"].as_str().is_some_and(|s| !s.is_empty()),
        "summary: {done}"
    );
    assert!(
        done["duration_secs"].as_f64().is_some_and(|d| d > 0.0),
        "duration_secs: {done}"
    );
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(done["cost"].as_f64(), Some(0.0), "cost: {done}");
    assert_eq!(done["cost_unit"], "USD", "{done}");
    assert_eq!(done["failure_reason"], Value::Null, "{done}");

    // Transcript: three turns, in order.
    let turns = gw.transcript(&id).await;
    assert_eq!(turns.len(), 3, "{turns:?}");
    for (n, turn) in turns.iter().enumerate() {
        for field in [
            "seq",
            "speaker",
            "text",
            "offset_secs",
            "final",
            "source",
            "created_at",
        ] {
            assert!(turn.get(field).is_some(), "turn has no `{field}`: {turn}");
        }
        assert_eq!(turn["seq"], n as i64 + 1, "{turns:?}");
        assert_eq!(turn["final"], true, "{turn}");
        rfc3339(&turn["created_at"]);
    }
    let speakers: Vec<&str> = turns
        .iter()
        .map(|t| t["speaker"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(speakers, ["agent", "user", "agent"]);
    let greeting = turns[0]["text"].as_str().unwrap_or_default();
    assert!(greeting.contains("Ada"), "greeting: {greeting}");
    let user = turns[1]["text"].as_str().unwrap_or_default();
    assert!(!user.is_empty());
    assert_eq!(turns[2]["text"], format!("You said: {user}"));

    // Status history: oldest first, from `queued` through the script's statuses.
    let events = gw.events(&id).await;
    for event in &events {
        for field in ["id", "to_status", "applied", "source", "recorded_at"] {
            assert!(
                event.get(field).is_some(),
                "event has no `{field}`: {event}"
            );
        }
        // Optional fields (`from_status`, `reason`, `vendor_status`, `receipt_id`,
        // `occurred_at`) are omitted when absent, never null.
        for (field, value) in event.as_object().expect("event is an object") {
            assert!(!value.is_null(), "`{field}` is null: {event}");
        }
    }
    assert_eq!(events[0]["to_status"], "queued", "{events:?}");
    assert_eq!(events[0]["applied"], true, "{events:?}");
    let event_ids: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert!(
        event_ids.windows(2).all(|w| w[0] < w[1]),
        "events are not oldest first: {event_ids:?}"
    );
    let applied: Vec<&str> = events
        .iter()
        .filter(|e| e["applied"] == true)
        .map(|e| e["to_status"].as_str().unwrap_or_default())
        .collect();
    let position = |status: &str| {
        applied
            .iter()
            .position(|s| *s == status)
            .unwrap_or_else(|| panic!("no applied `{status}` event in {applied:?}"))
    };
    assert!(position("queued") < position("ringing"), "{applied:?}");
    assert!(position("ringing") < position("in_progress"), "{applied:?}");
    assert!(
        position("in_progress") < position("completed"),
        "{applied:?}"
    );
    assert_eq!(applied.last(), Some(&"completed"), "{applied:?}");

    // A webhook-sourced event points at the receipt that carried it.
    let ringing = events
        .iter()
        .find(|e| e["to_status"] == "ringing")
        .expect("ringing event");
    assert_eq!(ringing["source"], "webhook", "{ringing}");
    let receipt_id = ringing["receipt_id"].as_str().expect("receipt_id");
    let receipt = gw
        .get_json(&format!("/v1/webhook-receipts/{receipt_id}"))
        .await;
    assert_eq!(receipt["call_id"], id.as_str(), "{receipt}");
    gw.stop().await;
}

#[tokio::test]
async fn echo_outcome_variable_ends_the_call_that_way() {
    let gw = TestGateway::start().await;
    let mut calls = Vec::new();
    for outcome in ["busy", "no_answer", "failed"] {
        let call = gw
            .create_call(json!({"to": TO, "variables": {"echo_outcome": outcome}}))
            .await;
        calls.push((outcome, id_of(&call)));
    }
    for (outcome, id) in &calls {
        gw.wait_for_status(id, outcome).await;
        assert!(
            gw.transcript(id).await.is_empty(),
            "{outcome}: no conversation, so no turns"
        );
        let events = gw.events(id).await;
        assert!(
            events
                .iter()
                .all(|e| e["to_status"] != "in_progress" && e["to_status"] != "completed"),
            "{outcome}: {events:?}"
        );
    }
    // Nothing late changes them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (outcome, id) in &calls {
        assert_eq!(gw.call(id).await["status"], *outcome);
    }
    gw.stop().await;
}

/// The ids `GET /v1/calls?query` lists, sorted.
async fn listed(gw: &TestGateway, query: &[(&str, &str)]) -> Vec<String> {
    let mut found = ids(&Value::Array(gw.list_items("/v1/calls", query).await));
    found.sort();
    found
}

async fn list_all(gw: &TestGateway) -> Value {
    gw.get_json("/v1/calls").await
}

#[tokio::test]
async fn idempotency_key_replays_the_original_call() {
    let gw = TestGateway::start().await;
    let body = json!({"to": TO, "provider": "frozen", "variables": {"customer_name": "Ada"}});
    let key = unique("idem");
    let first = gw
        .send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("Idempotency-Key", &key)
                .json(&body),
        )
        .await;
    first.expect_status(201);
    let original = first.json();
    assert_eq!(original["idempotency_key"], key.as_str());

    let again = gw
        .send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("Idempotency-Key", &key)
                .json(&body),
        )
        .await;
    again.expect_status(200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["id"], original["id"]);

    let listed = list_all(&gw).await;
    assert_eq!(
        ids(&listed["items"]),
        [id_of(&original)],
        "exactly one call exists"
    );
    gw.stop().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_place_one_call() {
    let gw = TestGateway::start().await;
    let key = unique("idem");
    let body = json!({"to": TO, "provider": "frozen"});
    let requests = (0..6).map(|_| {
        gw.send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("Idempotency-Key", &key)
                .json(&body),
        )
    });
    let replies = futures_util::future::join_all(requests).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "exactly one request places the call: {statuses:?}"
    );
    for reply in &replies {
        match reply.status.as_u16() {
            201 | 200 => {}
            409 => {
                reply.expect_error(409);
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    let calls = list_all(&gw).await;
    assert_eq!(calls["items"].as_array().map(Vec::len), Some(1), "{calls}");
    let id = id_of(&calls["items"][0]);
    for reply in replies.iter().filter(|r| r.status.is_success()) {
        assert_eq!(reply.json()["id"], id.as_str());
    }
    gw.stop().await;
}

#[tokio::test]
async fn idempotency_key_with_another_body_is_422() {
    let gw = TestGateway::start().await;
    let key = unique("idem");
    let post = |body: Value| {
        gw.send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("Idempotency-Key", &key)
                .json(&body),
        )
    };
    post(json!({"to": TO, "provider": "frozen"}))
        .await
        .expect_status(201);
    post(json!({"to": "+14155550124", "provider": "frozen"}))
        .await
        .expect_error(422);
    post(json!({"to": TO, "provider": "frozen", "metadata": {"k": 1}}))
        .await
        .expect_error(422);
    assert_eq!(
        list_all(&gw).await["items"].as_array().map(Vec::len),
        Some(1),
        "a refused request places no call"
    );
    gw.stop().await;
}

#[tokio::test]
async fn idempotency_key_length_is_limited_to_255() {
    let gw = TestGateway::start().await;
    let post = |key: String| {
        gw.send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("Idempotency-Key", key)
                .json(&json!({"to": TO, "provider": "frozen"})),
        )
    };
    let body = post("k".repeat(256)).await.expect_error(422);
    assert_eq!(
        body["error"]["details"]["field"], "Idempotency-Key",
        "{body}"
    );
    assert_eq!(
        list_all(&gw).await["items"].as_array().map(Vec::len),
        Some(0)
    );
    post("k".repeat(255)).await.expect_status(201);
    gw.stop().await;
}

#[tokio::test]
async fn list_calls_pages_newest_first_and_stays_stable() {
    let gw = TestGateway::start().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(gw.create_call_on("frozen", TO).await);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    // Without a limit: all five, newest first, no cursor.
    let all = list_all(&gw).await;
    assert_eq!(ids(&all["items"]), newest_first);
    assert_eq!(all["next_cursor"], Value::Null);

    let page1 = gw.get_json("/v1/calls?limit=2").await;
    assert_eq!(ids(&page1["items"]), newest_first[..2]);
    let cursor1 = page1["next_cursor"]
        .as_str()
        .expect("first page has a cursor")
        .to_owned();

    // A call placed between page fetches does not shift the pages.
    let newcomer = gw.create_call_on("frozen", TO).await;

    let page2 = gw
        .get_url(&gw.url_with("/v1/calls", &[("limit", "2"), ("cursor", &cursor1)]))
        .await;
    page2.expect_status(200);
    let page2 = page2.json();
    assert_eq!(ids(&page2["items"]), newest_first[2..4]);
    let cursor2 = page2["next_cursor"]
        .as_str()
        .expect("second page has a cursor")
        .to_owned();
    let page3 = gw
        .get_url(&gw.url_with("/v1/calls", &[("limit", "2"), ("cursor", &cursor2)]))
        .await;
    page3.expect_status(200);
    let page3 = page3.json();
    assert_eq!(ids(&page3["items"]), newest_first[4..]);
    assert_eq!(page3["next_cursor"], Value::Null, "three pages only");

    let seen: Vec<String> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| ids(&p["items"]))
        .collect();
    let unique_ids: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique_ids.len(), 5, "no duplicates: {seen:?}");
    assert!(!seen.contains(&newcomer));

    // Newest first by creation time too.
    let times: Vec<DateTime<Utc>> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| rfc3339(&c["created_at"]))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // The newcomer heads a fresh listing.
    assert_eq!(ids(&list_all(&gw).await["items"])[0], newcomer);
    gw.stop().await;
}

#[tokio::test]
async fn list_calls_filters() {
    let gw = TestGateway::start().await;
    let stamp = || Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);

    let t0 = stamp();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let completed = id_of(&gw.create_call(json!({"to": TO})).await);
    let busy = id_of(
        &gw.create_call(json!({"to": TO, "variables": {"echo_outcome": "busy"}}))
            .await,
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t1 = stamp();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let frozen = gw.create_call_on("frozen", "+442071838750").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t2 = stamp();
    gw.wait_for_status(&completed, "completed").await;
    gw.wait_for_status(&busy, "busy").await;

    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };

    assert_eq!(
        listed(&gw, &[("status", "completed")]).await,
        sorted(vec![&completed])
    );
    assert_eq!(
        listed(&gw, &[("status", "busy")]).await,
        sorted(vec![&busy])
    );
    assert_eq!(
        listed(&gw, &[("provider", "frozen")]).await,
        sorted(vec![&frozen])
    );
    assert_eq!(
        listed(&gw, &[("provider", "echo")]).await,
        sorted(vec![&completed, &busy])
    );
    assert_eq!(
        listed(&gw, &[("to", "+442071838750")]).await,
        sorted(vec![&frozen])
    );
    assert_eq!(
        listed(&gw, &[("to", TO)]).await,
        sorted(vec![&completed, &busy])
    );
    assert_eq!(
        listed(&gw, &[("created_after", &t1)]).await,
        sorted(vec![&frozen])
    );
    assert_eq!(
        listed(&gw, &[("created_before", &t1)]).await,
        sorted(vec![&completed, &busy])
    );
    assert_eq!(
        listed(&gw, &[("created_after", &t0), ("created_before", &t2)]).await,
        sorted(vec![&completed, &busy, &frozen])
    );
    assert_eq!(
        listed(&gw, &[("created_after", &t2)]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        listed(&gw, &[("status", "completed"), ("provider", "frozen")]).await,
        Vec::<String>::new()
    );
    gw.stop().await;
}

#[tokio::test]
async fn list_calls_rejects_bad_limit_and_cursor() {
    let gw = TestGateway::start().await;
    for _ in 0..3 {
        gw.create_call_on("frozen", TO).await;
    }
    gw.get("/v1/calls?limit=0").await.expect_error(422);
    gw.get("/v1/calls?limit=201").await.expect_error(422);
    gw.get("/v1/calls?cursor=garbage").await.expect_error(422);
    gw.get("/v1/calls?cursor=%2F%2F%2F").await.expect_error(422);

    let one = gw.get_json("/v1/calls?limit=1").await;
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1));
    assert!(one["next_cursor"].is_string());
    let most = gw.get_json("/v1/calls?limit=200").await;
    assert_eq!(most["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(most["next_cursor"], Value::Null);
    gw.stop().await;
}

#[tokio::test]
async fn list_calls_default_limit_is_50() {
    let gw = TestGateway::start().await;
    for _ in 0..51 {
        gw.create_call_on("frozen", TO).await;
    }
    let first = gw.get_json("/v1/calls").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(50));
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = gw.get_query("/v1/calls", &[("cursor", cursor)]).await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["next_cursor"], Value::Null);
    gw.stop().await;
}

#[tokio::test]
async fn hangup_of_an_unanswered_call_cancels_it() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("slow", TO).await;
    let reply = gw
        .post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
        .await;
    reply.expect_status(202);
    assert_eq!(reply.json()["id"], id.as_str());
    gw.wait_for_status(&id, "canceled").await;

    // The rest of the script no longer plays: the call stays canceled with no turns.
    gw.post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
        .await
        .expect_error(409);
    assert_eq!(gw.call(&id).await["status"], "canceled");
    assert!(gw.transcript(&id).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn hangup_of_an_answered_call_cancels_it() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    gw.apply_webhook(
        "frozen",
        &json!({"event_id": unique("answered"), "call_id": id, "status": "in_progress"}),
    )
    .await;
    gw.post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
        .await
        .expect_status(202);
    // The vendor reports a normal end; the API asked for it, so the call is canceled.
    let call = gw.wait_for_status(&id, "canceled").await;
    assert_eq!(call["end_reason"], "hangup_requested");
    gw.stop().await;
}

#[tokio::test]
async fn hangup_of_an_ended_or_unknown_call_is_refused() {
    let gw = TestGateway::start().await;
    let id = id_of(&gw.create_call(json!({"to": TO})).await);
    gw.wait_for_status(&id, "completed").await;
    gw.post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
        .await
        .expect_error(409);
    assert_eq!(gw.call(&id).await["status"], "completed");

    let unknown = uuid::Uuid::now_v7();
    gw.post_json(&format!("/v1/calls/{unknown}/hangup"), &json!({}))
        .await
        .expect_error(404);
    gw.post_json("/v1/calls/not-a-call/hangup", &json!({}))
        .await
        .expect_error(404);
    gw.stop().await;
}

#[tokio::test]
async fn providers_lists_configured_instances() {
    let gw = TestGateway::start().await;
    let body = gw.get_json("/v1/providers").await;
    assert_eq!(body["default_provider"], "echo");
    let items = body["items"].as_array().expect("items");
    let mut names: Vec<&str> = items
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["echo", "frozen", "signed", "slow"]);
    for item in items {
        let name = item["name"].as_str().unwrap_or_default();
        for field in [
            "name",
            "kind",
            "version",
            "description",
            "default",
            "capabilities",
            "signature_scheme",
            "webhook_path",
        ] {
            assert!(item.get(field).is_some(), "{name} has no `{field}`: {item}");
        }
        assert_eq!(item["kind"], "echo", "{item}");
        assert_eq!(item["default"], name == "echo", "{item}");
        assert_eq!(item["webhook_path"], format!("/webhooks/{name}"), "{item}");
        assert!(item["version"].as_str().is_some_and(|v| !v.is_empty()));
        assert!(item["description"].is_string());
        assert!(item["signature_scheme"].is_string() || item["signature_scheme"].is_null());
        let capabilities = item["capabilities"].as_object().expect("capabilities");
        let mut keys: Vec<&str> = capabilities.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "fetch_call",
                "hangup",
                "idempotent_create",
                "live_transcript",
                "outbound_call",
                "post_call_report"
            ]
        );
        assert!(capabilities.values().all(Value::is_boolean), "{item}");
        assert_eq!(capabilities["outbound_call"], true);
        assert_eq!(capabilities["hangup"], true);
        assert_eq!(
            capabilities["idempotent_create"], false,
            "echo never resends"
        );
    }
    gw.stop().await;
}
