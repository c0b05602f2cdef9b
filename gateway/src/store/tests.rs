//! Store behaviour against a real database: a SQLite file, or PostgreSQL when
//! `TEST_DATABASE_URL` names one (each test then gets a schema of its own).

use std::time::Duration;

use chrono::Utc;
use plugin_api::{
    Call, CallEvent, CallId, CallStatus, Correlation, PhoneNumber, Speaker, StatusUpdate,
    TranscriptSource, Turn,
};

use super::*;
use crate::config::DatabaseConfig;

pub(crate) async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => DatabaseConfig {
            url,
            schema: format!("store_test_{}", uuid::Uuid::now_v7().simple()),
            ..DatabaseConfig::default()
        },
        _ => DatabaseConfig {
            url: format!("sqlite://{}/nested/test.db", dir.path().display()),
            ..DatabaseConfig::default()
        },
    };
    let store = Store::open(&config).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

pub(crate) fn new_call(provider: &str) -> Call {
    let now = Utc::now();
    Call {
        id: CallId::new(),
        provider: provider.into(),
        provider_kind: "echo".into(),
        provider_call_id: None,
        telephony_ids: Default::default(),
        status: CallStatus::Queued,
        status_reason: None,
        to: PhoneNumber::parse("+14155550123").unwrap(),
        from_number_id: None,
        agent_id: None,
        variables: Default::default(),
        metadata: Default::default(),
        first_message: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        ended_at: None,
        duration_secs: None,
        cost: None,
        summary: None,
        success: None,
        analysis: None,
        recording_url: None,
        end_reason: None,
        failure_reason: None,
        cost_breakdown: None,
        vendor_metadata: None,
        idempotency_key: None,
        created_by: None,
        removed: Default::default(),
    }
}

async fn created(store: &Store, call: Call) -> Call {
    match store.create_call(call, None, &[]).await.unwrap() {
        Claim::Created(call) => call,
        other => panic!("{other:?}"),
    }
}

fn status(status: CallStatus) -> CallEvent {
    CallEvent::Status(StatusUpdate {
        status,
        at: None,
        reason: None,
        vendor_status: None,
    })
}

fn turn(speaker: Speaker, text: &str, key: Option<&str>, source: TranscriptSource) -> Turn {
    Turn {
        key: key.map(str::to_owned),
        speaker,
        text: text.into(),
        offset_secs: None,
        is_final: true,
        source,
    }
}

fn receipt(provider: &str, dedupe_key: &str) -> NewReceipt {
    NewReceipt {
        id: uuid::Uuid::now_v7().to_string(),
        provider: provider.into(),
        topic: None,
        received_at: Utc::now(),
        headers: vec![],
        body: b"{}".to_vec(),
        body_truncated: false,
        body_size: 2,
        body_sha256: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
        signature: SignatureVerdict::Unsigned,
        event_type: Some("test".into()),
        dedupe_key: Some(dedupe_key.into()),
        replay_of: None,
    }
}

