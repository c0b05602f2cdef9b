//! Retention: removing stored data older than `[retention]` says, in small batches.
//!
//! Each [`Category`] is one kind of data with one age: a predicate over one table (its rows'
//! age against the category's cutoff), counted by [`Store::retention_count`] (a dry run) and
//! removed by [`Store::retention_batch`], at most [`BATCH`] rows of that table per
//! transaction, so a pass never holds the SQLite writer (or PostgreSQL row locks) for long.
//!
//! A category's predicate leaves out what an earlier category of the same pass removes (the
//! receipts of calls `calls_days` deletes are not counted again as `receipts`), so a dry run
//! reports what a pass would remove, category by category, and a pass reports the same.
//!
//! Ages: receipts by `received_at`; calls (and their recordings and transcripts) by the time
//! they ended (`ended_at`, else their last change), and only once they are terminal; audit
//! rows by their time; idempotency keys by `created_at`.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{AnyConnection, Row};

use super::codec::ts;
use super::sql::Statement;
use super::{Store, StoreError};

/// Rows of a category's table removed per transaction, at most.
pub const BATCH: usize = 500;

/// The statuses after which a call never changes (`CallStatus::is_terminal`), as SQL.
const TERMINAL: &str = "('completed', 'failed', 'no_answer', 'busy', 'canceled')";

/// A kind of stored data retention removes, with its own age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Ended calls and everything hanging off them (`calls_days`).
    Calls,
    /// Webhook receipts of any outcome (`receipts_days`).
    Receipts,
    /// Refused webhooks: `rejected` and `unknown_call` receipts (`refused_webhooks_days`).
    RefusedWebhooks,
    /// Raw bodies of acknowledged webhooks, `applied` or `duplicate`; the receipt stays
    /// (`webhook_bodies_days`).
    WebhookBodies,
    /// Ended calls' recordings, the file and the reference (`recordings_days`).
    Recordings,
    /// Ended calls' transcript turns (`transcripts_days`).
    Transcripts,
    /// Audit log rows (`audit_days`).
    Audit,
    /// Idempotency keys (`idempotency_hours`).
    Idempotency,
}

impl Category {
    /// Every category, in the order a pass removes them.
    pub const ALL: [Category; 8] = [
        Category::Calls,
        Category::Receipts,
        Category::RefusedWebhooks,
        Category::WebhookBodies,
        Category::Recordings,
        Category::Transcripts,
        Category::Audit,
        Category::Idempotency,
    ];

    /// The name `voice-gateway prune` prints.
    pub fn name(self) -> &'static str {
        match self {
            Category::Calls => "calls",
            Category::Receipts => "receipts",
            Category::RefusedWebhooks => "refused_webhooks",
            Category::WebhookBodies => "webhook_bodies",
            Category::Recordings => "recordings",
            Category::Transcripts => "transcripts",
            Category::Audit => "audit",
            Category::Idempotency => "idempotency",
        }
    }

    /// The table whose rows the category counts.
    fn table(self) -> &'static str {
        match self {
            Category::Calls | Category::Recordings | Category::Transcripts => "calls",
            Category::Receipts | Category::RefusedWebhooks | Category::WebhookBodies => {
                "webhook_receipts"
            }
            Category::Audit => "audit_log",
            Category::Idempotency => "idempotency_keys",
        }
    }
}

/// The moment before which each category's data goes; `None`: kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cutoffs {
    pub calls: Option<DateTime<Utc>>,
    pub receipts: Option<DateTime<Utc>>,
    pub refused_webhooks: Option<DateTime<Utc>>,
    pub webhook_bodies: Option<DateTime<Utc>>,
    pub recordings: Option<DateTime<Utc>>,
    pub transcripts: Option<DateTime<Utc>>,
    pub audit: Option<DateTime<Utc>>,
    pub idempotency: Option<DateTime<Utc>>,
}

impl Cutoffs {
    /// The cutoffs at `now` for ages in days (and idempotency keys' lifetime).
    pub fn at(now: DateTime<Utc>, days: &RetentionDays, idempotency_ttl: TimeDelta) -> Self {
        let before = |age: Option<i64>| age.map(|days| now - TimeDelta::days(days));
        Self {
            calls: before(days.calls),
            receipts: before(days.receipts),
            refused_webhooks: before(days.refused_webhooks),
            webhook_bodies: before(days.webhook_bodies),
            recordings: before(days.recordings),
            transcripts: before(days.transcripts),
            audit: before(days.audit),
            idempotency: Some(now - idempotency_ttl),
        }
    }

