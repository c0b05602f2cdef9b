//! Retention passes: what `[retention]` says to remove, removed in small batches by a
//! background task (every `retention.interval_secs`, and at start) or once by
//! `voice-gateway prune [--dry-run]`.
//!
//! One instance prunes at a time: a pass holds the `retention` row of `job_leases`, taken
//! when it is free or its lease ran out and renewed between batches (a lease row rather than
//! an advisory lock, so it works the same on SQLite and PostgreSQL and needs no connection of
//! its own). Between batches the pass yields, so ingest never waits behind more than one
//! batch.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::audit;
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::store::{Category, Cutoffs, RETENTION_BATCH, RetentionDays, Store, StoreError};

/// The `job_leases` row of retention passes.
const LEASE: &str = "retention";
/// How long a pass holds the lease without renewing it (a crashed holder's lease runs out).
const LEASE_FOR: TimeDelta = TimeDelta::minutes(10);

/// What a pass removed (or, dry, would remove), per category, in pass order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub removed: Vec<(Category, u64)>,
    pub dry_run: bool,
}

impl Report {
    pub fn total(&self) -> u64 {
        self.removed.iter().map(|(_, n)| n).sum()
    }

    /// One line per category: `webhook_bodies: 12 removed`, or in a dry run
    /// `webhook_bodies: 12 would remove` (the count always right after the name).
    pub fn lines(&self) -> Vec<String> {
        self.removed
            .iter()
            .map(|(category, n)| {
                if self.dry_run {
                    format!("{}: {n} would remove", category.name())
                } else {
                    format!("{}: {n} removed", category.name())
                }
            })
            .collect()
    }

    /// `calls=1 receipts=0 ...`, for logs and the audit log.
    pub fn summary(&self) -> String {
        self.removed
            .iter()
            .map(|(category, n)| format!("{}={n}", category.name()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The cutoffs `settings` give at this moment.
pub fn cutoffs(settings: &Settings) -> Cutoffs {
    let r = &settings.retention;
    let days = RetentionDays {
        calls: r.calls_days,
        receipts: r.receipts_days,
        refused_webhooks: r.refused_webhooks_days,
        webhook_bodies: r.webhook_bodies_days,
        recordings: r.recordings_days,
        transcripts: r.transcripts_days,
        audit: r.audit_days,
    };
    let ttl = TimeDelta::from_std(settings.idempotency_ttl()).unwrap_or(TimeDelta::days(1));
    Cutoffs::at(Utc::now(), &days, ttl)
}

/// Why a pass did not run.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another instance holds the lease.
    #[error("another instance is pruning now")]
    Busy,
}

/// One pass with `settings`: counts only if `dry_run`, else removes batch by batch while
/// holding the lease (`PassError::Busy` if another instance holds it).
pub async fn pass(store: &Store, settings: &Settings, dry_run: bool) -> Result<Report, PassError> {
    let cutoffs = cutoffs(settings);
    let mut removed = Vec::new();
    if dry_run {
        for category in Category::ALL {
            removed.push((category, store.retention_count(category, &cutoffs).await?));
        }
        return Ok(Report { removed, dry_run });
    }
    let holder = store.instance().to_owned();
    let lease = || store.take_job_lease(LEASE, &holder, Utc::now() + LEASE_FOR);
    if !lease().await? {
        return Err(PassError::Busy);
    }
    let outcome = async {
        for category in Category::ALL {
            let mut count = 0u64;
            loop {
                let batch = store.retention_batch(category, &cutoffs).await?;
                count += batch as u64;
                if batch < RETENTION_BATCH {
                    break;
                }
                tokio::task::yield_now().await;
                if !lease().await? {
                    return Err(PassError::Busy);
                }
            }
            removed.push((category, count));
        }
        Ok(())
    }
    .await;
    if let Err(e) = store.release_job_lease(LEASE, &holder).await {
        warn!(error = %e, "the retention lease was not released; it runs out by itself");
    }
    outcome?;
    Ok(Report { removed, dry_run })
}

/// Gives up this instance's lease, if it holds one (at shutdown).
pub async fn release(store: &Store) {
    if let Err(e) = store.release_job_lease(LEASE, store.instance()).await {
        warn!(error = %e, "the retention lease was not released; it runs out by itself");
    }
}

/// The background task: a pass at start, then every `retention.interval_secs`.
pub fn spawn(gateway: Arc<Gateway>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(gateway.settings.retention.interval_secs.max(1));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match pass(&gateway.store, &gateway.settings, false).await {
                Ok(report) if report.total() == 0 => {}
                Ok(report) => {
                    info!(removed = %report.summary(), "retention pass removed old data");
                    let record = audit::Record {
                        who: audit::Who::System,
                        action: "retention.prune",
                        target: None,
                        client_addr: None,
                        outcome: audit::Outcome::Success,
                        detail: Some(report.summary()),
                    };
                    audit::record(&gateway, record).await;
                }
                Err(PassError::Busy) => {}
                Err(e) => warn!(error = %e, "retention pass failed; the next one tries again"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_prints_one_line_per_category_with_the_count_after_the_name() {
        let removed = vec![(Category::Calls, 0), (Category::WebhookBodies, 12)];
        let done = Report {
            removed: removed.clone(),
            dry_run: false,
        };
        assert_eq!(
            done.lines(),
            ["calls: 0 removed", "webhook_bodies: 12 removed"]
        );
        assert_eq!(done.summary(), "calls=0 webhook_bodies=12");
        assert_eq!(done.total(), 12);
        let dry = Report {
            removed,
            dry_run: true,
        };
        assert_eq!(
            dry.lines(),
            ["calls: 0 would remove", "webhook_bodies: 12 would remove"]
        );
    }
}
