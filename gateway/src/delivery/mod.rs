//! Events to applications: the delivery workers that post the outbox's deliveries to
//! application endpoints, signed per Standard Webhooks, retried per
//! `[events] retry_schedule_secs`, in sequence order per call and endpoint, with every attempt
//! recorded. The events themselves are written by the store, in the transaction of the change
//! that causes them (`store/outbox.rs`).

pub mod client;
pub mod sign;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use plugin_api::Environment;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::audit::{self, Outcome, Record, Who};
use crate::config::{EventsConfig, Settings};
use crate::gateway::Gateway;
use crate::store::{Attempt, CALL_EVENT_TYPES, Claimed, NewEndpoint, Next, Store, StoreError};
pub use client::EndpointClient;

/// Deliveries one worker claims at once and sends in parallel (each of a different call or
/// endpoint); one claim is one write transaction, so batches keep claims off the writer.
const BATCH: u32 = 8;
/// How long after one answer of a batch the others that come in are recorded with it.
const GATHER: Duration = Duration::from_millis(2);
/// How long a worker waits for a wake-up before looking for due deliveries anyway.
const POLL: Duration = Duration::from_millis(500);
/// How often events past their retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;

/// Checks an endpoint URL's form: `http` or `https` (only `https` in production), with a host.
pub fn check_url_syntax(url: &str, environment: Environment) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if environment != Environment::Production => {}
        "http" => return Err("must be an https URL in production".to_owned()),
        other => return Err(format!("must be an http(s) URL, not {other}")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    if url.len() > 2048 {
        return Err("must be at most 2048 characters".to_owned());
    }
    Ok(())
}

/// Checks an event-type filter: every entry a known type, at least one.
pub fn check_event_types(types: &[String]) -> Result<(), String> {
    let valid = CALL_EVENT_TYPES.join(", ");
    if types.is_empty() {
        return Err(format!(
            "must list at least one event type (omit it for every type; valid: {valid})"
        ));
    }
    for kind in types {
        if !CALL_EVENT_TYPES.contains(&kind.as_str()) {
            return Err(format!("unknown event type '{kind}' (valid: {valid})"));
        }
    }
    Ok(())
}

/// The endpoints `[events.endpoints.<name>]` declares, as stored (id `cfg_<name>`).
pub fn config_endpoints(config: &EventsConfig) -> Vec<NewEndpoint> {
    config
        .endpoints
        .iter()
        .map(|(name, endpoint)| NewEndpoint {
            id: format!("cfg_{name}"),
            source: "config".to_owned(),
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            event_types: endpoint.event_types.clone(),
            enabled: true,
            secret: endpoint.secret.clone(),
        })
        .collect()
}

/// How long a worker holds a delivery: the attempt's timeout and a margin. A delivery whose
/// worker died is tried again (by any instance) once this has passed.
fn lease(settings: &Settings) -> TimeDelta {
    TimeDelta::milliseconds(settings.events.request_timeout_ms as i64) + TimeDelta::seconds(30)
}

/// Starts the delivery workers and the pruner.
pub async fn spawn(gateway: Arc<Gateway>) -> Result<Vec<JoinHandle<()>>, StoreError> {
    gateway
        .store
        .sync_config_endpoints(&config_endpoints(&gateway.settings.events))
        .await?;
    let mut tasks = Vec::new();
    for _ in 0..gateway.settings.events.workers {
        tasks.push(tokio::spawn(work(Arc::clone(&gateway))));
    }
    tasks.push(tokio::spawn(prune(
        gateway.store.clone(),
        gateway.settings.events.retention_days,
    )));
    Ok(tasks)
}

async fn work(gateway: Arc<Gateway>) {
    let signal = gateway.store.outbox_signal();
    loop {
        let woken = signal.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let until = Utc::now() + lease(&gateway.settings);
        match gateway.store.claim_deliveries(BATCH, until).await {
            Ok(claimed) if !claimed.is_empty() => {
                if claimed.len() == BATCH as usize {
                    // There may be more: a peer takes the next batch meanwhile.
                    signal.notify_one();
                }
                // Each of another call (or endpoint): the claim takes the earliest pending
                // delivery of a call to an endpoint only, so these may go in parallel.
                deliver_batch(&gateway, claimed, false).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "claiming event deliveries failed"),
        }
        let _ = tokio::time::timeout(POLL, woken).await;
    }
}

async fn prune(store: Store, retention_days: u64) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let before = Utc::now() - TimeDelta::days(retention_days as i64);
        match store.prune_events(before).await {
            Ok(0) => {}
            Ok(count) => info!(count, "pruned events past their retention"),
            Err(e) => warn!(error = %e, "pruning events failed"),
        }
    }
}