    pub fn of(&self, category: Category) -> Option<DateTime<Utc>> {
        match category {
            Category::Calls => self.calls,
            Category::Receipts => self.receipts,
            Category::RefusedWebhooks => self.refused_webhooks,
            Category::WebhookBodies => self.webhook_bodies,
            Category::Recordings => self.recordings,
            Category::Transcripts => self.transcripts,
            Category::Audit => self.audit,
            Category::Idempotency => self.idempotency,
        }
    }
}

/// Ages in days per category (`[retention]`); `None`: kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionDays {
    pub calls: Option<i64>,
    pub receipts: Option<i64>,
    pub refused_webhooks: Option<i64>,
    pub webhook_bodies: Option<i64>,
    pub recordings: Option<i64>,
    pub transcripts: Option<i64>,
    pub audit: Option<i64>,
}

/// ` AND <a terminal call that ended before cutoff>`, for the `calls` table.
fn ended_before(query: &mut Statement, cutoff: DateTime<Utc>) {
    query
        .push(" AND status IN ")
        .push(TERMINAL)
        .push(" AND COALESCE(ended_at, updated_at, created_at) < ")
        .bind(ts(cutoff));
}

/// ` AND` the call in `column` (may be NULL) is not one `calls_days` removes.
fn not_of_pruned_call(query: &mut Statement, column: &str, cutoffs: &Cutoffs) {
    if let Some(cutoff) = cutoffs.calls {
        query
            .push(" AND (")
            .push(column)
            .push(" IS NULL OR ")
            .push(column)
            .push(" NOT IN (SELECT id FROM calls WHERE 1 = 1");
        ended_before(query, cutoff);
        query.push("))");
    }
}

/// ` AND` the receipt is not one `receipts_days` removes.
fn not_pruned_receipt(query: &mut Statement, cutoffs: &Cutoffs) {
    if let Some(cutoff) = cutoffs.receipts {
        query.push(" AND received_at >= ").bind(ts(cutoff));
    }
}

/// `FROM <table> WHERE <the rows category removes>`; `None` when it keeps everything.
fn from_where(query: &mut Statement, category: Category, cutoffs: &Cutoffs) -> Option<()> {
    let cutoff = cutoffs.of(category)?;
    query
        .push(" FROM ")
        .push(category.table())
        .push(" WHERE 1 = 1");
    match category {
        Category::Calls => ended_before(query, cutoff),
        Category::Receipts => {
            query.push(" AND received_at < ").bind(ts(cutoff));
            not_of_pruned_call(query, "call_id", cutoffs);
        }
        Category::RefusedWebhooks | Category::WebhookBodies => {
            if category == Category::RefusedWebhooks {
                query.push(" AND outcome IN ('rejected', 'unknown_call')");
            } else {
                query.push(" AND outcome IN ('applied', 'duplicate') AND body_pruned_at IS NULL");
            }
            query.push(" AND received_at < ").bind(ts(cutoff));
            not_pruned_receipt(query, cutoffs);
            not_of_pruned_call(query, "call_id", cutoffs);
        }
        Category::Recordings | Category::Transcripts => {
            if category == Category::Recordings {
                query.push(" AND (recording_path IS NOT NULL OR recording_url IS NOT NULL)");
            } else {
                query.push(
                    " AND EXISTS (SELECT 1 FROM transcript_turns t WHERE t.call_id = calls.id)",
                );
            }
            ended_before(query, cutoff);
            not_of_pruned_call(query, "id", cutoffs);
        }
        Category::Audit => {
            query.push(" AND at < ").bind(ts(cutoff));
        }
        Category::Idempotency => {
            query.push(" AND created_at < ").bind(ts(cutoff));
            not_of_pruned_call(query, "call_id", cutoffs);
        }
    }
    Some(())
}

/// `(` `$n, $n+1, ...` `)` for `ids`.
pub(super) fn in_list(query: &mut Statement, ids: &[String]) {
    query.push("(");
    for (index, id) in ids.iter().enumerate() {
        if index > 0 {
            query.push(", ");
        }
        query.bind(id.clone());
    }
    query.push(")");
}

