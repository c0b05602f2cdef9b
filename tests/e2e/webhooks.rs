//! Webhooks through `/webhooks/{provider}`: correlation, dedupe, ordering, transcripts,
//! signatures, and the receipts they leave.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::{SECRET, TO, TestGateway, echo_signature, id_of, unique};

/// The receipt fields a scripted echo webhook always has (`topic` and `reason` are omitted
/// when absent, like every absent value).
const RECEIPT_FIELDS: [&str; 11] = [
    "id",
    "provider",
    "received_at",
    "headers",
    "signature",
    "event_type",
    "dedupe_key",
    "call_id",
    "outcome",
    "body_size",
    "body_truncated",
];

fn texts(turns: &[Value]) -> Vec<String> {
    turns
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn webhook_is_applied_before_the_answer_by_gateway_or_vendor_id() {
    let gw = TestGateway::start().await;
    let call = gw
        .create_call(json!({"to": TO, "provider": "frozen"}))
        .await;
    let id = id_of(&call);
    let vendor_id = call["provider_call_id"]
        .as_str()
        .expect("provider_call_id")
        .to_owned();

    let reply = gw
        .webhook(
            "frozen",
            &json!({"event_id": unique("ring"), "call_id": id, "status": "ringing"}),
        )
        .await;
    reply.expect_status(200);
    let answer = reply.json();
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert!(
        answer["receipt_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{answer}"
    );
    // Already stored when the answer came: no waiting.
    assert_eq!(gw.call(&id).await["status"], "ringing");

    let answer = gw
        .apply_webhook(
            "frozen",
            &json!({
                "event_id": unique("answer"),
                "echo_call_id": vendor_id,
                "status": "in_progress",
                "timestamp": "2030-01-01T00:00:00Z",
            }),
        )
        .await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    let events = gw.events(&id).await;
    let answered = events
        .iter()
        .find(|e| e["to_status"] == "in_progress")
        .expect("in_progress event");
    assert_eq!(answered["applied"], true, "{answered}");
    assert_eq!(answered["source"], "webhook", "{answered}");
    assert_eq!(answered["receipt_id"], answer["receipt_id"], "{answered}");
    let occurred = chrono::DateTime::parse_from_rfc3339(
        answered["occurred_at"].as_str().expect("occurred_at"),
    )
    .expect("RFC 3339");
    assert_eq!(
        occurred.timestamp(),
        1_893_456_000,
        "the webhook's timestamp: {answered}"
    );

    let answer = gw
        .apply_webhook(
            "frozen",
            &json!({
                "event_id": unique("turn"),
                "call_id": id,
                "turn": {"speaker": "user", "text": "Hello?", "offset_secs": 1.5, "final": true},
            }),
        )
        .await;
    assert_eq!(answer["call_id"], id.as_str());
    let turns = gw.transcript(&id).await;
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0]["speaker"], "user");
    assert_eq!(turns[0]["text"], "Hello?");
    assert_eq!(turns[0]["offset_secs"].as_f64(), Some(1.5));
    assert_eq!(turns[0]["seq"], 1);

    gw.apply_webhook(
        "frozen",
        &json!({
            "event_id": unique("end"),
            "call_id": id,
            "status": "completed",
            "summary": "done",
            "success": true,
            "duration_secs": 12.5,
            "cost_usd": 0.25,
        }),
    )
    .await;
    let ended = gw.call(&id).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(ended["summary"], "done");
    assert_eq!(ended["success"], true);
    assert_eq!(ended["duration_secs"].as_f64(), Some(12.5));
    assert_eq!(ended["cost"].as_f64(), Some(0.25));
    assert_eq!(ended["cost_unit"], "USD");
    gw.stop().await;
}