fn key(key: &str, hash: &str, ttl: Duration) -> IdempotencyKey {
    IdempotencyKey {
        scope: String::new(),
        key: key.into(),
        request_hash: hash.into(),
        ttl,
        claim_timeout: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn an_idempotency_claim_past_its_lease_is_taken_over_once() {
    let (store, _dir) = store().await;
    let day = Duration::from_secs(86_400);
    let mut lease = key("lease", "h", day);
    lease.claim_timeout = Duration::from_millis(300);
    let first = match store
        .create_call(new_call("echo"), Some(&lease), &[])
        .await
        .unwrap()
    {
        Claim::Created(call) => call,
        other => panic!("{other:?}"),
    };
    // Within the lease: still in flight.
    let again = store.create_call(new_call("echo"), Some(&lease), &[]).await;
    assert!(matches!(again.unwrap(), Claim::InFlight));
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Past it, without completion: the stored call, to settle; the claim is renewed, so a
    // second retry at once is in flight again.
    match store
        .create_call(new_call("echo"), Some(&lease), &[])
        .await
        .unwrap()
    {
        Claim::Recovered(call) => assert_eq!(call.id, first.id),
        other => panic!("{other:?}"),
    }
    let again = store.create_call(new_call("echo"), Some(&lease), &[]).await;
    assert!(matches!(again.unwrap(), Claim::InFlight));
    // A different body is still refused, and a completed key replays.
    let mut other = lease.clone();
    other.request_hash = "other".into();
    let mismatch = store.create_call(new_call("echo"), Some(&other), &[]).await;
    assert!(matches!(mismatch.unwrap(), Claim::Mismatch));
    store.complete_idempotency_key(&lease).await.unwrap();
    let replay = store.create_call(new_call("echo"), Some(&lease), &[]).await;
    assert!(matches!(replay.unwrap(), Claim::Replay(call) if call.id == first.id));
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_and_expire() {
    let (store, _dir) = store().await;
    let day = Duration::from_secs(86_400);
    let first = match store
        .create_call(new_call("echo"), Some(&key("k", "h1", day)), &[])
        .await
        .unwrap()
    {
        Claim::Created(call) => call,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        store
            .create_call(new_call("echo"), Some(&key("k", "h1", day)), &[])
            .await
            .unwrap(),
        Claim::InFlight
    ));
    store
        .complete_idempotency_key(&key("k", "h1", day))
        .await
        .unwrap();
    match store
        .create_call(new_call("echo"), Some(&key("k", "h1", day)), &[])
        .await
        .unwrap()
    {
        Claim::Replay(call) => assert_eq!(call.id, first.id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store
            .create_call(new_call("echo"), Some(&key("k", "h2", day)), &[])
            .await
            .unwrap(),
        Claim::Mismatch
    ));
    // An expired key is forgotten: the same key places a new call.
    let short = key("short", "h", Duration::ZERO);
    store
        .create_call(new_call("echo"), Some(&short), &[])
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_call(new_call("echo"), Some(&short), &[])
            .await
            .unwrap(),
        Claim::Created(_)
    ));
}

#[tokio::test]
async fn webhooks_apply_once_and_unknown_calls_are_recorded() {
    let (store, _dir) = store().await;
    let call = created(&store, new_call("echo")).await;
    let correlation = Correlation {
        gateway_call_id: Some(call.id),
        provider_call_id: Some("vendor-1".into()),
    };
    let events = [CallEvent::Turn(turn(
        Speaker::User,
        "hi",
        None,
        TranscriptSource::Live,
    ))];
    let ingest = |provider: &'static str, correlation: Correlation| {
        let store = store.clone();
        let events = events.clone();
        async move {
            store
                .ingest_webhook(&receipt(provider, "d1"), &correlation, &events, None)
                .await
                .unwrap()
        }
    };
    let first = ingest("echo", correlation.clone()).await;
    assert_eq!(first.outcome, ReceiptOutcome::Applied);
    let applied = first.applied.unwrap();
    assert_eq!(applied.call.provider_call_id.as_deref(), Some("vendor-1"));
    let again = ingest("echo", correlation.clone()).await;
    assert_eq!(again.outcome, ReceiptOutcome::Duplicate);
    assert_eq!(
        again.call_id,
        Some(call.id),
        "a duplicate still names its call"
    );
    assert!(again.applied.is_none());
    assert_eq!(store.transcript(call.id, 0).await.unwrap().len(), 1);

    // A call is only found within the provider instance the webhook came to.
    let elsewhere = Correlation {
        gateway_call_id: Some(call.id),
        provider_call_id: None,
    };
    let other = ingest("other", elsewhere).await;
    assert_eq!(other.outcome, ReceiptOutcome::UnknownCall);

    let page = store
        .list_receipts(&ReceiptFilter {
            limit: 10,
            ..ReceiptFilter::default()
        })
        .await
        .unwrap();
    let outcomes: Vec<_> = page.items.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            ReceiptOutcome::UnknownCall,
            ReceiptOutcome::Duplicate,
            ReceiptOutcome::Applied
        ]
    );
}

