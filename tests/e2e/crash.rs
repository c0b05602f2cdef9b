//! Crash tests of the webhook path (issue 18): the real binary is killed (SIGKILL) while many
//! signed webhooks wait on their commits, which the store may share among them, then started
//! again on the same files and port, and the vendors retry what was not acknowledged. Nothing
//! acknowledged is lost, nothing is applied twice, every retry is accepted, and the transcripts
//! stay gap-free and in acknowledgement order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;

use voice_gateway::recovery::INTERRUPTED;

use crate::harness::{
    GatewayConfig, KILL_TESTS, PROVIDERS, SECRET, TO, TestGateway, assert_fields, echo_signature,
    expect_outcome, serve_binary, serve_setup_with_binary, test_database_url, unix_now,
};

/// An echo instance whose script never runs within a test and whose webhooks are signed: the
/// test is the vendor.
const PROVIDER: &str = "signed_frozen";

/// Calls the webhooks go to, round-robin.
const CALLS: usize = 16;

/// Vendor tasks sending at once, each its next webhook as soon as the last one is answered.
const VENDORS: usize = 48;

/// How long the vendors keep retrying after the restart before the test fails.
const RETRY_FOR: Duration = Duration::from_secs(20);

/// One vendor webhook: a turn of one call with an event id of its own, signed once, so a retry
/// is the same request (same body, same signature, same event id).
#[derive(Debug, Clone)]
struct Webhook {
    n: usize,
    event_id: String,
    /// Index into the calls.
    call: usize,
    text: String,
    body: String,
    signature: String,
}

impl Webhook {
    fn new(n: usize, calls: &[String]) -> Self {
        let call = n % calls.len();
        let event_id = format!("crash-{n}");
        let text = format!("turn {n} for call {call}");
        // No turn id: a second apply of the same webhook would add a second turn, not update one.
        let body = json!({
            "event_id": event_id,
            "call_id": calls[call],
            "turn": {"speaker": "user", "text": text, "final": true},
        })
        .to_string();
        let signature = echo_signature(SECRET, unix_now(), &body);
        Self {
            n,
            event_id,
            call,
            text,
            body,
            signature,
        }
    }
}

/// A 2xx answer read to its end: the webhook is acknowledged.
#[derive(Debug, Clone)]
struct Ack {
    outcome: String,
    receipt_id: String,
}

/// Posts `hook` once; `Err` says why it was not acknowledged (no answer, a cut connection, a
/// non-2xx status, a body cut short).
async fn deliver(client: &reqwest::Client, url: &str, hook: &Webhook) -> Result<Ack, String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-echo-signature", &hook.signature)
        .body(hook.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer ({e})"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{status} whose body was cut ({e})"))?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    let answer: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{status} whose body is not JSON ({e}): {text}"))?;
    let field = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
    Ok(Ack {
        outcome: field("outcome"),
        receipt_id: field("receipt_id"),
    })
}

/// What became of a webhook's first delivery, with when it was sent and answered on one
/// counter shared by every vendor (so "answered before that one was sent" can be told).
#[derive(Debug)]
struct FirstDelivery {
    hook: Webhook,
    sent_at: u64,
    answered_at: u64,
    answer: Result<Ack, String>,
}

/// What the retries after the restart got: the first 2xx, or the last failure.
#[derive(Debug)]
struct Retried {
    hook: Webhook,
    acknowledged_before: bool,
    answer: Result<Ack, String>,
}

/// A client as a vendor's: no credentials, a timeout per request, its own connection pool.
fn vendor_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// Lists `problems` (the first 40, and how many there are) if there are any.
#[track_caller]
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// "acknowledged" or "not acknowledged", for failure messages.
fn acked_word(acknowledged: bool) -> &'static str {
    if acknowledged {
        "acknowledged"
    } else {
        "not acknowledged"
    }
}