#[tokio::test]
async fn duplicate_event_is_acknowledged_and_applied_once() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let turn = json!({
        "event_id": unique("turn"),
        "call_id": id,
        "turn": {"speaker": "agent", "text": "Hi there"},
    });
    let first = gw.apply_webhook("frozen", &turn).await;

    let again = gw.webhook("frozen", &turn).await;
    again.expect_status(200);
    let again = again.json();
    assert_eq!(again["status"], "ok", "{again}");
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert!(again.get("call_id").is_some(), "{again}");
    assert!(again["receipt_id"].is_string(), "{again}");
    assert_ne!(again["receipt_id"], first["receipt_id"]);
    assert_eq!(texts(&gw.transcript(&id).await), ["Hi there"]);

    // A duplicate status event adds no history either.
    let ringing = json!({"event_id": unique("ring"), "call_id": id, "status": "ringing"});
    gw.apply_webhook("frozen", &ringing).await;
    let before = gw.events(&id).await.len();
    let dup = gw.webhook("frozen", &ringing).await;
    dup.expect_status(200);
    assert_eq!(dup.json()["outcome"], "duplicate");
    assert_eq!(gw.events(&id).await.len(), before);
    gw.stop().await;
}

/// Issue 15, item 8: vendors' event ids are unique per call, so dedupe is per call. A sender
/// who gets an event with call B's next event id applied to call A must not make B's real
/// event a duplicate; the key stays a duplicate for A.
#[tokio::test]
async fn an_event_key_used_on_one_call_does_not_make_another_calls_event_a_duplicate() {
    let gw = TestGateway::start().await;
    let a = gw.create_call_on("frozen", TO).await;
    let b = gw.create_call_on("frozen", TO).await;
    let key = unique("shared");
    let planted =
        json!({"event_id": key, "call_id": a, "turn": {"speaker": "agent", "text": "on A"}});
    gw.apply_webhook("frozen", &planted).await;

    let real = json!({"event_id": key, "call_id": b, "turn": {"speaker": "agent", "text": "on B"}});
    let answer = gw.webhook("frozen", &real).await;
    answer.expect_status(200);
    assert_eq!(answer.json()["outcome"], "applied", "{}", answer.text);
    assert_eq!(texts(&gw.transcript(&b).await), ["on B"]);

    // Within each call the key is still one delivery.
    for (call, body) in [(&a, &planted), (&b, &real)] {
        let again = gw.webhook("frozen", body).await;
        again.expect_status(200);
        assert_eq!(
            again.json()["outcome"],
            "duplicate",
            "{call}: {}",
            again.text
        );
    }
    assert_eq!(texts(&gw.transcript(&a).await), ["on A"]);
    assert_eq!(texts(&gw.transcript(&b).await), ["on B"]);
    gw.stop().await;
}

#[tokio::test]
async fn late_status_events_are_recorded_but_never_move_a_call_back() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    gw.apply_webhook(
        "frozen",
        &json!({"event_id": unique("a"), "call_id": id, "status": "in_progress"}),
    )
    .await;
    let late = gw
        .apply_webhook(
            "frozen",
            &json!({"event_id": unique("b"), "call_id": id, "status": "ringing"}),
        )
        .await;
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    let events = gw.events(&id).await;
    let ringing: Vec<&Value> = events
        .iter()
        .filter(|e| e["to_status"] == "ringing")
        .collect();
    assert_eq!(ringing.len(), 1, "{events:?}");
    assert_eq!(ringing[0]["applied"], false, "{events:?}");
    assert_eq!(ringing[0]["receipt_id"], late["receipt_id"], "{events:?}");

    gw.apply_webhook(
        "frozen",
        &json!({"event_id": unique("c"), "call_id": id, "status": "completed"}),
    )
    .await;
    let after = gw
        .webhook(
            "frozen",
            &json!({"event_id": unique("d"), "call_id": id, "status": "failed", "reason": "late"}),
        )
        .await;
    after.expect_status(200);
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["failure_reason"], Value::Null, "{call}");
    let events = gw.events(&id).await;
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["to_status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0]["applied"], false, "{events:?}");
    let last_applied = events
        .iter()
        .rev()
        .find(|e| e["applied"] == true)
        .expect("an applied event");
    assert_eq!(last_applied["to_status"], "completed");
    gw.stop().await;
}

