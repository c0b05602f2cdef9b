//! Retention (`[retention]`, the background pass and `voice-gateway prune`): each key removes
//! what it names, of old data only, and answers mark what was removed.
//!
//! Data is made old by rewriting its timestamps in the database (fixed-width RFC 3339 text),
//! then one pass runs: in-process (`retention::pass`, what the background task runs) or the
//! binary (`prune`).

use std::time::Duration;

use serde_json::json;

use crate::harness::{GatewayConfig, PROVIDERS, TO, TestGateway, id_of, run_binary, unique};

/// A time long before any retention cutoff a test sets.
pub const OLD: &str = "2020-01-01T00:00:00.000000Z";

fn config(retention: &str) -> GatewayConfig {
    GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
        .sections(&format!("[retention]\n{retention}\n"))
}

/// Runs `sql` (an UPDATE or INSERT ending in `RETURNING CAST(1 AS BIGINT)`, or a SELECT of one
/// integer) against the gateway's database.
pub async fn sql(gw: &TestGateway, sql: &str) -> i64 {
    gw.database_scalar(sql).await
}

pub async fn count(gw: &TestGateway, table: &str, condition: &str) -> i64 {
    sql(
        gw,
        &format!("SELECT COUNT(*) FROM {table} WHERE {condition}"),
    )
    .await
}

/// One in-process retention pass with the gateway's settings, as the background task runs it.
pub async fn prune(gw: &TestGateway) -> Vec<(String, u64)> {
    let gateway = gw.server().gateway();
    let report = voice_gateway::retention::pass(&gateway.store, &gateway.settings, false)
        .await
        .expect("a retention pass");
    report
        .removed
        .iter()
        .map(|(category, n)| (category.name().to_owned(), *n))
        .collect()
}

fn removed(report: &[(String, u64)], category: &str) -> u64 {
    report
        .iter()
        .find(|(name, _)| name == category)
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("no {category} in {report:?}"))
}

/// An echo call placed with an idempotency key and variables, run to its end (transcript,
/// receipts, events), with a recording file stored for it.
pub async fn ended_call(gw: &TestGateway) -> String {
    let body = json!({"to": TO, "variables": {"customer_name": "Ada"}, "metadata": {"crm": "42"}});
    let reply = gw
        .send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("Idempotency-Key", unique("key"))
                .json(&body),
        )
        .await;
    reply.expect_status(201);
    let id = id_of(&reply.json());
    gw.wait_for_status(&id, "completed").await;
    // The script's turns and its last webhooks land around the completion.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.transcript(&id).await.len() < 3 || gw.events(&id).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id} has no transcript"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    store_recording(gw, &id).await;
    id
}

/// A recording file for call `id`, as a delivered recording is stored.
pub async fn store_recording(gw: &TestGateway, id: &str) -> std::path::PathBuf {
    let dir = gw.dir().join("recordings");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{id}.mp3"));
    std::fs::write(&file, b"ID3 fake audio").unwrap();
    sql(
        gw,
        &format!(
            "UPDATE calls SET recording_path = '{}', recording_url = '/v1/calls/{id}/recording' \
             WHERE id = '{id}' RETURNING CAST(1 AS BIGINT)",
            file.display()
        ),
    )
    .await;
    file
}

/// Makes call `id` and everything about it (receipts, audit rows, idempotency key) old.
pub async fn make_old(gw: &TestGateway, id: &str) {
    sql(
        gw,
        &format!(
            "UPDATE calls SET created_at = '{OLD}', updated_at = '{OLD}', ended_at = '{OLD}' \
             WHERE id = '{id}' RETURNING CAST(1 AS BIGINT)"
        ),
    )
    .await;
    for (table, column, condition) in [
        (
            "webhook_receipts",
            "received_at",
            format!("call_id = '{id}'"),
        ),
        ("audit_log", "at", format!("target = 'call:{id}'")),
        (
            "idempotency_keys",
            "created_at",
            format!("call_id = '{id}'"),
        ),
    ] {
        if count(gw, table, &condition).await == 0 {
            continue;
        }
        sql(
            gw,
            &format!(
                "UPDATE {table} SET {column} = '{OLD}' WHERE {condition} RETURNING CAST(1 AS BIGINT)"
            ),
        )
        .await;
    }
}