/// Issue 18's crash test. What catches what:
/// - an acknowledgement before the commit is durable: the acknowledged webhooks whose commit
///   the kill lost have no applied receipt, and their turn is missing from the transcript;
/// - a webhook applied twice (dedupe lost across the restart, or a duplicate applied again
///   behind its `duplicate` answer): a second applied receipt, the turn twice, or a retried
///   acknowledged webhook answered other than `duplicate`;
/// - a webhook cut off by the kill refused for good, or half stored (its receipt without its
///   turn): a retry never accepted, or a receipt without its turn;
/// - sequences reused, skipped or reordered: the gap-free check, and the order of webhooks
///   one acknowledged before another was sent;
/// - a turn changing a status: the statuses and status histories.
#[tokio::test]
async fn killed_mid_group_commit_under_load_no_acknowledged_webhook_is_lost_or_applied_twice() {
    let _one_at_a_time = KILL_TESTS.lock().await;
    let started = Instant::now();
    let config = GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
        .sections(&format!(
            "[providers.{PROVIDER}]\nkind = \"echo\"\nturn_interval_ms = 600000\nwebhook_secret = \"{SECRET}\"\n\n[log]\nlevel = \"warn\"\n"
        ));

    // The database and an admin key set up in process; then the binary serves, and places the
    // calls itself (so they are its own, live while the load runs: see `recovery`).
    let setup = TestGateway::start_config(&config).await;
    let (process, gateway, port) = serve_setup_with_binary(setup, &config).await;
    let mut calls = Vec::new();
    let mut histories = Vec::new();
    for i in 0..CALLS {
        let id = gateway.create_call_on(PROVIDER, TO).await;
        let body =
            json!({"event_id": format!("status-{i}"), "call_id": id, "status": "in_progress"})
                .to_string();
        let signature = echo_signature(SECRET, unix_now(), &body);
        let reply = gateway
            .webhook_with(PROVIDER, &body, &vec![("x-echo-signature", signature)])
            .await;
        expect_outcome(&reply, "applied");
        assert_eq!(gateway.call(&id).await["status"], "in_progress");
        histories.push(gateway.events(&id).await);
        calls.push(id);
    }
    let url = gateway.url(&format!("/webhooks/{PROVIDER}"));

    // Where to kill: after a number of acknowledgements that changes from run to run.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos() as usize;
    let kill_after = 300 + nanos % 501;
    println!("killing the gateway after {kill_after} acknowledged webhooks");

    // The vendors: each sends its next webhook (the next number of all) as soon as its last
    // one is answered, so about VENDORS writes wait together at every moment.
    let calls = Arc::new(calls);
    let next = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reached = Arc::new(Notify::new());
    let client = vendor_client();
    let mut vendors = Vec::new();
    for _ in 0..VENDORS {
        let (calls, next, clock) = (calls.clone(), next.clone(), clock.clone());
        let (acknowledged, in_flight, stop) =
            (acknowledged.clone(), in_flight.clone(), stop.clone());
        let (reached, client, url) = (reached.clone(), client.clone(), url.clone());
        vendors.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let hook = Webhook::new(next.fetch_add(1, Ordering::SeqCst), &calls);
                in_flight.fetch_add(1, Ordering::SeqCst);
                let sent_at = clock.fetch_add(1, Ordering::SeqCst);
                let answer = deliver(&client, &url, &hook).await;
                let answered_at = clock.fetch_add(1, Ordering::SeqCst);
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if answer.is_ok() && acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                    reached.notify_one();
                }
                sent.push(FirstDelivery {
                    hook,
                    sent_at,
                    answered_at,
                    answer,
                });
            }
            sent
        }));
    }
    let load_started = Instant::now();
    let got_there = tokio::time::timeout(Duration::from_secs(30), reached.notified()).await;
    assert!(
        got_there.is_ok(),
        "only {} of {kill_after} webhooks were acknowledged within 30 s",
        acknowledged.load(Ordering::SeqCst)
    );
    // No await between these: no vendor starts a webhook after `stop`, and every one in flight
    // now is cut by the kill.
    stop.store(true, Ordering::SeqCst);
    let cut = in_flight.load(Ordering::SeqCst);
    drop(process);
    let load_took = load_started.elapsed();
    let mut first = Vec::new();
    for vendor in vendors {
        first.extend(vendor.await.expect("vendor task"));
    }
    first.sort_by_key(|d| d.hook.n);
    let acked_count = first.iter().filter(|d| d.answer.is_ok()).count();
    let unacked_count = first.len() - acked_count;
    println!(
        "killed after {:?} of load: {} webhooks sent, {acked_count} acknowledged, {unacked_count} not ({cut} in flight at the kill)",
        load_took,
        first.len()
    );
    assert!(
        unacked_count > 0,
        "the kill cut no webhook off, so nothing was tested ({} sent, all acknowledged)",
        first.len()
    );

    // Every first delivery that was acknowledged was applied: each event id was new.
    let mut problems = Vec::new();
    for delivery in &first {
        if let Ok(ack) = &delivery.answer
            && ack.outcome != "applied"
        {
            problems.push(format!(
                "webhook {} (first delivery) was acknowledged as `{}`, not `applied`",
                delivery.hook.event_id, ack.outcome
            ));
        }
    }
    assert_no_problems("before the kill", &problems);

    // Started again on the same files and port; every vendor retries each of its webhooks that
    // was not acknowledged until it is, and a sample of acknowledged ones (a vendor that missed
    // the answer), which must be recognized as duplicates.
    let restarted_at = Instant::now();
    let _process = serve_binary(gateway.dir(), port);
    gateway.wait_ready().await;
    println!("restarted in {:?}", restarted_at.elapsed());
    // On SQLite the new process ends the echo calls the killed one was driving (`failed`,
    // reason INTERRUPTED, as `recovery` documents) as it starts; on PostgreSQL only calls
    // unchanged for `reconcile_after_secs` (600 s). Waited for before the vendors retry, so
    // what each call's status history must end as is known.
    if test_database_url().is_none() {
        for (i, id) in calls.iter().enumerate() {
            let call = gateway.wait_for_status(id, "failed").await;
            assert_eq!(call["status_reason"], INTERRUPTED, "call {i}: {call}");
            let history = gateway.events(id).await;
            let (last, earlier) = history.split_last().expect("a status history");
            assert_eq!(
                earlier,
                histories[i].as_slice(),
                "call {i}: the history before the kill"
            );
            assert_fields!(last, {"from_status": "in_progress", "to_status": "failed",
                "applied": true, "source": "reconcile", "reason": INTERRUPTED});
            histories[i] = history;
        }
    }
    let mut retries: Vec<Vec<(Webhook, bool)>> = vec![Vec::new(); VENDORS];
    let to_retry = first
        .iter()
        .filter(|d| d.answer.is_err() || d.hook.n % 7 == 0)
        .map(|d| (d.hook.clone(), d.answer.is_ok()));
    for (i, retry) in to_retry.enumerate() {
        retries[i % VENDORS].push(retry);
    }
    let client = vendor_client();
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut vendors = Vec::new();
    for hooks in retries {
        let (client, url) = (client.clone(), url.clone());
        vendors.push(tokio::spawn(async move {
            let mut retried = Vec::new();
            for (hook, acknowledged_before) in hooks {
                let answer = loop {
                    let answer = deliver(&client, &url, &hook).await;
                    if answer.is_ok() || tokio::time::Instant::now() >= deadline {
                        break answer;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                retried.push(Retried {
                    hook,
                    acknowledged_before,
                    answer,
                });
            }
            retried
        }));
    }
    let mut retried = Vec::new();
    for vendor in vendors {
        retried.extend(vendor.await.expect("vendor task"));
    }
    retried.sort_by_key(|r| r.hook.n);
    for retry in &retried {
        let hook = &retry.hook;
        let before = acked_word(retry.acknowledged_before);
        match (&retry.answer, retry.acknowledged_before) {
            (Err(last), _) => problems.push(format!(
                "webhook {} (call {}), {before} before the kill, was not accepted when retried for {RETRY_FOR:?} after the restart; last answer: {last}",
                hook.event_id, hook.call
            )),
            (Ok(ack), true) if ack.outcome != "duplicate" => problems.push(format!(
                "webhook {}, acknowledged before the kill, was answered `{}` when retried, not `duplicate`",
                hook.event_id, ack.outcome
            )),
            (Ok(ack), false) if ack.outcome != "applied" && ack.outcome != "duplicate" => {
                problems.push(format!(
                    "webhook {}, not acknowledged before the kill, was answered `{}` when retried",
                    hook.event_id, ack.outcome
                ));
            }
            _ => {}
        }
    }
    assert_no_problems("retries after the restart", &problems);
    let committed_unanswered = retried
        .iter()
        .filter(|r| !r.acknowledged_before)
        .filter(|r| r.answer.as_ref().is_ok_and(|a| a.outcome == "duplicate"))
        .count();
    println!(
        "retried {} webhooks: {unacked_count} not acknowledged ({committed_unanswered} of them had been committed, unanswered), {} acknowledged ones",
        retried.len(),
        retried.len() - unacked_count
    );

    // Exactly one applied receipt per webhook sent (by event id, the echo dedupe key), and for
    // an acknowledged one it is the receipt its answer named.
    let applied = gateway
        .all_items(
            "/v1/webhook-receipts",
            &[("provider", PROVIDER), ("outcome", "applied")],
        )
        .await;
    let mut receipts: HashMap<&str, Vec<&Value>> = HashMap::new();
    for receipt in &applied {
        let key = receipt["dedupe_key"].as_str().unwrap_or_default();
        receipts.entry(key).or_default().push(receipt);
    }
    for delivery in &first {
        let hook = &delivery.hook;
        let before = acked_word(delivery.answer.is_ok());
        let found = receipts.remove(hook.event_id.as_str()).unwrap_or_default();
        if found.len() != 1 {
            problems.push(format!(
                "webhook {} ({before} before the kill) has {} applied receipts, not 1: {found:?}",
                hook.event_id,
                found.len()
            ));
            continue;
        }
        let receipt = found[0];
        if receipt["call_id"] != calls[hook.call].as_str() {
            problems.push(format!(
                "webhook {}'s applied receipt names call {}, not {}",
                hook.event_id, receipt["call_id"], calls[hook.call]
            ));
        }
        if let Ok(ack) = &delivery.answer
            && receipt["id"] != ack.receipt_id.as_str()
        {
            problems.push(format!(
                "webhook {} was acknowledged with receipt {}, but its applied receipt is {}",
                hook.event_id, ack.receipt_id, receipt["id"]
            ));
        }
    }
    for i in 0..CALLS {
        receipts.remove(format!("status-{i}").as_str());
    }
    for (key, found) in &receipts {
        problems.push(format!(
            "{} applied receipt(s) with dedupe key {key:?}, which no vendor sent",
            found.len()
        ));
    }
    assert_no_problems("applied receipts", &problems);

    // Each call's transcript: sequences 1..n, the turn of every webhook sent to it exactly once
    // (acknowledged before the kill or accepted after it), nothing else, and a webhook sent after
    // another one to the same call was acknowledged comes after it.
    let mut turns_checked = 0;
    for (i, id) in calls.iter().enumerate() {
        let turns = gateway.transcript(id).await;
        turns_checked += turns.len();
        let seqs: Vec<i64> = turns
            .iter()
            .map(|t| t["seq"].as_i64().unwrap_or(-1))
            .collect();
        if seqs != (1..=turns.len() as i64).collect::<Vec<_>>() {
            problems.push(format!(
                "call {i} ({id}): transcript sequences are not 1..={}: {seqs:?}",
                turns.len()
            ));
        }
        let mut seqs_of: HashMap<&str, Vec<i64>> = HashMap::new();
        for turn in &turns {
            let text = turn["text"].as_str().unwrap_or_default();
            seqs_of
                .entry(text)
                .or_default()
                .push(turn["seq"].as_i64().unwrap_or(-1));
        }
        let mine: Vec<&FirstDelivery> = first.iter().filter(|d| d.hook.call == i).collect();
        let mut seq_of = HashMap::new();
        for delivery in &mine {
            let hook = &delivery.hook;
            let before = acked_word(delivery.answer.is_ok());
            match seqs_of.remove(hook.text.as_str()).as_deref() {
                None | Some([]) => problems.push(format!(
                    "call {i}: the turn of webhook {} ({before} before the kill) is not in the transcript",
                    hook.event_id
                )),
                Some([seq]) => {
                    seq_of.insert(hook.n, *seq);
                }
                Some(many) => problems.push(format!(
                    "call {i}: the turn of webhook {} ({before} before the kill) is in the transcript {} times, at sequences {many:?}",
                    hook.event_id,
                    many.len()
                )),
            }
        }
        for (text, seqs) in &seqs_of {
            problems.push(format!(
                "call {i}: turn {text:?} at sequences {seqs:?} comes from no webhook sent to it"
            ));
        }
        let acked: Vec<&&FirstDelivery> = mine.iter().filter(|d| d.answer.is_ok()).collect();
        for earlier in &acked {
            for later in acked.iter().filter(|l| l.sent_at > earlier.answered_at) {
                let (Some(a), Some(b)) = (seq_of.get(&earlier.hook.n), seq_of.get(&later.hook.n))
                else {
                    continue;
                };
                if a >= b {
                    problems.push(format!(
                        "call {i}: webhook {} was sent after {} was acknowledged, but its turn has sequence {b}, not after {a}",
                        later.hook.event_id, earlier.hook.event_id
                    ));
                }
            }
        }
        // The turns changed no status: the call is as the restart left it (see above), its
        // history too.
        let call = gateway.call(id).await;
        let status = if test_database_url().is_none() {
            "failed"
        } else {
            "in_progress"
        };
        if call["status"] != status {
            problems.push(format!(
                "call {i} ({id}) is {}, not {status}",
                call["status"]
            ));
        }
        let history = gateway.events(id).await;
        if history != histories[i] {
            problems.push(format!(
                "call {i} ({id}): status history changed from {:?} to {history:?}",
                histories[i]
            ));
        }
    }
    assert_no_problems("transcripts and calls", &problems);
    println!(
        "{} webhooks, {turns_checked} turns checked; the test took {:?}",
        first.len(),
        started.elapsed()
    );
}