#[tokio::test]
async fn post_call_transcript_adds_only_turns_not_received_live() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let live = [
        json!({"id": "t1", "speaker": "agent", "text": "Hello, this is the agent."}),
        json!({"speaker": "user", "text": "Hi! Who is this?"}),
    ];
    for turn in &live {
        gw.apply_webhook(
            "frozen",
            &json!({"event_id": unique("live"), "call_id": id, "turn": turn}),
        )
        .await;
    }
    gw.apply_webhook(
        "frozen",
        &json!({
            "event_id": unique("report"),
            "call_id": id,
            "status": "completed",
            "transcript": [
                // Same id as a live turn (text rendered differently): the same turn.
                {"id": "t1", "speaker": "agent", "text": "Hello; this is the agent"},
                // Same speaker and text as a live turn, no id: the same turn.
                {"speaker": "user", "text": "Hi! Who is this?"},
                // Never received live: added.
                {"speaker": "agent", "text": "Goodbye."},
            ],
        }),
    )
    .await;
    let turns = gw.transcript(&id).await;
    assert_eq!(turns.len(), 3, "{turns:?}");
    let seqs: Vec<i64> = turns
        .iter()
        .map(|t| t["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(turns[2]["text"], "Goodbye.");
    assert_eq!(turns[2]["speaker"], "agent");
    assert_eq!(turns[0]["source"], "live");
    assert_eq!(turns[1]["source"], "live");
    assert_eq!(turns[2]["source"], "post_call");
    gw.stop().await;
}

#[tokio::test]
async fn post_call_transcript_of_a_scripted_call_repeats_nothing() {
    // The echo script sends its three turns live, then the same three in the final report.
    let gw = TestGateway::start().await;
    let id = id_of(&gw.create_call(json!({"to": TO})).await);
    gw.wait_for_status(&id, "completed").await;
    assert_eq!(gw.transcript(&id).await.len(), 3);
    gw.stop().await;
}

#[tokio::test]
async fn webhook_errors() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;

    let unknown = uuid::Uuid::now_v7().to_string();
    gw.webhook(
        "frozen",
        &json!({"event_id": unique("x"), "call_id": unknown, "status": "ringing"}),
    )
    .await
    .expect_error(404);
    gw.webhook(
        "frozen",
        &json!({"event_id": unique("x"), "echo_call_id": "echo-nobody", "status": "ringing"}),
    )
    .await
    .expect_error(404);
    // A call of another provider instance is not this instance's call.
    gw.webhook(
        "echo",
        &json!({"event_id": unique("x"), "call_id": id, "status": "ringing"}),
    )
    .await
    .expect_error(404);

    gw.webhook_raw("frozen", "this is not json", &[])
        .await
        .expect_error(400);
    gw.webhook_raw("frozen", "", &[]).await.expect_error(400);
    gw.webhook(
        "frozen",
        &json!({"event_id": unique("x"), "call_id": id, "status": "ringing", "surprise": 1}),
    )
    .await
    .expect_error(400);
    gw.webhook(
        "frozen",
        &json!({"event_id": unique("x"), "call_id": id, "status": "exploded"}),
    )
    .await
    .expect_error(400);
    gw.webhook(
        "frozen",
        &json!({
            "event_id": unique("x"),
            "call_id": id,
            "turn": {"speaker": "user", "text": "hi", "mood": "cheerful"},
        }),
    )
    .await
    .expect_error(400);
    gw.webhook(
        "frozen",
        &json!({"event_id": unique("x"), "status": "ringing"}),
    )
    .await
    .expect_error(400);

    gw.webhook(
        "nope",
        &json!({"event_id": unique("x"), "call_id": id, "status": "ringing"}),
    )
    .await
    .expect_error(404);
    gw.webhook(
        "frozen/sometopic",
        &json!({"event_id": unique("x"), "call_id": id, "status": "ringing"}),
    )
    .await
    .expect_error(400);

    // The same through the default instance's own URL.
    gw.webhook_raw("echo", "{not json", &[])
        .await
        .expect_error(400);
    gw.webhook(
        "echo",
        &json!({"event_id": unique("x"), "call_id": unknown, "status": "ringing", "extra": true}),
    )
    .await
    .expect_error(400);
    gw.webhook(
        "echo",
        &json!({"event_id": unique("x"), "call_id": unknown, "status": "ringing"}),
    )
    .await
    .expect_error(404);
    gw.webhook(
        "echo/sometopic",
        &json!({"event_id": unique("x"), "call_id": unknown, "status": "ringing"}),
    )
    .await
    .expect_error(400);
    let topics = gw
        .list_items(
            "/v1/webhook-receipts",
            &[("provider", "echo"), ("outcome", "rejected")],
        )
        .await;
    assert!(
        topics.iter().any(|r| r["topic"] == "sometopic"),
        "the refused topic webhook is a receipt with its topic: {topics:?}"
    );

    // None of them changed the call.
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "initiating", "{call}");
    assert!(gw.transcript(&id).await.is_empty());
    gw.stop().await;
}