/// A refused webhook (bad signature) and an `unknown_call` one; their receipt ids.
async fn refused_webhooks(gw: &TestGateway) -> Vec<String> {
    let body = json!({"event_id": unique("bad"), "status": "ringing"}).to_string();
    let reply = gw
        .webhook_raw("signed", &body, &[("x-echo-signature", "t=1,v1=00")])
        .await;
    reply.expect_status(401);
    let unknown = json!({"event_id": unique("unknown"), "call_id": uuid::Uuid::now_v7().to_string(), "status": "ringing"});
    gw.webhook("echo", &unknown).await.expect_status(404);
    let mut ids: Vec<String> = Vec::new();
    for outcome in ["rejected", "unknown_call"] {
        let items = gw.receipts(&[("outcome", outcome)]).await;
        ids.push(id_of(&items[0]));
    }
    ids
}

/// Everything retention may remove about one call, counted in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub call: i64,
    pub turns: i64,
    pub receipts: i64,
    pub pruned_bodies: i64,
    pub recording: i64,
    pub status_events: i64,
    pub events: i64,
    pub audit: i64,
    pub idempotency: i64,
}

pub async fn footprint(gw: &TestGateway, id: &str) -> Footprint {
    let of_call = format!("call_id = '{id}'");
    Footprint {
        call: count(gw, "calls", &format!("id = '{id}'")).await,
        turns: count(gw, "transcript_turns", &of_call).await,
        receipts: count(gw, "webhook_receipts", &of_call).await,
        pruned_bodies: count(
            gw,
            "webhook_receipts",
            &format!("{of_call} AND body_pruned_at IS NOT NULL"),
        )
        .await,
        recording: count(
            gw,
            "calls",
            &format!("id = '{id}' AND recording_path IS NOT NULL"),
        )
        .await,
        status_events: count(gw, "call_status_events", &of_call).await,
        events: count(gw, "events", &of_call).await,
        audit: count(gw, "audit_log", &format!("target = 'call:{id}'")).await,
        idempotency: count(gw, "idempotency_keys", &of_call).await,
    }
}

/// A gateway with `retention`, an old and a new ended call, and old and new refused webhooks.
struct Scene {
    gw: TestGateway,
    old: String,
    new: String,
    old_refused: Vec<String>,
    new_refused: Vec<String>,
    before_old: Footprint,
    before_new: Footprint,
    /// The old call after a pass with no key of its own: its idempotency key has expired
    /// (24 hours by default, every pass removes expired keys).
    kept_old: Footprint,
}

impl Scene {
    async fn start(retention: &str) -> Self {
        let gw = TestGateway::start_config(&config(retention)).await;
        let old = ended_call(&gw).await;
        let old_refused = refused_webhooks(&gw).await;
        for receipt in &old_refused {
            sql(
                &gw,
                &format!(
                    "UPDATE webhook_receipts SET received_at = '{OLD}' WHERE id = '{receipt}' \
                     RETURNING CAST(1 AS BIGINT)"
                ),
            )
            .await;
        }
        make_old(&gw, &old).await;
        let new = ended_call(&gw).await;
        let new_refused = refused_webhooks(&gw).await;
        let before_old = footprint(&gw, &old).await;
        let before_new = footprint(&gw, &new).await;
        assert!(
            before_old.turns >= 3 && before_old.receipts >= 3,
            "{before_old:?}"
        );
        assert!(
            before_old.audit >= 1 && before_old.idempotency == 1,
            "{before_old:?}"
        );
        assert!(
            before_old.events >= 1 && before_old.recording == 1,
            "{before_old:?}"
        );
        let kept_old = Footprint {
            idempotency: 0,
            ..before_old.clone()
        };
        Self {
            gw,
            old,
            new,
            old_refused,
            new_refused,
            before_old,
            before_new,
            kept_old,
        }
    }

    /// Runs a pass and checks the new call was left alone; the old call's footprint after.
    async fn prune(&self) -> (Vec<(String, u64)>, Footprint) {
        let report = prune(&self.gw).await;
        assert_eq!(
            footprint(&self.gw, &self.new).await,
            self.before_new,
            "the new call"
        );
        for receipt in &self.new_refused {
            assert_eq!(
                count(&self.gw, "webhook_receipts", &format!("id = '{receipt}'")).await,
                1
            );
        }
        (report, footprint(&self.gw, &self.old).await)
    }

