//! Recovery gaps: a PostgreSQL statement timeout answers 503, an idempotency key whose first
//! request died recovers after its lease, local calls interrupted by a restart end, and a lost
//! cross-instance notice is made up for by the live stream's periodic resync.

use serde_json::json;

use crate::harness::{
    GatewayConfig, PROVIDERS, TO, TestGateway, id_of, postgres_section, schema_for,
    test_database_url, unique,
};

fn config() -> GatewayConfig {
    GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
}

/// A webhook whose call row another transaction holds runs past `statement_timeout_ms`: the
/// answer is 503 with `Retry-After` (the vendor retries), not 500, and nothing is stored until
/// the retry after the lock is gone.
#[tokio::test]
async fn a_statement_timeout_answers_503_with_retry_after() {
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = postgres_section(&url, &schema_for(dir.path()), "statement_timeout_ms = 200");
    let gw = TestGateway::start_in(dir, &config().database(&database)).await;
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "frozen"}))
            .await,
    );
    let webhook = json!({
        "event_id": unique("timeout"),
        "call_id": id,
        "turn": {"speaker": "user", "text": "held up", "final": true},
    });

    let mut holder = gw.postgres_connection().await;
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("SELECT id FROM calls WHERE id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut holder)
        .await
        .expect("row locked");
    let refused = gw.webhook("frozen", &webhook).await;
    let error = refused.expect_error(503);
    assert_eq!(error["error"]["code"], "unavailable", "{error}");
    let wait: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(wait >= 1);
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");

    assert!(gw.transcript(&id).await.is_empty(), "nothing applied");
    gw.apply_webhook("frozen", &webhook).await;
    assert_eq!(gw.transcript(&id).await.len(), 1);
    gw.stop().await;
}

