//! Replays of stored webhooks: `POST /v1/webhook-receipts/{id}/replay` and
//! `POST /v1/webhook-receipts/replay`. A webhook that arrived before its call existed is applied
//! by a range replay once the call does; dedupe holds unless `force`; refused receipts are not
//! replayed; each replay is a receipt of its own naming its original, which stays as it was.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::user_with_role;
use crate::elevenlabs::ElevenLabs;
use crate::harness::{
    GatewayConfig, MockedGateway, PROVIDERS, TO, TestGateway, assert_fields, assert_turns,
    echo_signature, expect_code, id_of, unique,
};
use crate::retell::RetellVendor;
use crate::vapi::VapiVendor;
use crate::vendors::Vendor;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `POST /v1/webhook-receipts/{id}/replay` with `body` (none if `None`), whatever the answer.
async fn replay(gw: &TestGateway, id: &str, body: Option<&Value>) -> crate::harness::Reply {
    let path = format!("/v1/webhook-receipts/{id}/replay");
    match body {
        Some(body) => gw.post_json(&path, body).await,
        None => gw.raw(Method::POST, &path, None, Vec::new()).await,
    }
}

/// A replay that must succeed: the new receipt.
async fn replayed(gw: &TestGateway, id: &str, body: Option<&Value>) -> Value {
    let reply = replay(gw, id, body).await;
    reply.expect_status(200);
    let receipt = reply.json();
    assert_eq!(receipt["replay_of"], id, "{receipt}");
    assert_ne!(receipt["id"], id, "{receipt}");
    receipt
}

/// `POST /v1/webhook-receipts/replay` that must succeed: its answer.
async fn replayed_range(gw: &TestGateway, body: &Value) -> Value {
    let reply = gw.post_json("/v1/webhook-receipts/replay", body).await;
    reply.expect_status(200);
    reply.json()
}

async fn receipt(gw: &TestGateway, id: &str) -> Value {
    gw.get_json(&format!("/v1/webhook-receipts/{id}")).await
}

/// The audit entries of `action`, newest first.
async fn audited(gw: &TestGateway, action: &str) -> Vec<Value> {
    gw.list_items("/v1/audit", &[("action", action)]).await
}