/// Deletes the events of the calls `ids` with their deliveries and attempts: the event log and
/// the pending deliveries keep nothing of those calls.
pub(super) async fn delete_call_events(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<(), StoreError> {
    let mut attempts = Statement::new(
        "DELETE FROM event_attempts WHERE delivery_id IN (SELECT d.id FROM event_deliveries d \
         JOIN events ev ON ev.id = d.event_id WHERE ev.call_id IN ",
    );
    in_list(&mut attempts, ids);
    attempts.push(")");
    attempts.build().execute(&mut *conn).await?;
    let mut deliveries = Statement::new(
        "DELETE FROM event_deliveries WHERE event_id IN (SELECT id FROM events WHERE call_id IN ",
    );
    in_list(&mut deliveries, ids);
    deliveries.push(")");
    deliveries.build().execute(&mut *conn).await?;
    let mut events = Statement::new("DELETE FROM events WHERE call_id IN ");
    in_list(&mut events, ids);
    events.build().execute(&mut *conn).await?;
    Ok(())
}

/// Removes recording files; a file already gone is fine, any other failure is logged (the
/// reference is gone either way, so the file is never served again).
pub(super) async fn remove_files(paths: &[String]) {
    for path in paths {
        match tokio::fs::remove_file(path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "a removed recording's file could not be deleted"),
        }
    }
}

impl Store {
    /// How many rows of its table `category` would remove now (a dry run).
    pub async fn retention_count(
        &self,
        category: Category,
        cutoffs: &Cutoffs,
    ) -> Result<u64, StoreError> {
        self.retrying("retention_count", || async {
            let mut query = Statement::new("SELECT COUNT(*) AS n");
            if from_where(&mut query, category, cutoffs).is_none() {
                return Ok(0);
            }
            let row = query.build().fetch_one(&self.reader).await?;
            Ok(row.try_get::<i64, _>("n")?.unsigned_abs())
        })
        .await
    }

    /// Removes at most [`BATCH`] rows of `category` in one transaction; how many. Fewer than
    /// [`BATCH`] means the category is done for now.
    pub async fn retention_batch(
        &self,
        category: Category,
        cutoffs: &Cutoffs,
    ) -> Result<usize, StoreError> {
        if cutoffs.of(category).is_none() {
            return Ok(0);
        }
        let (removed, files) = self
            .retrying("retention_batch", || {
                self.retention_batch_once(category, cutoffs)
            })
            .await?;
        remove_files(&files).await;
        Ok(removed)
    }

    /// One batch: how many rows, and the recording files to delete after the commit.
    async fn retention_batch_once(
        &self,
        category: Category,
        cutoffs: &Cutoffs,
    ) -> Result<(usize, Vec<String>), StoreError> {
        let now = ts(Utc::now());
        let key = match category.table() {
            "idempotency_keys" => "scope, key",
            _ => "id",
        };
        let mut tx = self.begin_write().await?;
        let mut select = Statement::new(format!("SELECT {key}"));
        if category.table() == "calls" {
            select.push(", recording_path");
        }
        from_where(&mut select, category, cutoffs);
        select.push(" ORDER BY ").push(key).push(" LIMIT ");
        select.bind(BATCH as i64);
        if category.table() == "calls" {
            // Calls another writer holds are left for the next batch, not waited for.
            select.push(self.backend.for_update_skip_locked());
        }
        let rows = select.build().fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            return Ok((0, Vec::new()));
        }
        let mut files = Vec::new();
        match category {
            Category::Idempotency => {
                for row in &rows {
                    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
                        .bind(row.try_get::<String, _>("scope")?)
                        .bind(row.try_get::<String, _>("key")?)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            _ => {
                let ids = rows
                    .iter()
                    .map(|row| row.try_get::<String, _>("id"))
                    .collect::<Result<Vec<_>, _>>()?;
                if category.table() == "calls" {
                    for row in &rows {
                        files.extend(row.try_get::<Option<String>, _>("recording_path")?);
                    }
                }
                let mut change = match category {
                    Category::Calls => {
                        let mut receipts =
                            Statement::new("DELETE FROM webhook_receipts WHERE call_id IN ");
                        in_list(&mut receipts, &ids);
                        receipts.build().execute(&mut *tx).await?;
                        delete_call_events(&mut tx, &ids).await?;
                        Statement::new("DELETE FROM calls WHERE id IN ")
                    }
                    Category::Receipts | Category::RefusedWebhooks => {
                        Statement::new("DELETE FROM webhook_receipts WHERE id IN ")
                    }
                    Category::WebhookBodies => {
                        let mut update = Statement::new("UPDATE webhook_receipts SET body = ");
                        update
                            .bind(Vec::<u8>::new())
                            .push(", body_pruned_at = ")
                            .bind(now.clone())
                            .push(" WHERE id IN ");
                        update
                    }
                    Category::Recordings => {
                        let mut update = Statement::new(
                            "UPDATE calls SET recording_path = NULL, recording_url = NULL, \
                             recording_pruned_at = ",
                        );
                        update.bind(now.clone()).push(" WHERE id IN ");
                        update
                    }
                    Category::Transcripts => {
                        let mut turns =
                            Statement::new("DELETE FROM transcript_turns WHERE call_id IN ");
                        in_list(&mut turns, &ids);
                        turns.build().execute(&mut *tx).await?;
                        let mut update = Statement::new("UPDATE calls SET transcript_pruned_at = ");
                        update.bind(now.clone()).push(" WHERE id IN ");
                        update
                    }
                    Category::Audit => Statement::new("DELETE FROM audit_log WHERE id IN "),
                    Category::Idempotency => unreachable!("handled above"),
                };
                in_list(&mut change, &ids);
                change.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok((rows.len(), files))
    }

    /// Takes (or renews) the lease on the periodic job `name` for `holder` until `until`, if it
    /// is free, expired or already `holder`'s. Whether `holder` has it now.
    pub async fn take_job_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.retrying("take_job_lease", || async {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "INSERT INTO job_leases (name, holder, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 lease_until = excluded.lease_until \
                 WHERE job_leases.holder = excluded.holder OR job_leases.lease_until < $4 \
                 RETURNING holder",
            )
            .bind(name)
            .bind(holder)
            .bind(ts(until))
            .bind(ts(Utc::now()))
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row.is_some())
        })
        .await
    }