fn signed_headers(signature: &str) -> [(&'static str, &str); 1] {
    [("x-echo-signature", signature)]
}

#[tokio::test]
async fn signed_provider_requires_a_valid_recent_signature() {
    let gw = TestGateway::start().await;
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "signed"}))
            .await,
    );
    // Its own scripted webhooks are signed, so the call completes.
    gw.wait_for_status(&id, "completed").await;
    assert_eq!(gw.transcript(&id).await.len(), 3);

    let body =
        json!({"event_id": unique("signed"), "call_id": id, "status": "ringing"}).to_string();
    let now = chrono::Utc::now().timestamp();

    gw.webhook_raw("signed", &body, &[]).await.expect_error(401);
    let wrong_secret = echo_signature("not-the-secret", now, &body);
    gw.webhook_raw("signed", &body, &signed_headers(&wrong_secret))
        .await
        .expect_error(401);
    let other_body = echo_signature(SECRET, now, &format!("{body} "));
    gw.webhook_raw("signed", &body, &signed_headers(&other_body))
        .await
        .expect_error(401);
    gw.webhook_raw("signed", &body, &signed_headers("t=abc,v1=00"))
        .await
        .expect_error(401);
    let stale = echo_signature(SECRET, now - 600, &body);
    gw.webhook_raw("signed", &body, &signed_headers(&stale))
        .await
        .expect_error(401);
    let future = echo_signature(SECRET, now + 600, &body);
    gw.webhook_raw("signed", &body, &signed_headers(&future))
        .await
        .expect_error(401);

    // Four minutes off is within the window.
    let body_recent =
        json!({"event_id": unique("recent"), "call_id": id, "status": "ringing"}).to_string();
    let recent = echo_signature(SECRET, now - 240, &body_recent);
    gw.webhook_raw("signed", &body_recent, &signed_headers(&recent))
        .await
        .expect_status(200);

    let good = echo_signature(SECRET, now, &body);
    let ok = gw
        .webhook_raw("signed", &body, &signed_headers(&good))
        .await;
    ok.expect_status(200);
    assert_eq!(ok.json()["outcome"], "applied");

    // Six rejected receipts, with the invalid signature recorded.
    let url = gw.url_with(
        "/v1/webhook-receipts",
        &[("provider", "signed"), ("outcome", "rejected")],
    );
    let rejected = gw.get_url(&url).await;
    rejected.expect_status(200);
    let rejected = rejected.json();
    let items = rejected["items"].as_array().expect("items");
    assert_eq!(items.len(), 6, "{rejected}");
    for item in items {
        assert_eq!(item["outcome"], "rejected", "{item}");
        assert_eq!(item["signature"], "invalid", "{item}");
        assert!(
            item["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{item}"
        );
    }
    // The scripted ones and the good one were verified.
    let url = gw.url_with("/v1/webhook-receipts", &[("call_id", &id)]);
    let applied = gw.get_url(&url).await.json();
    let items = applied["items"].as_array().expect("items");
    assert_eq!(items.len(), 8, "six scripted and two manual: {applied}");
    assert!(
        items.iter().all(|r| r["signature"] == "verified"),
        "{applied}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn unsigned_provider_accepts_unsigned_webhooks() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let answer = gw
        .apply_webhook(
            "frozen",
            &json!({"event_id": unique("u"), "call_id": id, "status": "ringing"}),
        )
        .await;
    let receipt = gw
        .get_json(&format!(
            "/v1/webhook-receipts/{}",
            answer["receipt_id"].as_str().expect("receipt_id")
        ))
        .await;
    assert_eq!(receipt["signature"], "unsigned", "{receipt}");
    gw.stop().await;
}

#[tokio::test]
async fn receipts_record_every_scripted_webhook() {
    let gw = TestGateway::start().await;
    let id = id_of(&gw.create_call(json!({"to": TO})).await);
    gw.wait_for_status(&id, "completed").await;

    let url = gw.url_with("/v1/webhook-receipts", &[("call_id", &id)]);
    let page = gw.get_url(&url).await;
    page.expect_status(200);
    let page = page.json();
    // The last page: `next_cursor` is omitted (absent values are never null).
    assert!(page.get("next_cursor").is_none(), "{page}");
    let items = page["items"].as_array().expect("items");
    // ringing, answered, three turns, completed
    assert_eq!(items.len(), 6, "{page}");
    let mut dedupe_keys = HashSet::new();
    for item in items {
        for field in RECEIPT_FIELDS {
            assert!(
                item.get(field).is_some(),
                "receipt has no `{field}`: {item}"
            );
        }
        for (field, value) in item.as_object().expect("receipt is an object") {
            assert!(!value.is_null(), "`{field}` is null: {item}");
        }
        assert!(item.get("body").is_none(), "lists carry no body: {item}");
        assert_eq!(item["provider"], "echo");
        assert_eq!(item["call_id"], id.as_str());
        assert_eq!(item["outcome"], "applied");
        assert_eq!(item["body_truncated"], false);
        assert!(dedupe_keys.insert(item["dedupe_key"].as_str().expect("dedupe_key").to_owned()));
    }
    let times: Vec<chrono::DateTime<chrono::Utc>> = items
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r["received_at"].as_str().expect("received_at"))
                .expect("RFC 3339")
                .with_timezone(&chrono::Utc)
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // Pages of receipts: no duplicates, none missing.
    let page1 = gw
        .get_query("/v1/webhook-receipts", &[("call_id", &id), ("limit", "4")])
        .await;
    let cursor = page1["next_cursor"].as_str().expect("a second page");
    let page2 = gw
        .get_query(
            "/v1/webhook-receipts",
            &[("call_id", &id), ("limit", "4"), ("cursor", cursor)],
        )
        .await;
    assert_eq!(page2["next_cursor"], Value::Null);
    let paged: Vec<Value> = [&page1, &page2]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|r| r["id"].clone())
        })
        .collect();
    let listed: Vec<Value> = items.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(paged, listed);

    // One receipt has the raw body.
    let first = &items[0];
    let one = gw
        .get_json(&format!(
            "/v1/webhook-receipts/{}",
            first["id"].as_str().expect("id")
        ))
        .await;
    let body = one["body"].as_str().expect("a receipt has its body");
    assert_eq!(one["body_size"].as_u64(), Some(body.len() as u64), "{one}");
    let parsed: Value = serde_json::from_str(body).expect("the echo body is JSON");
    assert_eq!(parsed["event_id"], first["dedupe_key"]);
    assert_eq!(parsed["call_id"], id.as_str());
    gw.stop().await;
}