/// What one attempt came to, as the API shows it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub attempt: Attempt,
    pub succeeded: bool,
}

/// Makes one attempt of a claimed delivery and records it. `once`: no retries (the test
/// route's ping).
pub async fn deliver(gateway: &Arc<Gateway>, claimed: Claimed, once: bool) -> Delivered {
    deliver_batch(gateway, vec![claimed], once)
        .await
        .pop()
        .unwrap_or_else(|| unreachable!("one attempt per delivery"))
}

/// One attempt of each claimed delivery, sent in parallel. Answers that come in together
/// (within [`GATHER`] of the first) are recorded in one commit; a slow endpoint never holds up
/// the recording of the others.
async fn deliver_batch(gateway: &Arc<Gateway>, batch: Vec<Claimed>, once: bool) -> Vec<Delivered> {
    use futures_util::StreamExt;
    let mut pending: futures_util::stream::FuturesUnordered<_> = batch
        .into_iter()
        .map(|claimed| async move {
            let tried = attempt(gateway, &claimed, once).await;
            (claimed, tried)
        })
        .collect();
    let mut delivered = Vec::new();
    while let Some(first) = pending.next().await {
        let mut done = vec![first];
        let gather = tokio::time::sleep(GATHER);
        tokio::pin!(gather);
        loop {
            tokio::select! {
                biased;
                next = pending.next() => match next {
                    Some(answered) => done.push(answered),
                    None => break,
                },
                () = &mut gather => break,
            }
        }
        delivered.extend(record(gateway, done).await);
    }
    delivered
}

/// Records attempts in one transaction, then disables the endpoints they condemn.
async fn record(gateway: &Arc<Gateway>, done: Vec<(Claimed, Tried)>) -> Vec<Delivered> {
    let recorded: Vec<(&Claimed, &Attempt, Next)> = done
        .iter()
        .map(|(claimed, tried)| (claimed, &tried.attempt, tried.next))
        .collect();
    let streaks = match gateway.store.record_attempts(&recorded).await {
        Ok(streaks) => streaks,
        Err(e) => {
            warn!(error = %e, "recording event delivery attempts failed");
            vec![None; done.len()]
        }
    };
    let mut delivered = Vec::with_capacity(done.len());
    for ((claimed, tried), failing_since) in done.into_iter().zip(streaks) {
        let hours = gateway.settings.events.disable_after_hours;
        if tried.gone {
            disable(
                gateway,
                &claimed.endpoint.id,
                "the endpoint answered 410 Gone",
            )
            .await;
        } else if let Some(reason) = failing_since
            .and_then(|since| failing_too_long(tried.attempt.attempted_at, since, hours))
        {
            disable(gateway, &claimed.endpoint.id, &reason).await;
        }
        delivered.push(Delivered {
            succeeded: tried.next == Next::Succeeded,
            attempt: tried.attempt,
        });
    }
    delivered
}

/// What one attempt came to, before it is recorded.
struct Tried {
    attempt: Attempt,
    next: Next,
    /// The endpoint answered 410 Gone.
    gone: bool,
}