    async fn refused_left(&self) -> i64 {
        let ids: Vec<String> = self
            .old_refused
            .iter()
            .map(|id| format!("'{id}'"))
            .collect();
        count(
            &self.gw,
            "webhook_receipts",
            &format!("id IN ({})", ids.join(", ")),
        )
        .await
    }
}

#[tokio::test]
async fn webhook_bodies_days_removes_old_bodies_and_keeps_the_receipts() {
    let scene = Scene::start("webhook_bodies_days = 30").await;
    let (report, after) = scene.prune().await;
    let expected = Footprint {
        pruned_bodies: scene.before_old.receipts,
        ..scene.kept_old.clone()
    };
    assert_eq!(after, expected);
    assert_eq!(
        removed(&report, "webhook_bodies"),
        scene.before_old.receipts as u64
    );
    assert_eq!(
        scene.refused_left().await,
        2,
        "refused webhooks are another key's"
    );
    let gw = &scene.gw;
    let items = gw.receipts(&[("call_id", scene.old.as_str())]).await;
    assert!(items.iter().all(|r| r["body_pruned"] == true), "{items:?}");
    let one = gw
        .get_json(&format!("/v1/webhook-receipts/{}", id_of(&items[0])))
        .await;
    assert_eq!(one["body_pruned"], true, "{one}");
    assert!(one.get("body").is_none(), "{one}");
    // Receipts keeping their body carry no marker.
    let fresh = gw.receipts(&[("call_id", scene.new.as_str())]).await;
    let kept = gw
        .get_json(&format!("/v1/webhook-receipts/{}", id_of(&fresh[0])))
        .await;
    assert!(
        kept.get("body_pruned").is_none() && kept["body"].is_string(),
        "{kept}"
    );
    // A second pass finds nothing more.
    assert_eq!(removed(&prune(gw).await, "webhook_bodies"), 0);
    scene.gw.stop().await;
}

#[tokio::test]
async fn refused_webhooks_days_removes_old_refused_receipts_only() {
    let scene = Scene::start("refused_webhooks_days = 30").await;
    let (report, after) = scene.prune().await;
    assert_eq!(after, scene.kept_old);
    assert_eq!(scene.refused_left().await, 0);
    assert_eq!(removed(&report, "refused_webhooks"), 2);
    scene.gw.stop().await;
}