#[tokio::test]
async fn receipts_keep_raw_bodies_and_list_duplicates_and_rejections() {
    let gw = TestGateway::start().await;
    let frozen = gw.create_call_on("frozen", TO).await;
    let slow = gw.create_call_on("slow", TO).await;

    // The body exactly as sent, whitespace and all.
    let raw = format!(
        "{{ \"event_id\" : \"{}\",\n  \"call_id\": \"{frozen}\", \"status\": \"ringing\" }}",
        unique("raw")
    );
    let answer = gw.webhook_raw("frozen", &raw, &[("x-trace", "abc")]).await;
    answer.expect_status(200);
    let receipt_id = answer.json()["receipt_id"]
        .as_str()
        .expect("receipt_id")
        .to_owned();
    let receipt = gw
        .get_json(&format!("/v1/webhook-receipts/{receipt_id}"))
        .await;
    assert_eq!(receipt["body"], raw.as_str(), "{receipt}");
    assert_eq!(receipt["body_size"].as_u64(), Some(raw.len() as u64));
    assert_eq!(receipt["provider"], "frozen");
    assert_eq!(receipt["call_id"], frozen.as_str());
    assert_eq!(receipt["outcome"], "applied");
    assert_eq!(receipt["topic"], Value::Null);
    let headers = receipt["headers"].to_string();
    assert!(
        headers.contains("x-trace") && headers.contains("abc"),
        "{headers}"
    );

    // A duplicate.
    gw.webhook_raw("frozen", &raw, &[]).await.expect_status(200);
    // A malformed one.
    gw.webhook_raw("frozen", "{oops", &[])
        .await
        .expect_error(400);
    // Another provider's.
    let slow_event = unique("s");
    gw.apply_webhook(
        "slow",
        &json!({"event_id": slow_event, "call_id": slow, "reason": "note"}),
    )
    .await;

    let duplicates = gw
        .list_items("/v1/webhook-receipts", &[("outcome", "duplicate")])
        .await;
    assert_eq!(duplicates.len(), 1, "{duplicates:?}");
    assert_eq!(duplicates[0]["call_id"], frozen.as_str());
    assert_eq!(duplicates[0]["dedupe_key"], receipt["dedupe_key"]);

    let rejected = gw
        .list_items(
            "/v1/webhook-receipts",
            &[("outcome", "rejected"), ("provider", "frozen")],
        )
        .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0]["reason"].is_string(), "{rejected:?}");

    let frozen_receipts = gw
        .list_items("/v1/webhook-receipts", &[("provider", "frozen")])
        .await;
    assert_eq!(frozen_receipts.len(), 3, "{frozen_receipts:?}");
    assert!(frozen_receipts.iter().all(|r| r["provider"] == "frozen"));

    // (The slow call's own script may have begun by now: look for the manual receipt.)
    let for_slow = gw
        .list_items("/v1/webhook-receipts", &[("call_id", &slow)])
        .await;
    assert!(
        for_slow
            .iter()
            .all(|r| r["provider"] == "slow" && r["call_id"] == slow.as_str())
    );
    assert!(
        for_slow
            .iter()
            .any(|r| r["dedupe_key"] == slow_event.as_str()),
        "{for_slow:?}"
    );
    assert!(
        gw.list_items("/v1/webhook-receipts", &[("provider", "slow")])
            .await
            .iter()
            .all(|r| r["provider"] == "slow")
    );

    let applied = gw
        .list_items("/v1/webhook-receipts", &[("outcome", "applied")])
        .await;
    assert!(applied.iter().all(|r| r["outcome"] == "applied"));
    assert!(applied.len() >= 2);

    gw.get(&format!("/v1/webhook-receipts/{}", uuid::Uuid::now_v7()))
        .await
        .expect_error(404);
    gw.stop().await;
}