/// Posts a claimed delivery once, signed, and decides what follows.
async fn attempt(gateway: &Arc<Gateway>, claimed: &Claimed, once: bool) -> Tried {
    let now = Utc::now();
    let timestamp = now.timestamp();
    let secrets = claimed.endpoint.signing_secrets(now);
    let signature = sign::signature_header(
        &secrets,
        &claimed.event_id,
        timestamp,
        claimed.payload.as_bytes(),
    );
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("webhook-id", claimed.event_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let sent = gateway
        .endpoints
        .post(&claimed.endpoint.url, &headers, claimed.payload.clone())
        .await;
    let latency_ms = sent.latency.as_millis() as i64;
    let (attempt, next, gone) = match sent.result {
        Ok(answer) => {
            let ok = (200..300).contains(&answer.status);
            let next = if ok {
                Next::Succeeded
            } else if answer.status == 410 || once {
                Next::Failed
            } else {
                retry(
                    &gateway.settings.events,
                    claimed.attempts,
                    answer.status,
                    answer.retry_after,
                )
            };
            let attempt = Attempt {
                attempted_at: now,
                status_code: Some(answer.status),
                latency_ms,
                error: (!ok).then(|| format!("answered {}", answer.status)),
                response_body: Some(answer.body).filter(|b| !b.is_empty()),
            };
            (attempt, next, answer.status == 410)
        }
        Err(error) => {
            let next = if once {
                Next::Failed
            } else {
                retry(&gateway.settings.events, claimed.attempts, 0, None)
            };
            let attempt = Attempt {
                attempted_at: now,
                status_code: None,
                latency_ms,
                error: Some(error),
                response_body: None,
            };
            (attempt, next, false)
        }
    };
    info!(
        event_id = %claimed.event_id,
        endpoint_id = %claimed.endpoint.id,
        status = attempt.status_code,
        latency_ms,
        outcome = ?next,
        "event delivery attempt"
    );
    Tried {
        attempt,
        next,
        gone,
    }
}

/// Why an endpoint whose every attempt has failed since `since` is disabled at `now`, once
/// that has lasted `disable_after_hours`.
fn failing_too_long(
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    disable_after_hours: u64,
) -> Option<String> {
    let limit = i64::try_from(disable_after_hours)
        .ok()
        .and_then(TimeDelta::try_hours)?;
    (now - since >= limit).then(|| {
        format!(
            "every attempt failed for {disable_after_hours} hours (since {})",
            since.to_rfc3339()
        )
    })
}

/// When to try again after the attempt numbered `done` (0 = the first) failed, or `Failed`
/// when the schedule is exhausted. 429 and 503 honour `Retry-After`.
fn retry(config: &EventsConfig, done: i64, status: u16, retry_after: Option<u64>) -> Next {
    let Some(wait) = config.retry_schedule_secs.get(done.max(0) as usize) else {
        return Next::Failed;
    };
    let jittered = (*wait as f64 * rand::random_range(0.8..=1.2)).max(0.0);
    let secs = match (status, retry_after) {
        (429 | 503, Some(after)) => after.min(MAX_RETRY_AFTER_SECS) as f64,
        _ => jittered,
    };
    Next::Retry(at(Utc::now(), secs))
}

fn at(now: DateTime<Utc>, secs: f64) -> DateTime<Utc> {
    now + TimeDelta::milliseconds((secs * 1000.0) as i64)
}

async fn disable(gateway: &Arc<Gateway>, endpoint: &str, reason: &str) {
    match gateway.store.disable_endpoint(endpoint, reason).await {
        Ok(true) => {
            warn!(endpoint_id = %endpoint, reason, "event endpoint disabled");
            audit::record(
                gateway,
                Record {
                    who: Who::System,
                    action: "event_endpoint.disable",
                    target: Some(format!("event_endpoint:{endpoint}")),
                    client_addr: None,
                    outcome: Outcome::Success,
                    detail: Some(reason.to_owned()),
                },
            )
            .await;
        }
        Ok(false) => {}
        Err(e) => warn!(error = %e, "disabling an event endpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_and_https_in_production() {
        assert!(check_url_syntax("https://app.example.com/hooks", Environment::Production).is_ok());
        assert!(check_url_syntax("http://app.example.com/hooks", Environment::Development).is_ok());
        assert!(check_url_syntax("http://app.example.com/hooks", Environment::Production).is_err());
        assert!(check_url_syntax("ftp://app.example.com/", Environment::Development).is_err());
        assert!(check_url_syntax("not a url", Environment::Development).is_err());
    }

    #[test]
    fn unknown_event_types_list_the_valid_ones() {
        let error = check_event_types(&["call.nope".to_owned()])
            .err()
            .unwrap_or_default();
        assert!(
            error.contains("call.nope") && error.contains("call.ended"),
            "{error}"
        );
        assert!(check_event_types(&["call.ended".to_owned()]).is_ok());
    }

    #[test]
    fn an_endpoint_failing_for_the_limit_is_disabled() {
        let since = Utc::now() - TimeDelta::hours(120);
        let reason = failing_too_long(since + TimeDelta::hours(120), since, 120);
        assert!(
            reason.as_deref().is_some_and(|r| r.contains("120 hours")),
            "{reason:?}"
        );
        assert_eq!(
            failing_too_long(since + TimeDelta::minutes(119 * 60 + 59), since, 120),
            None
        );
        assert_eq!(failing_too_long(since, since, 1), None);
        assert_eq!(failing_too_long(Utc::now(), since, u64::MAX), None);
    }

    #[test]
    fn the_schedule_runs_out() {
        let config = EventsConfig {
            retry_schedule_secs: vec![5],
            ..EventsConfig::default()
        };
        assert!(matches!(retry(&config, 0, 500, None), Next::Retry(_)));
        assert_eq!(retry(&config, 1, 500, None), Next::Failed);
        let Next::Retry(when) = retry(&config, 0, 429, Some(60)) else {
            panic!("no retry");
        };
        assert!(when - Utc::now() > TimeDelta::seconds(55));
    }
}
