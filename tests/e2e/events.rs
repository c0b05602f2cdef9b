//! Events to applications: endpoints, signed deliveries (verified here with the Standard
//! Webhooks algorithm), per-call order, retries, disabling, rotation, redelivery, replay and
//! the destination checks.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{GatewayConfig, PROVIDERS, TO, TestGateway, WAIT};
use crate::mock_vendor::{MockReply, MockVendor, Received};

/// Fast retries, receivers on 127.0.0.1.
pub(crate) const EVENTS: &str =
    "[events]\nallow_private_destinations = true\nretry_schedule_secs = [1, 1]\n";

async fn gateway_with(events: &str) -> TestGateway {
    let config = GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
        .sections(events);
    TestGateway::start_config(&config).await
}

/// Standard Webhooks verification: some `v1,` signature in the header is the base64
/// HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the secret's decoded bytes.
pub(crate) fn verify(secret: &str, request: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ secret"))
        .expect("base64 secret");
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

pub(crate) async fn endpoint(gateway: &TestGateway, url: &str, extra: Value) -> (String, String) {
    let mut body = json!({"url": url});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let reply = gateway.post_json("/v1/event-endpoints", &body).await;
    reply.expect_status(201);
    let created = reply.json();
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Waits until the receiver has `count` requests on `path`.
pub(crate) async fn received(receiver: &MockVendor, path: &str, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = receiver.requests("POST", path);
        if got.len() >= count || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bodies(requests: &[Received]) -> Vec<Value> {
    requests.iter().map(Received::json).collect()
}

#[tokio::test]
async fn an_echo_call_reaches_the_application_signed_and_in_order() {
    let gateway = gateway_with(EVENTS).await;
    let receiver = MockVendor::start().await;
    receiver.always("POST", "/hooks", MockReply::json(200, "{}"));
    let url = format!("{}/hooks", receiver.base_url());
    let (_, secret) = endpoint(&gateway, &url, json!({})).await;
    let id = gateway.create_call_on("echo", TO).await;
    gateway.wait_for_status(&id, "completed").await;
    // created, initiating, ringing, in_progress, 3 turns (at least), completed, ended.
    let deadline = Instant::now() + WAIT;
    let events = loop {
        let events = bodies(&receiver.requests("POST", "/hooks"));
        if events.iter().any(|e| e["type"] == "call.ended") || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for request in receiver.requests("POST", "/hooks") {
        assert!(
            verify(&secret, &request),
            "signature of {:?}",
            request.json()
        );
        let body = request.json();
        assert_eq!(request.header("webhook-id"), body["id"].as_str());
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(
            request
                .header("user-agent")
                .is_some_and(|ua| ua.starts_with("voice-gateway/"))
        );
        let timestamp: i64 = request
            .header("webhook-timestamp")
            .unwrap()
            .parse()
            .unwrap();
        assert!((timestamp - chrono::Utc::now().timestamp()).abs() < 60);
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"call.created"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"call.ended"), "{kinds:?}");
    assert!(kinds.contains(&"call.status_changed"), "{kinds:?}");
    assert!(kinds.contains(&"call.transcript.turn"), "{kinds:?}");
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=events.len() as i64).collect::<Vec<_>>());
    for event in &events {
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(event["call_id"], id.as_str());
        assert!(event["created_at"].is_string());
    }
    let ended = events.last().unwrap();
    assert_eq!(ended["data"]["call"]["status"], "completed");
    assert_eq!(ended["data"]["call"]["id"], id.as_str());
    let changed = events
        .iter()
        .find(|e| e["type"] == "call.status_changed")
        .unwrap();
    assert_eq!(changed["data"]["from"], "queued");
    assert_eq!(changed["data"]["to"], "initiating");
    // The log has the same events.
    let logged = gateway
        .list_items("/v1/events", &[("call_id", id.as_str())])
        .await;
    assert_eq!(logged.len(), events.len());
    let only_ended = gateway
        .list_items(
            "/v1/events",
            &[("call_id", id.as_str()), ("type", "call.ended")],
        )
        .await;
    assert_eq!(only_ended.len(), 1);
    assert_eq!(only_ended[0]["id"], ended["id"]);
    gateway.stop().await;
}

#[tokio::test]
async fn failures_are_retried_and_later_events_of_the_call_wait() {
    let gateway = gateway_with(EVENTS).await;
    let receiver = MockVendor::start().await;
    receiver.enqueue("POST", "/hooks", MockReply::json(500, "{\"oops\": true}"));
    receiver.always("POST", "/hooks", MockReply::json(204, ""));
    let url = format!("{}/hooks", receiver.base_url());
    let (endpoint_id, _) = endpoint(
        &gateway,
        &url,
        json!({"event_types": ["call.created", "call.status_changed"]}),
    )
    .await;
    let id = gateway.create_call_on("frozen", TO).await;
    let got = received(&receiver, "/hooks", 3).await;
    let events = bodies(&got);
    // The first (call.created) failed once; its retry came before anything later.
    assert_eq!(events[0]["type"], "call.created");
    assert_eq!(events[1]["type"], "call.created");
    assert_eq!(events[0]["id"], events[1]["id"]);
    assert_eq!(events[2]["type"], "call.status_changed");
    assert!(got[1].at - got[0].at >= Duration::from_millis(700));
    let deliveries = gateway
        .list_items(
            &format!("/v1/event-endpoints/{endpoint_id}/deliveries"),
            &[("status", "succeeded")],
        )
        .await;
    let first = deliveries
        .iter()
        .find(|d| d["event_type"] == "call.created")
        .unwrap();
    let attempts = first["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(attempts[0]["response_body"], "{\"oops\": true}");
    assert!(attempts[0]["latency_ms"].is_i64());
    assert_eq!(attempts[1]["status_code"], 204);
    assert_eq!(first["call_id"], id.as_str());
    gateway.stop().await;
}

#[tokio::test]
async fn gone_disables_and_the_schedule_runs_out() {
    let gateway =
        gateway_with("[events]\nallow_private_destinations = true\nretry_schedule_secs = [0]\n")
            .await;
    let receiver = MockVendor::start().await;
    receiver.always("POST", "/gone", MockReply::json(410, ""));
    receiver.always("POST", "/down", MockReply::json(500, ""));
    let (gone, _) = endpoint(
        &gateway,
        &format!("{}/gone", receiver.base_url()),
        json!({"event_types": ["call.created"]}),
    )
    .await;
    let (down, _) = endpoint(
        &gateway,
        &format!("{}/down", receiver.base_url()),
        json!({"event_types": ["call.created"]}),
    )
    .await;
    gateway.create_call_on("frozen", TO).await;
    received(&receiver, "/down", 2).await;
    received(&receiver, "/gone", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let endpoint = gateway
        .get_json(&format!("/v1/event-endpoints/{gone}"))
        .await;
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    let failed = gateway
        .list_items(
            &format!("/v1/event-endpoints/{down}/deliveries"),
            &[("status", "failed")],
        )
        .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(receiver.requests("POST", "/gone").len(), 1);
    let audit = gateway
        .list_items("/v1/audit", &[("action", "event_endpoint.disable")])
        .await;
    assert_eq!(audit.len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_and_test_redeliver_replay_work() {
    let gateway = gateway_with(EVENTS).await;
    let receiver = MockVendor::start().await;
    receiver.always("POST", "/hooks", MockReply::json(200, "ok"));
    let url = format!("{}/hooks", receiver.base_url());
    let (endpoint_id, old) =
        endpoint(&gateway, &url, json!({"event_types": ["call.created"]})).await;
    let reply = gateway
        .post_json(
            &format!("/v1/event-endpoints/{endpoint_id}/rotate-secret"),
            &json!({}),
        )
        .await;
    reply.expect_status(200);
    let new = reply.json()["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    assert!(reply.json()["previous_secret_expires_at"].is_string());
    // The test route: a ping, signed with both.
    let reply = gateway
        .post_json(
            &format!("/v1/event-endpoints/{endpoint_id}/test"),
            &json!({}),
        )
        .await;
    reply.expect_status(200);
    let result = reply.json();
    assert_eq!(result["succeeded"], true, "{result}");
    assert_eq!(result["attempt"]["status_code"], 200);
    let ping = receiver.requests("POST", "/hooks").pop().unwrap();
    assert_eq!(ping.json()["type"], "ping");
    assert_eq!(
        ping.header("webhook-signature").unwrap().split(' ').count(),
        2
    );
    assert!(verify(&old, &ping) && verify(&new, &ping));
    // Redeliver one event, then replay everything since the start.
    let started = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    let id = gateway.create_call_on("frozen", TO).await;
    received(&receiver, "/hooks", 2).await;
    let created = gateway
        .list_items(
            "/v1/events",
            &[("call_id", id.as_str()), ("type", "call.created")],
        )
        .await;
    let event_id = created[0]["id"].as_str().unwrap();
    let reply = gateway
        .post_json(&format!("/v1/events/{event_id}/redeliver"), &json!({}))
        .await;
    reply.expect_status(202);
    assert_eq!(reply.json()["delivery_ids"].as_array().unwrap().len(), 1);
    received(&receiver, "/hooks", 3).await;
    let reply = gateway
        .post_json(
            &format!("/v1/event-endpoints/{endpoint_id}/replay"),
            &json!({"since": started.to_rfc3339()}),
        )
        .await;
    reply.expect_status(202);
    assert_eq!(reply.json()["deliveries"], 1);
    let got = received(&receiver, "/hooks", 4).await;
    let same: Vec<_> = got
        .iter()
        .filter(|r| r.header("webhook-id") == Some(event_id))
        .collect();
    assert_eq!(same.len(), 3, "delivered, redelivered, replayed");
    for request in same {
        assert!(verify(&new, request));
    }
    let audit = gateway
        .list_items("/v1/audit", &[("action", "event_endpoint.rotate_secret")])
        .await;
    assert_eq!(audit.len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_the_reason() {
    let gateway = gateway_with("").await;
    for (body, field, says) in [
        (json!({"url": "ftp://example.com/x"}), "url", "http"),
        (json!({"url": "not a url"}), "url", "URL"),
        (
            json!({"url": "http://127.0.0.1:9/hook"}),
            "url",
            "forbidden address",
        ),
        (
            json!({"url": "http://169.254.169.254/latest"}),
            "url",
            "forbidden address",
        ),
        (
            json!({"url": "http://[::1]:9/hook"}),
            "url",
            "forbidden address",
        ),
        (
            json!({"url": "http://localhost:9/hook"}),
            "url",
            "forbidden address",
        ),
        (
            json!({"url": "https://app.example.com/hooks", "event_types": ["call.nope"]}),
            "event_types",
            "valid: call.created, call.status_changed, call.transcript.turn, call.transcript.finalized, call.ended, call.recording.ready",
        ),
    ] {
        let reply = gateway.post_json("/v1/event-endpoints", &body).await;
        let error = reply.expect_error(422);
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(says),
            "{error}"
        );
    }
    // Saved under the check's name (e.g. a name resolved to a public address), refused at
    // connect time when it resolves to a private one.
    let reply = gateway
        .post_json(
            "/v1/event-endpoints",
            &json!({"url": "https://93.184.216.34/hooks", "event_types": ["call.ended"]}),
        )
        .await;
    reply.expect_status(201);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let reply = gateway
        .raw(
            Method::PATCH,
            &format!("/v1/event-endpoints/{id}"),
            Some("application/json"),
            r#"{"url": "http://10.0.0.1/x"}"#,
        )
        .await;
    reply.expect_error(422);
    let reply = gateway
        .raw(
            Method::DELETE,
            &format!("/v1/event-endpoints/{id}"),
            None,
            "",
        )
        .await;
    reply.expect_status(204);
    gateway.stop().await;
}

#[tokio::test]
async fn config_endpoints_are_listed_read_only_and_deliver() {
    let receiver = MockVendor::start().await;
    receiver.always("POST", "/cfg", MockReply::json(200, ""));
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let gateway = gateway_with(&format!(
        "{EVENTS}[events.endpoints.billing]\nurl = \"{}/cfg\"\nsecret = \"{secret}\"\nevent_types = [\"call.created\"]\n",
        receiver.base_url()
    ))
    .await;
    let listed = gateway.get_json("/v1/event-endpoints").await;
    let billing = &listed["items"][0];
    assert_eq!(billing["id"], "cfg_billing");
    assert_eq!(billing["read_only"], true);
    assert!(billing.get("secret").is_none());
    let reply = gateway
        .raw(Method::DELETE, "/v1/event-endpoints/cfg_billing", None, "")
        .await;
    reply.expect_error(409);
    gateway.create_call_on("frozen", TO).await;
    let got = received(&receiver, "/cfg", 1).await;
    assert_eq!(got.len(), 1);
    assert!(verify(secret, &got[0]));
    gateway.stop().await;
}

#[tokio::test]
async fn an_endpoint_failing_for_disable_after_hours_is_disabled() {
    let gateway =
        gateway_with("[events]\nallow_private_destinations = true\nretry_schedule_secs = [1, 1, 1]\ndisable_after_hours = 2\n")
            .await;
    let receiver = MockVendor::start().await;
    receiver.always("POST", "/down", MockReply::json(500, ""));
    let (down, _) = endpoint(
        &gateway,
        &format!("{}/down", receiver.base_url()),
        json!({"event_types": ["call.created"]}),
    )
    .await;
    gateway.create_call_on("frozen", TO).await;
    // The first failed attempt is recorded: the endpoint is failing since then.
    let deadline = Instant::now() + WAIT;
    let since = loop {
        let endpoint = gateway
            .get_json(&format!("/v1/event-endpoints/{down}"))
            .await;
        if endpoint["failing_since"].is_string() || Instant::now() > deadline {
            break endpoint["failing_since"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(since.is_string(), "failing_since is set: {since}");
    assert_eq!(
        gateway
            .get_json(&format!("/v1/event-endpoints/{down}"))
            .await["enabled"],
        true
    );
    // As if it had been failing for longer than the limit: the next failure disables it.
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let updated = gateway
        .database_scalar(&format!(
            "UPDATE event_endpoints SET failing_since = '{long_ago}' WHERE id = '{down}' \
             RETURNING CAST(1 AS BIGINT)"
        ))
        .await;
    assert_eq!(updated, 1);
    let deadline = Instant::now() + WAIT;
    let endpoint = loop {
        let endpoint = gateway
            .get_json(&format!("/v1/event-endpoints/{down}"))
            .await;
        if endpoint["enabled"] == false || Instant::now() > deadline {
            break endpoint;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    let reason = endpoint["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("failed for 2 hours"), "{reason}");
    let attempts = receiver.requests("POST", "/down").len();
    assert!((2..=3).contains(&attempts), "{attempts} attempts");
    // The audit row is written just after the endpoint is disabled.
    let deadline = Instant::now() + WAIT;
    let audit = loop {
        let audit = gateway
            .list_items("/v1/audit", &[("action", "event_endpoint.disable")])
            .await;
        if !audit.is_empty() || Instant::now() > deadline {
            break audit;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(
        audit[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2 hours")),
        "{audit:?}"
    );
    // Disabled: no more attempts.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.requests("POST", "/down").len(), attempts);
    gateway.stop().await;
}

/// Issue 16's crash test: the gateway process is killed (SIGKILL) while webhooks keep coming
/// and deliveries are in flight, then started again. Every acknowledged webhook has its event,
/// and every event of the log reaches the receiver at least once (deliveries cut off by the
/// kill are sent again once their lease has expired).
#[tokio::test]
async fn after_kill_9_and_a_restart_every_event_reaches_the_application() {
    let _one_at_a_time = crate::harness::KILL_TESTS.lock().await;
    let receiver = MockVendor::start().await;
    receiver.always(
        "POST",
        "/hooks",
        MockReply::json(200, "{}").delayed(Duration::from_millis(20)),
    );
    let config = GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
        .sections("[events]\nallow_private_destinations = true\nretry_schedule_secs = [1, 1, 1, 1, 1, 1]\nrequest_timeout_ms = 1000\n\n[log]\nlevel = \"warn\"\n");
    // Set up in process (database, admin key, endpoint, calls), then serve with the binary.
    let setup = TestGateway::start_config(&config).await;
    endpoint(&setup, &format!("{}/hooks", receiver.base_url()), json!({})).await;
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(setup.create_call_on("frozen", TO).await);
    }
    let (process, gateway, port) = crate::harness::serve_setup_with_binary(setup, &config).await;
    let gateway = std::sync::Arc::new(gateway);

    // A vendor sending a turn every 5 ms round-robin over the calls, noting what was
    // acknowledged; requests the kill cuts off are not.
    let sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sender = {
        let (gateway, sending, calls) = (gateway.clone(), sending.clone(), calls.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0usize;
            while sending.load(std::sync::atomic::Ordering::SeqCst) {
                let id = &calls[n % calls.len()];
                let text = format!("turn {n}");
                n += 1;
                let body = json!({
                    "event_id": format!("crash-{n}"),
                    "call_id": id,
                    "turn": {"speaker": "user", "text": text, "final": true},
                });
                let sent = gateway
                    .anonymous
                    .post(gateway.url("/webhooks/frozen"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if let Ok(answer) = sent
                    && answer.status().as_u16() == 200
                {
                    acknowledged.push(text);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(process);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _process = crate::harness::serve_binary(gateway.dir(), port);
    gateway.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sending.store(false, std::sync::atomic::Ordering::SeqCst);
    let acknowledged = sender.await.expect("sender");
    assert!(
        acknowledged.len() > 50,
        "{} acknowledged",
        acknowledged.len()
    );

    // Every acknowledged turn has its event in the log; every logged event reaches the
    // receiver (within the lease of a delivery cut off by the kill: request timeout + 30 s).
    let mut logged = Vec::new();
    for id in &calls {
        logged.extend(
            gateway
                .all_items("/v1/events", &[("call_id", id.as_str())])
                .await,
        );
    }
    let said: std::collections::HashSet<&str> = logged
        .iter()
        .filter(|e| e["type"] == "call.transcript.turn")
        .filter_map(|e| e["data"]["turn"]["text"].as_str())
        .collect();
    for text in &acknowledged {
        assert!(
            said.contains(text.as_str()),
            "no event for acknowledged {text}"
        );
    }
    let wanted: std::collections::HashSet<String> = logged
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let got: std::collections::HashSet<String> = receiver
            .requests("POST", "/hooks")
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect();
        let missing: Vec<&String> = wanted.difference(&got).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        missing,
        0,
        "of {} events, {missing} never reached the receiver",
        wanted.len()
    );
}