    /// Gives the lease on `name` up, if `holder` has it.
    pub async fn release_job_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.retrying("release_job_lease", || async {
            self.execute_write(
                sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder),
            )
            .await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn cutoffs_are_now_minus_each_age_and_unset_ages_keep() {
        let now = at("2026-12-20T12:00:00Z");
        let days = RetentionDays {
            calls: Some(90),
            webhook_bodies: Some(1),
            audit: Some(365),
            ..RetentionDays::default()
        };
        let cutoffs = Cutoffs::at(now, &days, TimeDelta::hours(24));
        assert_eq!(cutoffs.calls, Some(at("2026-09-21T12:00:00Z")));
        assert_eq!(cutoffs.webhook_bodies, Some(at("2026-12-19T12:00:00Z")));
        assert_eq!(cutoffs.audit, Some(at("2025-12-20T12:00:00Z")));
        assert_eq!(cutoffs.idempotency, Some(at("2026-12-19T12:00:00Z")));
        for kept in [
            Category::Receipts,
            Category::RefusedWebhooks,
            Category::Recordings,
            Category::Transcripts,
        ] {
            assert_eq!(cutoffs.of(kept), None, "{}", kept.name());
        }
    }

    #[test]
    fn a_kept_category_has_no_statement_and_others_leave_out_what_calls_remove() {
        let mut query = Statement::new("SELECT 1");
        assert!(from_where(&mut query, Category::Receipts, &Cutoffs::default()).is_none());
        let cutoffs = Cutoffs {
            calls: Some(at("2026-01-01T00:00:00Z")),
            receipts: Some(at("2026-02-01T00:00:00Z")),
            webhook_bodies: Some(at("2026-03-01T00:00:00Z")),
            ..Cutoffs::default()
        };
        let mut query = Statement::new("SELECT 1");
        assert!(from_where(&mut query, Category::WebhookBodies, &cutoffs).is_some());
        let sql = query.sql();
        assert!(sql.contains("received_at < $1"), "{sql}");
        assert!(sql.contains("received_at >= $2"), "{sql}");
        assert!(
            sql.contains("call_id NOT IN (SELECT id FROM calls"),
            "{sql}"
        );
        assert!(
            sql.contains("COALESCE(ended_at, updated_at, created_at) < $3"),
            "{sql}"
        );
    }

    #[test]
    fn every_category_has_a_distinct_name_in_pass_order() {
        let names: Vec<_> = Category::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "calls",
                "receipts",
                "refused_webhooks",
                "webhook_bodies",
                "recordings",
                "transcripts",
                "audit",
                "idempotency"
            ]
        );
    }
}