/// A replay of `original` (a new receipt with its dedupe key).
fn replay_of(original: &NewReceipt) -> NewReceipt {
    NewReceipt {
        replay_of: Some(original.id.clone()),
        ..receipt(&original.provider, original.dedupe_key.as_deref().unwrap())
    }
}

#[tokio::test]
async fn replays_are_duplicates_unless_forced_and_forcing_is_idempotent() {
    let (store, _dir) = store().await;
    let call = created(&store, new_call("echo")).await;
    let correlation = Correlation {
        gateway_call_id: Some(call.id),
        provider_call_id: None,
    };
    // A keyless turn and a status the call has since moved past.
    let events = [
        CallEvent::Turn(turn(
            Speaker::User,
            "Hi there",
            None,
            TranscriptSource::Live,
        )),
        status(CallStatus::Ringing),
    ];
    let original = receipt("echo", "d1");
    let first = store
        .ingest_webhook(&original, &correlation, &events, None)
        .await
        .unwrap();
    assert_eq!(first.outcome, ReceiptOutcome::Applied);
    let later = [status(CallStatus::InProgress)];
    store
        .ingest_webhook(&receipt("echo", "d2"), &correlation, &later, None)
        .await
        .unwrap();
    let history = store.status_events(call.id).await.unwrap().len();

    let replay = |force: bool, events: Vec<CallEvent>| {
        let store = store.clone();
        let receipt = replay_of(&original);
        let original_id = original.id.clone();
        let correlation = correlation.clone();
        async move {
            let done = store
                .replay_webhook(&receipt, &correlation, &events, None, force)
                .await
                .unwrap();
            let stored = store.get_receipt(&receipt.id).await.unwrap().unwrap();
            assert_eq!(stored.outcome, done.outcome);
            assert_eq!(stored.replay_of, Some(original_id));
            assert_eq!(stored.call_id, Some(call.id));
            done
        }
    };
    let plain = replay(false, events.to_vec()).await;
    assert_eq!(plain.outcome, ReceiptOutcome::Duplicate);
    // Forced: applied again, and nothing changed (the turn is stored, the status stale).
    let forced = replay(true, events.to_vec()).await;
    assert_eq!(forced.outcome, ReceiptOutcome::Duplicate);
    assert!(forced.applied.is_none());
    assert_eq!(store.transcript(call.id, 0).await.unwrap().len(), 1);
    assert_eq!(
        store.status_events(call.id).await.unwrap().len(),
        history,
        "a re-application that changed nothing leaves no history"
    );
    let unchanged = store.get_call(call.id).await.unwrap().unwrap();
    assert_eq!(unchanged.status, CallStatus::InProgress);

    // Forced, with what the provider code now reads in the same delivery: applied, beside the
    // delivery's first application (twice, even).
    let mut richer = events.to_vec();
    richer.push(CallEvent::Details(plugin_api::CallDetails {
        summary: Some("Greeted".into()),
        ..Default::default()
    }));
    for expected in ["Greeted", "Greeted again"] {
        if let Some(CallEvent::Details(details)) = richer.last_mut() {
            details.summary = Some(expected.into());
        }
        let forced = replay(true, richer.clone()).await;
        assert_eq!(forced.outcome, ReceiptOutcome::Applied);
        let call = store.get_call(call.id).await.unwrap().unwrap();
        assert_eq!(call.summary.as_deref(), Some(expected));
        assert_eq!(call.status, CallStatus::InProgress);
    }
    assert_eq!(store.transcript(call.id, 0).await.unwrap().len(), 1);
    // The original is as it was.
    let stored = store.get_receipt(&original.id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, ReceiptOutcome::Applied);
    assert_eq!(stored.replay_of, None);
}