#[tokio::test]

async fn duplicate_answer_names_the_call() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let event = json!({"event_id": unique("dup"), "call_id": id, "status": "ringing"});
    gw.apply_webhook("frozen", &event).await;
    let again = gw.webhook("frozen", &event).await;
    again.expect_status(200);
    let again = again.json();
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(again["call_id"], id.as_str(), "{again}");
    gw.stop().await;
}

/// Refused webhooks come from anyone: each keeps its headers, size, SHA-256 and first bytes, so
/// a flood of large ones adds next to nothing to the database.
#[tokio::test]
async fn refused_webhooks_keep_their_size_hash_and_a_prefix_not_their_body() {
    const SIZE: usize = 1_000_000;
    const PREFIX: i64 = voice_gateway::ingest::REFUSED_BODY_PREFIX_BYTES as i64;
    let gw = TestGateway::start().await;
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(SIZE - 10));
    assert_eq!(body.len(), SIZE);
    let stale = echo_signature(SECRET, 1, &body);
    for _ in 0..20 {
        gw.webhook_raw("signed", &body, &signed_headers(&stale))
            .await
            .expect_error(401);
    }
    // Signed, but not an echo event: malformed, refused too.
    let now = chrono::Utc::now().timestamp();
    let signed = echo_signature(SECRET, now, &body);
    gw.webhook_raw("signed", &body, &signed_headers(&signed))
        .await
        .expect_error(400);

    let stored = gw
        .database_scalar(
            "SELECT COALESCE(SUM(LENGTH(body) + LENGTH(headers)), 0) FROM webhook_receipts \
             WHERE provider = 'signed' AND outcome = 'rejected'",
        )
        .await;
    println!("21 refused webhooks of {SIZE} bytes: {stored} bytes of bodies and headers stored");
    assert!(stored < 21 * (PREFIX + 512), "{stored} bytes stored");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    let hashed = gw
        .database_scalar(&format!(
            "SELECT COUNT(*) FROM webhook_receipts WHERE body_sha256 = '{digest}' \
             AND body_size = {SIZE} AND outcome = 'rejected'"
        ))
        .await;
    assert_eq!(hashed, 21);

    // The API answers what is stored: the prefix, marked truncated, with the size received.
    let rejected = gw
        .list_items(
            "/v1/webhook-receipts",
            &[("provider", "signed"), ("outcome", "rejected")],
        )
        .await;
    assert_eq!(rejected.len(), 21);
    let one = gw
        .get_json(&format!("/v1/webhook-receipts/{}", id_of(&rejected[0])))
        .await;
    assert_eq!(one["body"], &body[..PREFIX as usize], "{one}");
    assert_eq!(one["body_size"], SIZE, "{one}");
    assert_eq!(one["body_truncated"], true, "{one}");
    assert!(one["reason"].is_string(), "{one}");
    assert!(
        one["headers"].to_string().contains("x-echo-signature"),
        "{one}"
    );
    gw.stop().await;
}