#[tokio::test]
async fn receipts_days_removes_old_receipts_of_every_outcome() {
    let scene = Scene::start("receipts_days = 30").await;
    let (report, after) = scene.prune().await;
    assert_eq!(
        after,
        Footprint {
            receipts: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(scene.refused_left().await, 0);
    assert_eq!(
        removed(&report, "receipts"),
        scene.before_old.receipts as u64 + 2
    );
    assert!(
        scene
            .gw
            .receipts(&[("call_id", scene.old.as_str())])
            .await
            .is_empty()
    );
    // The call and its history stay.
    assert_eq!(scene.gw.call(&scene.old).await["status"], "completed");
    scene.gw.stop().await;
}

#[tokio::test]
async fn recordings_days_removes_old_recordings_and_marks_the_call() {
    let scene = Scene::start("recordings_days = 30").await;
    let gw = &scene.gw;
    gw.get(&format!("/v1/calls/{}/recording", scene.old))
        .await
        .expect_status(200);
    let file = gw
        .dir()
        .join("recordings")
        .join(format!("{}.mp3", scene.old));
    let (report, after) = scene.prune().await;
    assert_eq!(
        after,
        Footprint {
            recording: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(removed(&report, "recordings"), 1);
    assert!(!file.exists(), "the file is deleted");
    let call = gw.call(&scene.old).await;
    assert_eq!(call["recording_pruned"], true, "{call}");
    assert!(call.get("recording_url").is_none(), "{call}");
    let error = gw
        .get(&format!("/v1/calls/{}/recording", scene.old))
        .await
        .expect_error(404);
    assert_eq!(error["error"]["details"]["pruned"], true, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pruned"),
        "{error}"
    );
    let fresh = gw.call(&scene.new).await;
    assert!(fresh.get("recording_pruned").is_none(), "{fresh}");
    gw.get(&format!("/v1/calls/{}/recording", scene.new))
        .await
        .expect_status(200);
    scene.gw.stop().await;
}

#[tokio::test]
async fn transcripts_days_removes_old_transcripts_and_marks_the_call() {
    let scene = Scene::start("transcripts_days = 30").await;
    let (report, after) = scene.prune().await;
    assert_eq!(
        after,
        Footprint {
            turns: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(removed(&report, "transcripts"), 1);
    let gw = &scene.gw;
    assert!(gw.transcript(&scene.old).await.is_empty());
    let call = gw.call(&scene.old).await;
    assert_eq!(call["transcript_pruned"], true, "{call}");
    assert!(gw.call(&scene.new).await.get("transcript_pruned").is_none());
    scene.gw.stop().await;
}

#[tokio::test]
async fn calls_days_removes_old_ended_calls_with_everything_hanging_off_them() {
    let scene = Scene::start("calls_days = 30").await;
    let gw = &scene.gw;
    let receipt_ids: Vec<String> = gw
        .receipts(&[("call_id", scene.old.as_str())])
        .await
        .iter()
        .map(|r| format!("'{}'", id_of(r)))
        .collect();
    let file = gw
        .dir()
        .join("recordings")
        .join(format!("{}.mp3", scene.old));
    let (report, after) = scene.prune().await;
    assert_eq!(removed(&report, "calls"), 1);
    assert_eq!(
        after,
        Footprint {
            call: 0,
            turns: 0,
            receipts: 0,
            pruned_bodies: 0,
            recording: 0,
            status_events: 0,
            events: 0,
            // The audit log is `audit_days`'s.
            audit: scene.before_old.audit,
            idempotency: 0,
        }
    );
    // The receipts are deleted, not left without their call.
    let listed = format!("id IN ({})", receipt_ids.join(", "));
    assert_eq!(count(gw, "webhook_receipts", &listed).await, 0);
    assert_eq!(
        count(
            gw,
            "event_deliveries",
            &format!("call_id = '{}'", scene.old)
        )
        .await,
        0
    );
    assert!(!file.exists());
    gw.get(&format!("/v1/calls/{}", scene.old))
        .await
        .expect_error(404);
    assert_eq!(scene.refused_left().await, 2);
    scene.gw.stop().await;
}

#[tokio::test]
async fn calls_that_have_not_ended_are_never_pruned() {
    let gw = TestGateway::start_config(&config(
        "calls_days = 1\ntranscripts_days = 1\nrecordings_days = 1",
    ))
    .await;
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "frozen"}))
            .await,
    );
    let turn = json!({"event_id": unique("turn"), "call_id": id, "turn": {"speaker": "user", "text": "hello"}});
    gw.apply_webhook("frozen", &turn).await;
    store_recording(&gw, &id).await;
    make_old(&gw, &id).await;
    let before = footprint(&gw, &id).await;
    let report = prune(&gw).await;
    assert!(report.iter().all(|(_, n)| *n == 0), "{report:?}");
    assert_eq!(footprint(&gw, &id).await, before);
    gw.stop().await;
}

#[tokio::test]
async fn audit_days_removes_old_audit_rows() {
    let scene = Scene::start("audit_days = 30").await;
    let (report, after) = scene.prune().await;
    assert_eq!(
        after,
        Footprint {
            audit: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(removed(&report, "audit"), scene.before_old.audit as u64);
    scene.gw.stop().await;
}

#[tokio::test]
async fn idempotency_hours_sets_how_long_keys_are_remembered() {
    let scene = Scene::start("idempotency_hours = 2").await;
    let (report, after) = scene.prune().await;
    assert_eq!(
        after,
        Footprint {
            idempotency: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(removed(&report, "idempotency"), 1);
    // A key younger than the setting replays; one older than it no longer does.
    let gw = &scene.gw;
    let post = |key: &str| {
        gw.client
            .post(gw.url("/v1/calls"))
            .header("Idempotency-Key", key.to_owned())
            .json(&json!({"to": TO, "provider": "frozen"}))
    };
    gw.send(post("k1")).await.expect_status(201);
    gw.send(post("k1")).await.expect_status(200);
    sql(
        gw,
        "UPDATE idempotency_keys SET created_at = '2020-01-01T00:00:00.000000Z' \
         WHERE key = 'k1' RETURNING CAST(1 AS BIGINT)",
    )
    .await;
    assert_eq!(removed(&prune(gw).await, "idempotency"), 1);
    gw.send(post("k1")).await.expect_status(201);
    scene.gw.stop().await;
}

#[tokio::test]
async fn unset_keys_keep_everything_but_expired_idempotency_keys() {
    let scene = Scene::start("").await;
    let (report, after) = scene.prune().await;
    // Keys still expire after 24 hours by default.
    assert_eq!(
        after,
        Footprint {
            idempotency: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(scene.refused_left().await, 2);
    let others: u64 = report
        .iter()
        .filter(|(name, _)| name != "idempotency")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(others, 0, "{report:?}");
    scene.gw.stop().await;
}

/// Copies of refused receipt `receipt`, made old: `n` rows for a pass to remove in batches.
async fn old_copies(gw: &TestGateway, receipt: &str, n: u32) {
    sql(
        gw,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO webhook_receipts (id, provider, topic, received_at, headers, body, body_size, \
             body_truncated, signature, event_type, dedupe_key, call_id, outcome, reason, body_sha256) \
             SELECT r.id || '-' || CAST(n.i AS TEXT), r.provider, r.topic, '{OLD}', r.headers, r.body, \
             r.body_size, r.body_truncated, r.signature, r.event_type, r.dedupe_key, r.call_id, r.outcome, \
             r.reason, r.body_sha256 FROM webhook_receipts r, n WHERE r.id = '{receipt}' \
             RETURNING CAST(1 AS BIGINT)"
        ),
    )
    .await;
}

#[tokio::test]
async fn pruning_while_webhooks_are_ingested_fails_no_webhook() {
    let gw = TestGateway::start_config(&config("refused_webhooks_days = 1")).await;
    let refused = refused_webhooks(&gw).await;
    old_copies(&gw, &refused[0], 1600).await;
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "frozen"}))
            .await,
    );
    let sender = async {
        for n in 0..150 {
            let turn = json!({"event_id": unique("turn"), "call_id": id, "turn": {"speaker": "user", "text": format!("turn {n}")}});
            let reply = gw.webhook("frozen", &turn).await;
            assert_eq!(reply.status, 200, "webhook {n}: {}", reply.text);
        }
    };
    let pruner = async {
        let mut total = 0;
        for _ in 0..3 {
            total += removed(&prune(&gw).await, "refused_webhooks");
        }
        total
    };
    let ((), total) = tokio::join!(sender, pruner);
    assert_eq!(total, 1600, "every old copy, in batches of at most 500");
    assert_eq!(gw.transcript(&id).await.len(), 150);
    assert_eq!(
        count(
            &gw,
            "webhook_receipts",
            &format!("id LIKE '{}-%'", refused[0])
        )
        .await,
        0
    );
    gw.stop().await;
}

/// The config file of `gw` (with `retention`), written into its dir, for the binary.
fn config_file(gw: &TestGateway, retention: &str) -> String {
    let file = gw.dir().join("prune.toml");
    std::fs::write(&file, config(retention).toml(gw.dir())).unwrap();
    file.display().to_string()
}

fn lines(out: &std::process::Output) -> Vec<String> {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn prune_dry_run_changes_nothing_and_reports_what_prune_then_removes() {
    let scene = Scene::start("").await;
    let gw = &scene.gw;
    let retention = "webhook_bodies_days = 30\nrefused_webhooks_days = 30\naudit_days = 30\n\
                     transcripts_days = 30\nrecordings_days = 30";
    let file = config_file(gw, retention);
    let dry = lines(&run_binary(
        gw.dir(),
        &["--config", &file, "prune", "--dry-run"],
    ));
    assert_eq!(
        footprint(gw, &scene.old).await,
        scene.before_old,
        "a dry run removes nothing"
    );
    assert_eq!(scene.refused_left().await, 2);
    let expected = |verb: &str| {
        vec![
            format!("calls: 0 {verb}"),
            format!("receipts: 0 {verb}"),
            format!("refused_webhooks: 2 {verb}"),
            format!("webhook_bodies: {} {verb}", scene.before_old.receipts),
            format!("recordings: 1 {verb}"),
            format!("transcripts: 1 {verb}"),
            format!("audit: {} {verb}", scene.before_old.audit),
            format!("idempotency: 1 {verb}"),
        ]
    };
    assert_eq!(dry, expected("would remove"));
    let done = lines(&run_binary(gw.dir(), &["--config", &file, "prune"]));
    assert_eq!(done, expected("removed"));
    let after = footprint(gw, &scene.old).await;
    assert_eq!(
        after,
        Footprint {
            turns: 0,
            pruned_bodies: scene.before_old.receipts,
            recording: 0,
            audit: 0,
            idempotency: 0,
            ..scene.kept_old.clone()
        }
    );
    assert_eq!(footprint(gw, &scene.new).await, scene.before_new);
    // The CLI's pass is audited.
    let audit = gw
        .list_items("/v1/audit", &[("action", "retention.prune")])
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor_type"], "cli", "{}", audit[0]);
    let again = lines(&run_binary(
        gw.dir(),
        &["--config", &file, "prune", "--dry-run"],
    ));
    assert!(again.iter().all(|line| line.contains(": 0 ")), "{again:?}");
    scene.gw.stop().await;
}

#[test]
fn prune_with_an_invalid_config_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[retention]\ncalls_days = 0\nwebhook_bodies_days = -3\ninterval_secs = 0\nforever = 1\n",
    )
    .unwrap();
    let out = run_binary(dir.path(), &["--config", file.to_str().unwrap(), "prune"]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in [
        "retention.calls_days",
        "retention.webhook_bodies_days",
        "retention.interval_secs",
        "retention.forever",
    ] {
        assert!(stderr.contains(key), "{key} not in {stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing pruned: {out:?}");
}

#[tokio::test]
async fn the_background_task_prunes_at_start_and_one_instance_at_a_time() {
    let gw = TestGateway::start_config(&config("refused_webhooks_days = 1")).await;
    let refused = refused_webhooks(&gw).await;
    sql(
        &gw,
        &format!(
            "UPDATE webhook_receipts SET received_at = '{OLD}' WHERE id = '{}' RETURNING CAST(1 AS BIGINT)",
            refused[0]
        ),
    )
    .await;
    // While another instance holds the lease, a pass does not run.
    sql(
        &gw,
        "INSERT INTO job_leases (name, holder, lease_until) VALUES ('retention', 'elsewhere', \
         '2999-01-01T00:00:00.000000Z') RETURNING CAST(1 AS BIGINT)",
    )
    .await;
    let gateway = gw.server().gateway();
    let busy = voice_gateway::retention::pass(&gateway.store, &gateway.settings, false).await;
    assert!(
        matches!(busy, Err(voice_gateway::retention::PassError::Busy)),
        "{busy:?}"
    );
    assert_eq!(
        count(&gw, "webhook_receipts", &format!("id = '{}'", refused[0])).await,
        1
    );
    sql(
        &gw,
        "UPDATE job_leases SET lease_until = '2020-01-01T00:00:00.000000Z' RETURNING CAST(1 AS BIGINT)",
    )
    .await;
    // A restarted gateway prunes at start (its lease ran out: it is free again).
    let (dir, _) = gw.stop_keeping_files().await;
    let gw = TestGateway::start_in(dir, &config("refused_webhooks_days = 1")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count(&gw, "webhook_receipts", &format!("id = '{}'", refused[0])).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not pruned at start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(&gw, "webhook_receipts", &format!("id = '{}'", refused[1])).await,
        1
    );
    let audit = gw
        .list_items("/v1/audit", &[("action", "retention.prune")])
        .await;
    assert_eq!(audit[0]["actor_type"], "system", "{audit:?}");
    assert_eq!(
        audit[0]["detail"]
            .as_str()
            .map(|d| d.contains("refused_webhooks=1")),
        Some(true),
        "{audit:?}"
    );
    gw.stop().await;
}