#[tokio::test]
async fn a_replay_applies_a_delivery_whose_call_now_exists_once() {
    let (store, _dir) = store().await;
    let correlation = Correlation {
        gateway_call_id: None,
        provider_call_id: Some("vendor-late".into()),
    };
    let events = [CallEvent::Turn(turn(
        Speaker::Agent,
        "Hello",
        None,
        TranscriptSource::Live,
    ))];
    let original = receipt("echo", "late-1");
    let early = store
        .ingest_webhook(&original, &correlation, &events, None)
        .await
        .unwrap();
    assert_eq!(early.outcome, ReceiptOutcome::UnknownCall);
    let call = created(
        &store,
        Call {
            provider_call_id: Some("vendor-late".into()),
            ..new_call("echo")
        },
    )
    .await;
    let replayed = store
        .replay_webhook(&replay_of(&original), &correlation, &events, None, false)
        .await
        .unwrap();
    assert_eq!(replayed.outcome, ReceiptOutcome::Applied);
    assert_eq!(replayed.call_id, Some(call.id));
    // The replay holds the dedupe key now: the vendor's retry, or a second replay, is a duplicate.
    let retry = store
        .ingest_webhook(&receipt("echo", "late-1"), &correlation, &events, None)
        .await
        .unwrap();
    assert_eq!(retry.outcome, ReceiptOutcome::Duplicate);
    let again = store
        .replay_webhook(&replay_of(&original), &correlation, &events, None, false)
        .await
        .unwrap();
    assert_eq!(again.outcome, ReceiptOutcome::Duplicate);
    assert_eq!(store.transcript(call.id, 0).await.unwrap().len(), 1);
    let stored = store.get_receipt(&original.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.outcome, stored.call_id),
        (ReceiptOutcome::UnknownCall, None)
    );
}

#[tokio::test]
async fn statuses_move_forward_only_and_history_keeps_stale_ones() {
    let (store, _dir) = store().await;
    let call = created(&store, new_call("echo")).await;
    let events = [
        status(CallStatus::InProgress),
        status(CallStatus::Ringing),
        status(CallStatus::Completed),
        status(CallStatus::Failed),
    ];
    let applied = store
        .apply_events(call.id, &events, None, EventSource::Dispatch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.call.status, CallStatus::Completed);
    assert!(applied.call.started_at.is_some() && applied.call.ended_at.is_some());
    assert!(
        applied.call.duration_secs.is_some(),
        "derived from start and end"
    );
    let changes: Vec<_> = applied.status_changes.iter().map(|c| c.to).collect();
    assert_eq!(changes, [CallStatus::InProgress, CallStatus::Completed]);
    let history: Vec<_> = store
        .status_events(call.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.to_status, e.applied))
        .collect();
    assert_eq!(
        history,
        [
            (CallStatus::Queued, true),
            (CallStatus::InProgress, true),
            (CallStatus::Ringing, false),
            (CallStatus::Completed, true),
            (CallStatus::Failed, false),
        ]
    );
}