/// A webhook request whose headers and first `sent` body bytes are on the wire, the rest held
/// back: a slow (or malicious) sender keeping its body in flight.
async fn webhook_in_flight(
    gw: &TestGateway,
    length: Option<usize>,
    sent: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = gw.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let framing = match length {
        Some(length) => format!("Content-Length: {length}"),
        None => "Transfer-Encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST /webhooks/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    let part = "x".repeat(sent);
    let part = match length {
        Some(_) => part,
        None => format!("{sent:x}\r\n{part}\r\n"),
    };
    stream.write_all(part.as_bytes()).await.expect("body");
    stream.flush().await.expect("flush");
    stream
}

/// Every body being read counts against `[server] max_webhook_bytes_in_flight`: by its declared
/// length before it is read, or chunk by chunk; past it, 503 with Retry-After.
#[tokio::test]
async fn webhook_bodies_in_flight_are_capped() {
    let gw = TestGateway::start_with("max_webhook_bytes_in_flight = 65536").await;
    let id = gw.create_call_on("frozen", TO).await;
    let event = json!({"event_id": unique("after"), "call_id": id, "status": "ringing"});
    // Probes that may get through before the budget is taken: each its own delivery.
    let probe = || json!({"event_id": unique("probe"), "call_id": id, "reason": "probe"});

    // One sender declares 65,500 bytes and sends 10 KiB: the budget holds all it declared,
    // leaving less than the next webhook's body.
    let declared = webhook_in_flight(&gw, Some(65_500), 10 * 1024).await;
    let busy = {
        let mut busy = None;
        for _ in 0..50 {
            let reply = gw.webhook("frozen", &probe()).await;
            if reply.status == 503 {
                busy = Some(reply);
                break;
            }
            // Not yet counted (the server has not read the headers): nothing was applied.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        busy.expect("a webhook answered 503 while 65,500 bytes are in flight")
    };
    assert_eq!(busy.expect_error(503)["error"]["code"], "unavailable");
    assert!(busy.header("retry-after").is_some(), "{:?}", busy.headers);
    drop(declared);

    // A chunked body counts as it arrives.
    let chunked = webhook_in_flight(&gw, None, 65_500).await;
    let mut refused = false;
    for _ in 0..50 {
        if gw.webhook("frozen", &probe()).await.status == 503 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "a webhook answered 503 while 62 KiB of chunks are in flight"
    );
    drop(chunked);

    // Once those senders are gone, their share is back.
    let mut applied = None;
    for _ in 0..50 {
        let reply = gw.webhook("frozen", &event).await;
        if reply.status == 200 {
            applied = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let applied = applied.expect("webhooks are read again");
    assert_eq!(applied.json()["outcome"], "applied", "{}", applied.text);
    gw.stop().await;
}