/// What a create request that died mid-flight leaves behind, staged on a call placed with
/// `key`: its key claimed `age_secs` ago and never completed, the call `status` without a
/// vendor id (`queued`: it never reached the provider; `initiating`: it may have).
async fn die_mid_flight(gw: &TestGateway, id: &str, key: &str, status: &str, age_secs: i64) {
    let claimed = (chrono::Utc::now() - chrono::TimeDelta::seconds(age_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let keys = gw
        .database_execute(&format!(
            "UPDATE idempotency_keys SET completed = FALSE, created_at = '{claimed}' \
             WHERE key = '{key}'"
        ))
        .await;
    assert_eq!(keys, 1);
    let calls = gw
        .database_execute(&format!(
            "UPDATE calls SET status = '{status}', provider_call_id = NULL, status_reason = NULL \
             WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(calls, 1);
}

async fn create_with_key(gw: &TestGateway, key: &str) -> crate::harness::Reply {
    let request = gw
        .client
        .post(gw.url("/v1/calls"))
        .header("idempotency-key", key)
        .json(&json!({"to": TO, "provider": "frozen"}));
    gw.send(request).await
}

/// The first request claimed the key and stored the call, then the process died before asking
/// the provider: within the lease a retry gets 409; after it the retry places that same call
/// (201) and later retries replay it.
#[tokio::test]
async fn an_idempotency_claim_whose_request_died_before_sending_is_placed_by_the_retry() {
    let gw =
        TestGateway::start_config(&config().gateway("idempotency_claim_timeout_secs = 30")).await;
    let key = unique("died-queued");
    let first = create_with_key(&gw, &key).await;
    first.expect_status(201);
    let id = id_of(&first.json());

    die_mid_flight(&gw, &id, &key, "queued", 5).await;
    let early = create_with_key(&gw, &key).await;
    assert_eq!(
        early.expect_error(409)["error"]["code"],
        "idempotency_key_in_flight"
    );

    die_mid_flight(&gw, &id, &key, "queued", 31).await;
    let recovered = create_with_key(&gw, &key).await;
    recovered.expect_status(201);
    let call = recovered.json();
    assert_eq!(id_of(&call), id, "the stored call, not a new one");
    assert_ne!(call["status"], "queued", "{call}");
    assert!(call["provider_call_id"].is_string(), "placed now: {call}");

    let replay = create_with_key(&gw, &key).await;
    replay.expect_status(200);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(id_of(&replay.json()), id);
    let calls = gw.list_items("/v1/calls", &[("limit", "100")]).await;
    assert_eq!(calls.len(), 1, "one call for the key");
    gw.stop().await;
}

/// The first request died after the create may have reached the vendor, and the provider can
/// neither fetch calls nor deduplicate creates (echo): the retry after the lease does not
/// place it again; it ends the call `failed`, saying why, and answers it as a replay.
#[tokio::test]
async fn an_idempotency_claim_whose_outcome_is_unknown_is_never_placed_twice() {
    let gw =
        TestGateway::start_config(&config().gateway("idempotency_claim_timeout_secs = 30")).await;
    let key = unique("died-unknown");
    let first = create_with_key(&gw, &key).await;
    first.expect_status(201);
    let id = id_of(&first.json());

    die_mid_flight(&gw, &id, &key, "initiating", 31).await;
    let recovered = create_with_key(&gw, &key).await;
    recovered.expect_status(200);
    let call = recovered.json();
    assert_eq!(id_of(&call), id);
    assert_eq!(call["status"], "failed", "{call}");
    assert!(
        call["status_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("interrupted:")),
        "{call}"
    );
    assert!(
        call["provider_call_id"].is_null(),
        "not placed again: {call}"
    );
    let again = create_with_key(&gw, &key).await;
    again.expect_status(200);
    assert_eq!(again.json()["status"], "failed");
    assert_eq!(
        gw.list_items("/v1/calls", &[("limit", "100")]).await.len(),
        1
    );
    gw.stop().await;
}

/// An echo call is driven by the process that placed it: stopped mid-script, the gateway
/// restarted on the same database ends it `failed`, saying why, through the normal path (the
/// status history records it).
#[tokio::test]
async fn a_local_call_interrupted_by_a_restart_ends_failed_with_the_reason() {
    // On PostgreSQL, a call is taken for interrupted only once unchanged this long.
    let config = config().gateway("reconcile_after_secs = 1");
    let gw = TestGateway::start_config(&config).await;
    let id = id_of(&gw.create_call(json!({"to": TO, "provider": "slow"})).await);
    let ended_meanwhile = id_of(&gw.create_call(json!({"to": TO, "provider": "echo"})).await);
    gw.wait_for_status(&ended_meanwhile, "completed").await;
    let (dir, _) = gw.stop_keeping_files().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let gw = TestGateway::start_in(dir, &config).await;
    let call = gw.wait_for_status(&id, "failed").await;
    assert_eq!(
        call["status_reason"],
        "interrupted: the gateway restarted while the local provider's call was in progress"
    );
    let events = gw.events(&id).await;
    let last = events.last().expect("status history");
    assert_eq!(last["to_status"], "failed", "{events:?}");
    assert_eq!(last["applied"], true);
    // A call that had ended is left as it was; a new call plays its script as usual.
    assert_eq!(gw.call(&ended_meanwhile).await["status"], "completed");
    let fresh = id_of(&gw.create_call(json!({"to": TO, "provider": "echo"})).await);
    gw.wait_for_status(&fresh, "completed").await;
    gw.stop().await;
}

/// On PostgreSQL another instance may be driving an echo call: an instance that starts leaves
/// it alone (it is not unchanged for `reconcile_after_secs`), and the call plays to its end.
#[tokio::test]
async fn a_starting_instance_leaves_another_instances_live_local_call_alone() {
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let paced = config().sections("[providers.paced]\nkind = \"echo\"\nturn_interval_ms = 700\n");
    let a = TestGateway::start_config(&paced).await;
    let id = id_of(&a.create_call(json!({"to": TO, "provider": "paced"})).await);
    let shared = postgres_section(&url, &schema_for(a.dir()), "");
    let b = TestGateway::start_config(&paced.database(&shared)).await;
    let meanwhile = b.call(&id).await;
    assert_ne!(
        meanwhile["status"], "completed",
        "started while the call ran: {meanwhile}"
    );
    let call = b.wait_for_status(&id, "completed").await;
    assert_eq!(call["status_reason"], "agent_ended_call", "{call}");
    b.stop().await;
    a.stop().await;
}

/// Cross-instance notices are best effort: a change another instance committed without its
/// notice reaching this one (here written straight to the database, as the store writes it:
/// the call row and its event, and no `NOTIFY`) still reaches this instance's subscriber
/// within `[live] resync_secs`.
#[tokio::test]
async fn a_change_whose_notice_was_lost_reaches_subscribers_within_resync_secs() {
    use futures_util::SinkExt;
    if test_database_url().is_none() {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let a = TestGateway::start_config(&config().sections("[live]\nresync_secs = 1\n")).await;
    let id = id_of(&a.create_call(json!({"to": TO, "provider": "frozen"})).await);
    let mut socket = a.live_socket(&a.admin_key).await;
    let subscribe = json!({"subscribe": id, "after_seq": 0}).to_string();
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(subscribe))
        .await
        .expect("send");
    let confirmed = crate::harness::next_frame(&mut socket).await;
    assert_eq!(confirmed["type"], "subscription_confirmed", "{confirmed}");
    let status = a.call(&id).await["status"].clone();
    assert_ne!(status, "ringing");

    // Another instance's change whose notice never came.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let changed = a
        .database_execute(&format!(
            "UPDATE calls SET status = 'ringing', updated_at = '{now}', event_seq = event_seq + 1 \
             WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(changed, 1);
    let event = a
        .database_execute(&format!(
            "INSERT INTO events (id, type, call_id, sequence, created_at, payload) \
             SELECT '{}', 'call.status_changed', id, event_seq, '{now}', '{{}}' \
             FROM calls WHERE id = '{id}'",
            format_args!("evt_{}", uuid::Uuid::now_v7())
        ))
        .await;
    assert_eq!(event, 1);

    let started = std::time::Instant::now();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let frame = crate::harness::next_frame(&mut socket).await;
            if frame["type"] == "call_status" {
                return frame;
            }
        }
    })
    .await
    .expect("the change arrives within resync_secs (and some slack)");
    assert_eq!(frame["status"], "ringing", "{frame}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    a.stop().await;
}