#[tokio::test]
async fn post_call_transcript_reconciles_live_turns() {
    let (store, _dir) = store().await;
    let call = created(&store, new_call("echo")).await;
    let live = [
        CallEvent::Turn(turn(
            Speaker::Agent,
            "Hello, Ada!",
            None,
            TranscriptSource::Live,
        )),
        CallEvent::Turn(turn(
            Speaker::User,
            "Hi there",
            Some("u1"),
            TranscriptSource::Live,
        )),
    ];
    store
        .apply_events(call.id, &live, None, EventSource::Dispatch)
        .await
        .unwrap();
    let report = [CallEvent::Transcript {
        turns: vec![
            turn(
                Speaker::Agent,
                "hello ada",
                None,
                TranscriptSource::PostCall,
            ),
            turn(
                Speaker::User,
                "Hi there, friend",
                Some("u1"),
                TranscriptSource::PostCall,
            ),
            turn(Speaker::Agent, "Goodbye", None, TranscriptSource::PostCall),
        ],
    }];
    let applied = store
        .apply_events(call.id, &report, None, EventSource::Dispatch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.new_turns.len(), 1);
    let turns = store.transcript(call.id, 0).await.unwrap();
    let texts: Vec<_> = turns
        .iter()
        .map(|t| (t.seq, t.text.as_str(), t.source))
        .collect();
    assert_eq!(
        texts,
        [
            (1, "Hello, Ada!", TranscriptSource::Live),
            (2, "Hi there", TranscriptSource::Live),
            (3, "Goodbye", TranscriptSource::PostCall),
        ]
    );
    assert_eq!(
        store.transcript(call.id, 2).await.unwrap().len(),
        1,
        "after_seq"
    );
}

#[tokio::test]
async fn pages_are_stable_under_inserts() {
    let (store, _dir) = store().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(created(&store, new_call("echo")).await.id);
    }
    ids.reverse();
    let filter = |before_id| CallFilter {
        before_id,
        limit: 2,
        ..CallFilter::default()
    };
    let first = store.list_calls(&filter(None)).await.unwrap();
    created(&store, new_call("echo")).await;
    let second = store.list_calls(&filter(first.next)).await.unwrap();
    let third = store.list_calls(&filter(second.next)).await.unwrap();
    let seen: Vec<_> = [first.items, second.items, third.items]
        .concat()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(seen, ids);
    assert!(third.next.is_none());
}

#[tokio::test]
async fn stale_calls_are_claimed_by_provider_and_age_once_per_lease() {
    let (store, _dir) = store().await;
    let mut call = new_call("vendor");
    call.provider_call_id = Some("v-1".into());
    let call = created(&store, call).await;
    // No vendor id yet (e.g. the create timed out): still a candidate, found by the gateway's id.
    let unknown = created(&store, new_call("vendor")).await;
    let later = Utc::now() + chrono::TimeDelta::seconds(1);
    let lease = Utc::now() + chrono::TimeDelta::seconds(60);
    let claim = |providers: &'static [&'static str], before, lease_until| {
        let store = store.clone();
        async move {
            let providers: Vec<String> = providers.iter().map(|p| p.to_string()).collect();
            let mut ids = store
                .claim_stale_calls(&providers, before, lease_until, 10)
                .await
                .unwrap();
            ids.sort();
            ids
        }
    };
    assert!(claim(&["echo"], later, lease).await.is_empty());
    assert!(claim(&["vendor"], call.created_at, lease).await.is_empty());
    let mut both = vec![call.id, unknown.id];
    both.sort();
    assert_eq!(claim(&["vendor"], later, lease).await, both);
    // Held until the lease ends, by whoever asks.
    assert!(claim(&["vendor"], later, lease).await.is_empty());
    let expired = Utc::now() - chrono::TimeDelta::seconds(1);
    sqlx::query("UPDATE calls SET reconcile_lease_until = $1")
        .bind(codec::ts(expired))
        .execute(&store.writer)
        .await
        .unwrap();
    assert_eq!(claim(&["vendor"], later, lease).await, both);
}

#[tokio::test]
async fn concurrent_reconcilers_claim_disjoint_calls() {
    let (store, _dir) = store().await;
    for _ in 0..30 {
        created(&store, new_call("vendor")).await;
    }
    let later = Utc::now() + chrono::TimeDelta::seconds(1);
    let lease = Utc::now() + chrono::TimeDelta::seconds(60);
    let providers = vec!["vendor".to_owned()];
    let claims = (0..4).map(|_| {
        let (store, providers) = (store.clone(), providers.clone());
        tokio::spawn(async move {
            store
                .claim_stale_calls(&providers, later, lease, 10)
                .await
                .unwrap()
        })
    });
    let mut claimed: Vec<CallId> = Vec::new();
    for claim in futures_util::future::join_all(claims).await {
        claimed.extend(claim.unwrap());
    }
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), total, "no call claimed twice");
    assert_eq!(total, 30, "every call claimed once");
}

