//! Recovery after a restart: calls of in-process providers left behind by a gateway that
//! stopped.
//!
//! A provider whose manifest declares `in_process_calls` (the echo simulator) drives its calls
//! with webhooks scheduled in the process that placed them. When that process stops, nothing
//! moves those calls on: without this they would stay `ringing` or `in_progress` forever. A
//! gateway ends them (`failed`, reason [`INTERRUPTED`]) through the store's normal apply path,
//! so the status change is recorded, published to live subscribers and sent to event endpoints
//! like any other.
//!
//! Which calls: not ended, of such a provider, and unchanged since before this process started
//! (a call this process placed is driven by it). On SQLite one gateway owns the database, so
//! that is all. On PostgreSQL another instance may be driving a call right now and nobody can
//! tell whether that instance is alive, so a call is ended only once it has also been
//! unchanged for `gateway.reconcile_after_secs` (600 s by default: far longer than a scripted
//! step, `turn_interval_ms`, takes). It runs once at start and then with every reconciler round.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use plugin_api::{CallEvent, CallStatus, StatusUpdate};
use tracing::{info, warn};

use crate::config::Backend;
use crate::gateway::Gateway;
use crate::store::{EventSource, StoreError};

/// The status reason of a call ended because the process driving it stopped.
pub const INTERRUPTED: &str =
    "interrupted: the gateway restarted while the local provider's call was in progress";

/// Calls looked at per query.
const BATCH: u32 = 100;

/// Ends the in-process calls a stopped gateway left behind (see the module's docs); returns
/// how many it ended.
pub async fn end_interrupted_calls(gateway: &Arc<Gateway>) -> Result<usize, StoreError> {
    let providers: Vec<String> = gateway
        .providers()
        .values()
        .filter(|i| i.manifest.capabilities.in_process_calls)
        .map(|i| i.name.clone())
        .collect();
    let Some(before) = cutoff(gateway, Utc::now()) else {
        return Ok(0);
    };
    let mut ended = 0;
    loop {
        let ids = gateway
            .store
            .unended_calls_unchanged_since(&providers, before, BATCH)
            .await?;
        let found = ids.len();
        let mut ended_now = 0;
        for id in ids {
            if gateway.drives(id) {
                continue;
            }
            let event = CallEvent::Status(StatusUpdate {
                status: CallStatus::Failed,
                at: Some(Utc::now()),
                reason: Some(INTERRUPTED.to_owned()),
                vendor_status: None,
            });
            let applied = gateway
                .store
                .apply_events(id, &[event], None, EventSource::Reconcile)
                .await?;
            if applied.is_some_and(|a| a.call.status == CallStatus::Failed) {
                info!(call_id = %id, "ended a local call interrupted by a restart");
                ended_now += 1;
            }
        }
        ended += ended_now;
        // A full batch may have more behind it, unless this pass ended none of it (what is
        // left is this process's own, and would come back the same).
        if found < BATCH as usize || ended_now == 0 {
            return Ok(ended);
        }
    }
}

/// Calls unchanged since before this moment are interrupted: this process's start, and on
/// PostgreSQL also `reconcile_after_secs` ago. `None` if nothing can qualify yet.
fn cutoff(gateway: &Gateway, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let started = gateway.started_at;
    match gateway.store.backend() {
        Backend::Sqlite => Some(started),
        Backend::Postgres => {
            let secs = gateway.settings.gateway.reconcile_after_secs;
            let age = TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
            let aged = now.checked_sub_signed(age)?;
            Some(aged.min(started))
        }
    }
}

/// [`end_interrupted_calls`], errors logged (it runs again with the next reconciler round).
pub async fn sweep(gateway: &Arc<Gateway>) {
    if let Err(error) = end_interrupted_calls(gateway).await {
        warn!(%error, "cannot end local calls interrupted by a restart");
    }
}