/// A webhook about a call placed later (correlated by the vendor's id) is stored `unknown_call`;
/// once the call exists a range replay of `unknown_call` receipts applies it, once.
async fn range_replay_applies_webhooks_that_arrived_before_their_call<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let provider = V::DEFAULT_PROVIDER;
    let since = rfc3339(Utc::now() - chrono::Duration::seconds(1));
    let vendor_id = format!("{}{}", V::ID_PREFIX, unique("early"));
    let report = V::report(&gw, &vendor_id, None);
    let early = expect_code(&gw.deliver(provider, &report).await, 404, "unknown_call");
    let original = early["error"]["details"]["receipt_id"]
        .as_str()
        .expect("receipt id")
        .to_owned();
    // One about a call that never comes, and one refused (no credentials).
    let others = V::unknown_call_webhooks(&gw);
    let never = &others[0];
    expect_code(&gw.deliver(provider, never).await, 404, "unknown_call");
    gw.webhook_raw(provider, &report.to_string(), &[])
        .await
        .expect_error(401);

    let id = gw.accepted_call(provider, &vendor_id).await;
    let filter = json!({"provider": provider, "since": since, "outcome": "unknown_call"});
    let answer = replayed_range(&gw, &filter).await;
    assert_fields!(answer, {
        "replayed": 2,
        "skipped": 0,
        "outcomes": {"applied": 1, "duplicate": 0, "unknown_call": 1, "rejected": 0}
    });
    assert!(answer.get("next_cursor").is_none(), "{answer}");
    let new = answer["receipts"].as_array().expect("receipts").clone();
    assert_eq!(new.len(), 2, "{answer}");

    // The call is as if the report had come after it.
    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "completed"});
    assert_turns(&gw.transcript(&id).await, V::REPORT_TURNS);
    let applied = receipt(&gw, new[0].as_str().unwrap()).await;
    assert_fields!(applied, {
        "outcome": "applied", "call_id": id, "replay_of": original, "provider": provider,
        "signature": "verified"
    });
    let events = gw.events(&id).await;
    let completed = events.iter().find(|e| e["to_status"] == "completed");
    let completed = completed.unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(completed["receipt_id"], applied["id"], "{completed}");
    // The original is unchanged, and only originals have no `replay_of`.
    let stored = receipt(&gw, &original).await;
    assert_fields!(stored, {"outcome": "unknown_call", "call_id": null});
    assert!(stored.get("replay_of").is_none(), "{stored}");

    // Again, whatever the outcome: the replays are not taken, the first one now holds the
    // report's dedupe key (a duplicate), the refused receipt is skipped.
    let everything = json!({"provider": provider, "since": since});
    let again = replayed_range(&gw, &everything).await;
    assert_fields!(again, {
        "replayed": 2,
        "skipped": 1,
        "outcomes": {"applied": 0, "duplicate": 1, "unknown_call": 1, "rejected": 0}
    });
    assert_turns(&gw.transcript(&id).await, V::REPORT_TURNS);

    // One at a time, by cursor: the same three receipts, then no cursor.
    let mut cursor = None;
    let (mut replayed, mut skipped, mut pages) = (0, 0, 0);
    loop {
        let mut page = json!({"provider": provider, "since": since, "limit": 1});
        if let Some(cursor) = cursor {
            page["cursor"] = cursor;
        }
        let answer = replayed_range(&gw, &page).await;
        pages += 1;
        replayed += answer["replayed"].as_u64().unwrap();
        skipped += answer["skipped"].as_u64().unwrap();
        match answer.get("next_cursor") {
            Some(next) => cursor = Some(next.clone()),
            None => break,
        }
        assert!(pages < 10, "{answer}");
    }
    assert_eq!((replayed, skipped), (2, 1));
    assert!(pages >= 3, "one receipt per page: {pages}");

    let entries = audited(&gw, "webhook_receipt.replay_range").await;
    assert_eq!(entries.len(), 2 + pages, "{entries:?}");
    let first = entries.last().unwrap();
    assert_eq!(first["target"], format!("provider:{provider}"), "{first}");
    let detail = first["detail"].as_str().unwrap_or_default();
    for part in [
        "outcome=unknown_call",
        "replayed=2",
        "applied=1",
        "unknown_call=1",
    ] {
        assert!(detail.contains(part), "{part} not in {detail}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn range_replay_applies_retell_webhooks_that_arrived_before_their_call() {
    range_replay_applies_webhooks_that_arrived_before_their_call::<RetellVendor>().await;
}

#[tokio::test]
async fn range_replay_applies_vapi_webhooks_that_arrived_before_their_call() {
    range_replay_applies_webhooks_that_arrived_before_their_call::<VapiVendor>().await;
}

#[tokio::test]
async fn range_replay_applies_elevenlabs_webhooks_that_arrived_before_their_call() {
    range_replay_applies_webhooks_that_arrived_before_their_call::<ElevenLabs>().await;
}

/// A receipt already applied replays as a duplicate and changes nothing; forced, its events are
/// applied again without repeating turns, `applied` only when that changed the call.
#[tokio::test]
async fn replaying_an_applied_receipt_is_a_duplicate_unless_forced() {
    let gw = TestGateway::start().await;
    let since = Utc::now() - chrono::Duration::seconds(1);
    let id = gw.create_call_on("frozen", TO).await;
    let first = json!({
        "event_id": unique("first"), "call_id": id, "status": "in_progress", "summary": "first",
        "turn": {"speaker": "user", "text": "Hello there"}
    });
    let original = gw.apply_webhook("frozen", &first).await["receipt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let transcript = gw.transcript(&id).await;
    assert_eq!(transcript.len(), 1, "{transcript:?}");
    let history = gw.events(&id).await;
    let call = gw.call(&id).await;

    // No body, an empty object, force false: duplicates, nothing changes.
    for body in [None, Some(json!({})), Some(json!({"force": false}))] {
        let replay = replayed(&gw, &original, body.as_ref()).await;
        assert_fields!(replay, {"outcome": "duplicate", "call_id": id, "provider": "frozen"});
        assert_eq!(replay["dedupe_key"], first["event_id"], "{replay}");
        assert_eq!(replay["body"], first.to_string(), "{replay}");
    }
    assert_eq!(gw.transcript(&id).await, transcript);
    assert_eq!(gw.events(&id).await, history);
    assert_eq!(gw.call(&id).await["summary"], "first");

    // Forced, with nothing to change: applied again, still a duplicate, no second turn.
    let forced = replayed(&gw, &original, Some(&json!({"force": true}))).await;
    assert_fields!(forced, {"outcome": "duplicate", "call_id": id});
    assert_eq!(gw.transcript(&id).await, transcript);
    assert_eq!(gw.events(&id).await, history);
    assert_eq!(gw.call(&id).await["updated_at"], call["updated_at"]);

    // A later webhook changes the summary; forcing the first one sets it back: applied.
    let second = json!({"event_id": unique("second"), "call_id": id, "summary": "second"});
    gw.apply_webhook("frozen", &second).await;
    let forced = replayed(&gw, &original, Some(&json!({"force": true}))).await;
    assert_fields!(forced, {"outcome": "applied", "call_id": id});
    let call = gw.call(&id).await;
    assert_fields!(call, {"summary": "first", "status": "in_progress"});
    assert_eq!(gw.transcript(&id).await, transcript, "no turn twice");

    // The original is unchanged; every replay names it.
    let stored = receipt(&gw, &original).await;
    assert_fields!(stored, {"outcome": "applied", "call_id": id});
    assert!(stored.get("replay_of").is_none(), "{stored}");
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    let replays: Vec<&Value> = receipts
        .iter()
        .filter(|r| r["replay_of"] == original.as_str())
        .collect();
    assert_eq!(replays.len(), 5, "{receipts:?}");

    let entries = audited(&gw, "webhook_receipt.replay").await;
    assert_eq!(entries.len(), 5, "{entries:?}");
    assert_eq!(entries[0]["target"], format!("webhook_receipt:{original}"));
    let detail = entries[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("outcome=applied") && detail.contains("force=true"),
        "{detail}"
    );

    // A forced range: both originals (not the replays) applied again, oldest first: the first
    // changes nothing now (the summary is "first" already), the second sets its summary again.
    let range = json!({"provider": "frozen", "since": rfc3339(since), "force": true});
    let answer = replayed_range(&gw, &range).await;
    assert_fields!(answer, {
        "replayed": 2,
        "skipped": 0,
        "outcomes": {"applied": 1, "duplicate": 1, "unknown_call": 0, "rejected": 0}
    });
    assert_eq!(gw.call(&id).await["summary"], "second");
    assert_eq!(gw.transcript(&id).await, transcript, "no turn twice");
    gw.stop().await;
}

/// A signed provider's webhook: verified when received, replayed without its signature being
/// checked again; refused when received (bad signature), not replayed.
#[tokio::test]
async fn refused_receipts_are_409_with_their_reason() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let body = json!({"event_id": unique("bad"), "call_id": id, "status": "ringing"}).to_string();
    let now = Utc::now().timestamp();
    let forged = echo_signature("not-the-secret", now, &body);
    gw.webhook_raw("signed", &body, &[("x-echo-signature", &forged)])
        .await
        .expect_error(401);
    let refused = gw
        .receipts(&[("provider", "signed"), ("outcome", "rejected")])
        .await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    let refused_id = id_of(&refused[0]);
    for force in [false, true] {
        let reply = replay(&gw, &refused_id, Some(&json!({"force": force}))).await;
        let error = expect_code(&reply, 409, "conflict");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("refused (webhook signature rejected: signature does not match)"),
            "{error}"
        );
        assert_eq!(error["error"]["details"]["reason"], "refused", "{error}");
    }
    assert_eq!(receipt(&gw, &refused_id).await["outcome"], "rejected");
    let all = gw.receipts(&[("provider", "signed")]).await;
    assert_eq!(all.len(), 1, "no receipt for a refused replay: {all:?}");
    assert!(audited(&gw, "webhook_receipt.replay").await.is_empty());

    // Signed and verified: replayed as stored, its signature not checked again.
    let good_body =
        json!({"event_id": unique("good"), "call_id": id, "status": "ringing"}).to_string();
    let signature = echo_signature("s3cret", now, &good_body);
    let reply = gw
        .webhook_raw("signed", &good_body, &[("x-echo-signature", &signature)])
        .await;
    expect_code(&reply, 404, "unknown_call");
    let good = reply.json()["error"]["details"]["receipt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = replayed(&gw, &good, None).await;
    assert_fields!(again, {"outcome": "unknown_call", "signature": "verified", "provider": "signed"});
    gw.stop().await;
}

#[tokio::test]
async fn replay_errors() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    let hook = json!({"event_id": unique("e"), "call_id": id, "status": "ringing"});
    let original = gw.apply_webhook("frozen", &hook).await["receipt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = rfc3339(Utc::now() - chrono::Duration::minutes(1));

    expect_code(
        &replay(&gw, "no-such-receipt", None).await,
        404,
        "not_found",
    );
    let unknown_field = replay(&gw, &original, Some(&json!({"forse": true}))).await;
    unknown_field.expect_error(422);
    let not_json = gw
        .raw(
            Method::POST,
            &format!("/v1/webhook-receipts/{original}/replay"),
            Some("application/json"),
            "{",
        )
        .await;
    not_json.expect_error(400);
    let no_content_type = gw
        .raw(
            Method::POST,
            &format!("/v1/webhook-receipts/{original}/replay"),
            None,
            r#"{"force": true}"#,
        )
        .await;
    expect_code(&no_content_type, 415, "unsupported_media_type");

    let range = "/v1/webhook-receipts/replay";
    for (body, field) in [
        (
            json!({"provider": "nope", "since": since}),
            Some("provider"),
        ),
        (
            json!({"provider": "frozen", "since": since, "until": since}),
            Some("until"),
        ),
        (
            json!({"provider": "frozen", "since": since, "limit": 1001}),
            Some("limit"),
        ),
        (
            json!({"provider": "frozen", "since": since, "cursor": "made-up"}),
            Some("cursor"),
        ),
        (json!({"provider": "frozen"}), None),
        (json!({"provider": "frozen", "since": "yesterday"}), None),
        (
            json!({"provider": "frozen", "since": since, "outcome": "exploded"}),
            None,
        ),
    ] {
        let error = gw.post_json(range, &body).await.expect_error(422);
        if let Some(field) = field {
            assert_eq!(error["error"]["details"]["field"], field, "{error}");
        }
    }

    // Viewers (and operators) may not replay.
    for role in ["viewer", "operator"] {
        let (_, token, _) = user_with_role(&gw, &format!("{role}1"), role).await;
        let as_user = |path: &str, body: Value| {
            gw.anonymous
                .post(gw.url(path))
                .bearer_auth(&token)
                .json(&body)
        };
        let single = as_user(
            &format!("/v1/webhook-receipts/{original}/replay"),
            json!({}),
        );
        expect_code(&gw.send(single).await, 403, "forbidden");
        let many = as_user(range, json!({"provider": "frozen", "since": since}));
        expect_code(&gw.send(many).await, 403, "forbidden");
    }
    let anonymous = gw
        .anonymous
        .post(gw.url(&format!("/v1/webhook-receipts/{original}/replay")));
    gw.send(anonymous).await.expect_error(401);
    // Nothing was replayed.
    assert_eq!(gw.receipts(&[("call_id", &id)]).await.len(), 1);
    gw.stop().await;
}

/// A body cut at `receipt_body_limit_bytes` is not the webhook: it is not replayed.
#[tokio::test]
async fn receipts_with_a_cut_body_are_not_replayed() {
    let config = GatewayConfig::new()
        .gateway("default_provider = \"echo\"\nreceipt_body_limit_bytes = 64")
        .sections(PROVIDERS);
    let gw = TestGateway::start_config(&config).await;
    let since = rfc3339(Utc::now() - chrono::Duration::seconds(1));
    let hook = json!({
        "event_id": unique("long"), "call_id": uuid::Uuid::now_v7().to_string(),
        "status": "ringing", "summary": "x".repeat(100)
    });
    let reply = gw.webhook("frozen", &hook).await;
    expect_code(&reply, 404, "unknown_call");
    let original = reply.json()["error"]["details"]["receipt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(receipt(&gw, &original).await["body_truncated"], true);
    let error = expect_code(&replay(&gw, &original, None).await, 409, "conflict");
    assert_eq!(
        error["error"]["details"]["reason"], "body_truncated",
        "{error}"
    );
    let answer = replayed_range(&gw, &json!({"provider": "frozen", "since": since})).await;
    assert_fields!(answer, {"replayed": 0, "skipped": 1, "receipts": []});
    gw.stop().await;
}

/// The receipt's provider instance was removed from config since: nothing parses it now.
#[tokio::test]
async fn receipts_of_a_provider_no_longer_configured_are_409() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("slow", TO).await;
    let hook = json!({"event_id": unique("gone"), "call_id": id, "status": "ringing"});
    let original = gw.apply_webhook("slow", &hook).await["receipt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (dir, _) = gw.stop_keeping_files().await;
    let config = GatewayConfig::new()
        .gateway("default_provider = \"echo\"")
        .sections("[providers.echo]\nkind = \"echo\"\nturn_interval_ms = 50");
    let gw = TestGateway::start_in(dir, &config).await;
    let error = expect_code(&replay(&gw, &original, None).await, 409, "conflict");
    assert_eq!(
        error["error"]["details"]["reason"], "provider_not_configured",
        "{error}"
    );
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'slow' is no longer configured"),
        "{error}"
    );
    assert_eq!(receipt(&gw, &original).await["outcome"], "applied");
    gw.stop().await;
}