#[tokio::test]
async fn a_receipt_stored_by_a_try_whose_answer_was_lost_is_answered_again() {
    let (store, _dir) = store().await;
    let call = created(&store, new_call("echo")).await;
    let correlation = Correlation {
        gateway_call_id: Some(call.id),
        provider_call_id: None,
    };
    let events = [CallEvent::Turn(turn(
        Speaker::User,
        "hi",
        None,
        TranscriptSource::Live,
    ))];
    // The same receipt (same id) twice, as a retry after a commit whose answer was lost.
    let receipt = receipt("echo", "lost-answer");
    let first = store
        .ingest_webhook(&receipt, &correlation, &events, None)
        .await
        .unwrap();
    let retry = store
        .ingest_webhook(&receipt, &correlation, &events, None)
        .await
        .unwrap();
    assert_eq!(first.outcome, ReceiptOutcome::Applied);
    assert_eq!(retry.outcome, ReceiptOutcome::Applied, "what was stored");
    assert_eq!(retry.call_id, Some(call.id));
    assert_eq!(store.transcript(call.id, 0).await.unwrap().len(), 1);
}

/// A live subscribe by a vendor or telephony id must not read every call: found through the
/// telephony ids' table and the vendor-id index. The query plan is checked on SQLite; the same
/// statement and indexes serve PostgreSQL (whose planner picks by statistics a test's few rows
/// do not have; tests/e2e/migrations.rs holds both schemas to the same indexes).
#[tokio::test]
async fn calls_are_found_by_telephony_and_vendor_ids_through_indexes() {
    let (store, _dir) = store().await;
    let call = created(&store, new_call("echo")).await;
    let details = CallEvent::Details(plugin_api::CallDetails {
        provider_call_id: Some("conv-1".into()),
        telephony_ids: plugin_api::TelephonyIds::default().with("twilio_call_sid", "CA-sid-1"),
        ..Default::default()
    });
    store
        .apply_events(call.id, &[details], None, EventSource::Reconcile)
        .await
        .unwrap();
    for identifier in ["CA-sid-1", "conv-1"] {
        let found = store.find_call(identifier).await.unwrap();
        assert_eq!(found.map(|c| c.id), Some(call.id), "{identifier}");
    }
    assert!(store.find_call("CA-unknown").await.unwrap().is_none());

    if store.backend() != Backend::Sqlite {
        return;
    }
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {}",
        calls::find_call_sql()
    )))
    .bind("CA-sid-1")
    .fetch_all(&store.reader)
    .await
    .unwrap()
    .iter()
    .map(|row| sqlx::Row::try_get::<String, _>(row, "detail").unwrap())
    .collect();
    assert!(
        plan.iter().all(|step| !step.starts_with("SCAN")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn a_call_created_with_initial_events_is_stored_with_them_in_one_go() {
    let (store, _dir) = store().await;
    let claim = store
        .create_call(new_call("echo"), None, &[status(CallStatus::Initiating)])
        .await
        .unwrap();
    let Claim::Created(call) = claim else {
        panic!("{claim:?}");
    };
    assert_eq!(call.status, CallStatus::Initiating);
    let stored = store.get_call(call.id).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Initiating);
    let history: Vec<_> = store
        .status_events(call.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.from_status, e.to_status, e.source))
        .collect();
    assert_eq!(
        history,
        [
            (None, CallStatus::Queued, "api".to_owned()),
            (
                Some(CallStatus::Queued),
                CallStatus::Initiating,
                "dispatch".to_owned()
            ),
        ]
    );
}
