//! Reconciliation: vendors' webhooks get lost, so calls that stop changing before they end are
//! fetched from the vendor and the answer applied like a webhook's events. Driven by the
//! provider's optional fetch capability, so every provider that has it gets it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures_util::StreamExt;
use plugin_api::{Call, CallId, ProviderError};
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::dispatch::DispatchError;
use crate::gateway::Gateway;
use crate::outbound::RequestKind;
use crate::store::EventSource;

/// Calls fetched at once; the rest wait for the next round.
const CONCURRENCY: usize = 4;
/// Calls looked at per round.
const BATCH: u32 = 100;
/// Longest wait before a call whose fetch keeps failing is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Fetches one call from its vendor and applies what the vendor says. A fetch that discovers
/// the vendor's id (e.g. after a create that timed out) is followed by one fetch of the call
/// itself.
pub async fn refresh(gateway: &Arc<Gateway>, id: CallId) -> Result<Call, DispatchError> {
    let knew_vendor_id = gateway
        .store
        .get_call(id)
        .await?
        .ok_or(DispatchError::CallNotFound)?
        .provider_call_id
        .is_some();
    let call = fetch_once(gateway, id).await?;
    if !knew_vendor_id && call.provider_call_id.is_some() && !call.status.is_terminal() {
        return fetch_once(gateway, id).await;
    }
    Ok(call)
}

async fn fetch_once(gateway: &Arc<Gateway>, id: CallId) -> Result<Call, DispatchError> {
    let (call, handle) = gateway
        .store
        .call_handle(id)
        .await?
        .ok_or(DispatchError::CallNotFound)?;
    let instance = gateway
        .provider(&call.provider)
        .ok_or_else(|| DispatchError::UnknownProvider(call.provider.clone()))?;
    if !instance.manifest.capabilities.fetch_call {
        return Err(DispatchError::Unsupported(
            instance.name.clone(),
            "fetch calls",
        ));
    }
    let call = handle.clone();
    let outbound = instance
        .call(move |provider| provider.build_fetch_call(&call))
        .await
        .unwrap_or_else(|timeout| Err(ProviderError::Plugin(timeout.to_string())))
        .map_err(|e| DispatchError::ProviderRejected {
            call_id: id,
            message: e.to_string(),
        })?;
    let response = gateway
        .vendors
        .execute(instance, RequestKind::Fetch, outbound)
        .await
        .map_err(|e| DispatchError::ProviderRejected {
            call_id: id,
            message: e.into_message(),
        })?
        .response;
    let events = instance
        .call(move |provider| provider.parse_fetch_call_response(&handle, &response))
        .await
        .unwrap_or_else(|timeout| Err(ProviderError::Plugin(timeout.to_string())))
        .map_err(|e| DispatchError::ProviderRejected {
            call_id: id,
            message: e.to_string(),
        })?;
    let applied = gateway
        .store
        .apply_events(id, &events, None, EventSource::Reconcile)
        .await?
        .ok_or(DispatchError::CallNotFound)?;
    Ok(applied.call)
}

/// Failed fetches, so a vendor that keeps failing is asked less and less often.
#[derive(Default)]
struct Backoff {
    failures: HashMap<CallId, (u32, Instant)>,
}

impl Backoff {
    fn ready(&self, id: &CallId) -> bool {
        self.failures
            .get(id)
            .is_none_or(|(_, next)| Instant::now() >= *next)
    }

    fn failed(&mut self, id: CallId, base: Duration) {
        let entry = self.failures.entry(id).or_insert((0, Instant::now()));
        entry.0 += 1;
        let wait = base
            .saturating_mul(2u32.saturating_pow(entry.0.min(16)))
            .min(MAX_BACKOFF);
        entry.1 = Instant::now() + wait;
    }

    fn succeeded(&mut self, id: &CallId) {
        self.failures.remove(id);
    }
}

/// Runs the reconciler until the process ends (no-op when switched off in config).
pub fn spawn(gateway: Arc<Gateway>) -> Option<tokio::task::JoinHandle<()>> {
    let config = &gateway.settings.gateway;
    if config.reconcile_interval_secs == 0 {
        return None;
    }
    let interval = Duration::from_secs(config.reconcile_interval_secs);
    let stale_after =
        TimeDelta::seconds(i64::try_from(config.reconcile_after_secs).unwrap_or(i64::MAX));
    let span = info_span!(parent: None, "reconciler");
    Some(tokio::spawn(
        async move {
            let mut backoff = Backoff::default();
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                round(&gateway, stale_after, interval, &mut backoff).await;
            }
        }
        .instrument(span),
    ))
}

async fn round(
    gateway: &Arc<Gateway>,
    stale_after: TimeDelta,
    interval: Duration,
    backoff: &mut Backoff,
) {
    crate::recovery::sweep(gateway).await;
    let fetchable: Vec<String> = gateway
        .providers()
        .values()
        .filter(|i| i.manifest.capabilities.fetch_call)
        .map(|i| i.name.clone())
        .collect();
    let now = Utc::now();
    let before = now - stale_after;
    // Claimed calls are this instance's until the lease ends: long enough for this round's
    // fetches, short enough that a crashed instance's calls go to another soon.
    let lease = TimeDelta::from_std(interval * 2).unwrap_or(TimeDelta::minutes(1));
    let claimed = gateway
        .store
        .claim_stale_calls(&fetchable, before, now + lease, BATCH)
        .await;
    let ids = match claimed {
        Ok(ids) => ids,
        Err(e) => {
            warn!(error = %e, "cannot look for stale calls");
            return;
        }
    };
    let due: Vec<CallId> = ids.into_iter().filter(|id| backoff.ready(id)).collect();
    if due.is_empty() {
        return;
    }
    info!(calls = due.len(), "reconciling stale calls");
    let results: Vec<(CallId, Result<Call, DispatchError>)> = futures_util::stream::iter(due)
        .map(|id| async move { (id, refresh(gateway, id).await) })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (id, result) in results {
        match result {
            Ok(call) => {
                backoff.succeeded(&id);
                info!(call_id = %id, status = %call.status, "call reconciled");
            }
            Err(e) => {
                backoff.failed(id, interval);
                warn!(call_id = %id, error = %e, "reconciliation failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failing_calls_wait_longer_each_time() {
        let mut backoff = Backoff::default();
        let id = CallId::new();
        assert!(backoff.ready(&id));
        backoff.failed(id, Duration::from_secs(1));
        assert!(!backoff.ready(&id));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(backoff.ready(&id));
        backoff.failed(id, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!backoff.ready(&id), "the second wait is longer");
        backoff.succeeded(&id);
        assert!(backoff.ready(&id));
    }
}
