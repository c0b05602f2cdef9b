//! Webhook receipts: every inbound webhook, stored raw, with what became of it.

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallEvent, CallId, Correlation};
use sqlx::AnyConnection;
use sqlx::Row;

use super::apply::{Applied, Context, EventSource, apply};
use super::codec::{call_id, json, parse_ts, ts};
use super::lock::{CallKey, LockedCall, PriorDelivery, lock_call};
use super::sql::{Statement, flag};
use super::{Backend, Store, StoreError};

/// The signature check's verdict, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVerdict {
    Verified,
    Unsigned,
    Invalid,
}

impl SignatureVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVerdict::Verified => "verified",
            SignatureVerdict::Unsigned => "unsigned",
            SignatureVerdict::Invalid => "invalid",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Verified, Self::Unsigned, Self::Invalid]
            .into_iter()
            .find(|v| v.as_str() == raw)
    }
}

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    Applied,
    Duplicate,
    Rejected,
    UnknownCall,
}

impl ReceiptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptOutcome::Applied => "applied",
            ReceiptOutcome::Duplicate => "duplicate",
            ReceiptOutcome::Rejected => "rejected",
            ReceiptOutcome::UnknownCall => "unknown_call",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Applied,
            Self::Duplicate,
            Self::Rejected,
            Self::UnknownCall,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}

/// A webhook as received, before its outcome is known.
#[derive(Debug, Clone)]
pub struct NewReceipt {
    /// A UUIDv7, so receipts list in arrival order.
    pub id: String,
    pub provider: String,
    pub topic: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Headers worth keeping, credentials already redacted.
    pub headers: Vec<(String, String)>,
    /// The raw body, cut at the configured limit (a refused webhook's at a short prefix).
    pub body: Vec<u8>,
    /// Whether `body` was cut (a body the provider redacted may be shorter than `body_size`
    /// without being cut).
    pub body_truncated: bool,
    pub body_size: usize,
    /// Hex SHA-256 of the whole body as received.
    pub body_sha256: String,
    pub signature: SignatureVerdict,
    pub event_type: Option<String>,
    pub dedupe_key: Option<String>,
    /// The stored receipt this one replays, if it is a replay.
    pub replay_of: Option<String>,
}

/// What storing a webhook came to.
#[derive(Debug, Clone)]
pub struct Ingestion {
    pub outcome: ReceiptOutcome,
    /// The call the webhook was resolved to (also for duplicates).
    pub call_id: Option<CallId>,
    /// What applying its events changed (only for `applied`).
    pub applied: Option<Applied>,
}

/// A stored receipt.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    pub provider: String,
    pub topic: Option<String>,
    pub received_at: DateTime<Utc>,
    pub headers: Vec<(String, String)>,
    /// Only loaded when one receipt is asked for.
    pub body: Option<Vec<u8>>,
    pub body_size: i64,
    pub body_truncated: bool,
    pub signature: String,
    pub event_type: Option<String>,
    pub dedupe_key: Option<String>,
    pub call_id: Option<CallId>,
    pub outcome: ReceiptOutcome,
    pub reason: Option<String>,
    /// Retention or erasure removed the raw body (see `store::retention`).
    pub body_pruned: bool,
    /// The receipt this one replays.
    pub replay_of: Option<String>,
}

/// Filters for listing receipts.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFilter {
    pub provider: Option<String>,
    pub outcome: Option<ReceiptOutcome>,
    pub call_id: Option<CallId>,
    pub before_id: Option<String>,
    pub limit: u32,
}

/// The stored webhooks a range replay takes, oldest first: those `provider` received from
/// `since` (inclusive) until `until` (exclusive), with `outcome` if given, after the receipt
/// `after_id`. Replays are never taken again.
#[derive(Debug, Clone)]
pub struct ReplayRange {
    pub provider: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub outcome: Option<ReceiptOutcome>,
    pub after_id: Option<String>,
    pub limit: u32,
}

/// The columns of a listed receipt: all but its body.
const LISTED_COLUMNS: &str = "id, provider, topic, received_at, headers, NULL AS body, body_size, body_truncated, \
     signature, event_type, dedupe_key, call_id, outcome, reason, body_pruned_at, replay_of";

#[derive(Debug, Clone)]
pub struct ReceiptPage {
    pub items: Vec<Receipt>,
    pub next: Option<String>,
}

async fn insert_receipt(
    conn: &mut AnyConnection,
    receipt: &NewReceipt,
    call: Option<CallId>,
    outcome: ReceiptOutcome,
    reason: Option<&str>,
    reapplied: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_receipts (id, provider, topic, received_at, headers, body, body_size, body_truncated, \
         signature, event_type, dedupe_key, call_id, outcome, reason, body_sha256, replay_of, reapplied) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&receipt.id)
    .bind(&receipt.provider)
    .bind(&receipt.topic)
    .bind(ts(receipt.received_at))
    .bind(json(&receipt.headers))
    .bind(&receipt.body)
    .bind(receipt.body_size as i64)
    .bind(receipt.body_truncated)
    .bind(receipt.signature.as_str())
    .bind(&receipt.event_type)
    .bind(&receipt.dedupe_key)
    .bind(call.map(|c| c.to_string()))
    .bind(outcome.as_str())
    .bind(reason)
    .bind(&receipt.body_sha256)
    .bind(&receipt.replay_of)
    .bind(reapplied)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What became of the receipt with this id, if it is stored.
async fn stored_outcome(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Ingestion>, StoreError> {
    let row = sqlx::query("SELECT outcome, call_id FROM webhook_receipts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let outcome: String = row.try_get("outcome")?;
    Ok(Some(Ingestion {
        outcome: ReceiptOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome '{outcome}'")))?,
        call_id: row
            .try_get::<Option<String>, _>("call_id")?
            .as_deref()
            .map(call_id)
            .transpose()?,
        applied: None,
    }))
}

/// Finds (and locks) the call a webhook is about, with whether its delivery was applied
/// before: by the gateway's id, else by the vendor's id, always within the provider instance
/// the webhook came to.
async fn resolve_call(
    conn: &mut AnyConnection,
    backend: Backend,
    receipt: &NewReceipt,
    correlation: &Correlation,
) -> Result<Option<LockedCall>, StoreError> {
    let provider = receipt.provider.as_str();
    let delivery = Some(PriorDelivery {
        provider,
        dedupe_key: receipt.dedupe_key.as_deref(),
    });
    if let Some(id) = correlation.gateway_call_id {
        if let Some(locked) = lock_call(conn, backend, CallKey::Id(id), delivery)
            .await?
            .filter(|locked| locked.call.provider == provider)
        {
            return Ok(Some(locked));
        }
    }
    let Some(vendor_id) = &correlation.provider_call_id else {
        return Ok(None);
    };
    let key = CallKey::Vendor {
        provider,
        vendor_id,
    };
    lock_call(conn, backend, key, delivery).await
}

/// Whether applying events again changed the call: a field, its status, or new turns (what the
/// write itself stamps, `updated_at`, aside).
fn changed(before: &Call, applied: &Applied) -> bool {
    !applied.status_changes.is_empty()
        || !applied.new_turns.is_empty()
        || *before
            != Call {
                updated_at: before.updated_at,
                ..applied.call.clone()
            }
}

/// Whether a delivery about no call the gateway knows was applied before: dedupe keys are per
/// call, so only receipts about no call count.
async fn delivered_before(
    conn: &mut AnyConnection,
    receipt: &NewReceipt,
) -> Result<bool, StoreError> {
    let Some(key) = &receipt.dedupe_key else {
        return Ok(false);
    };
    let row = sqlx::query(
        "SELECT 1 FROM webhook_receipts WHERE provider = $1 AND call_id IS NULL \
         AND dedupe_key = $2 AND outcome = 'applied'",
    )
    .bind(&receipt.provider)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

impl Store {
    /// Records a webhook that was refused before its events were read (bad signature, malformed).
    pub async fn record_rejected_receipt(
        &self,
        receipt: &NewReceipt,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.retrying("record_rejected_receipt", || async {
            let mut tx = self.begin_write().await?;
            insert_receipt(
                &mut tx,
                receipt,
                None,
                ReceiptOutcome::Rejected,
                Some(reason),
                false,
            )
            .await?;
            tx.commit().await
        })
        .await
    }

    /// Stores the receipt and applies its events in one transaction: either both are durable or
    /// neither is. A delivery already applied is recorded as a duplicate and applied zero times,
    /// also when several gateway instances receive it at the same moment.
    pub async fn ingest_webhook(
        &self,
        receipt: &NewReceipt,
        correlation: &Correlation,
        events: &[CallEvent],
        recording_path: Option<&str>,
    ) -> Result<Ingestion, StoreError> {
        self.retrying("ingest_webhook", || {
            self.ingest_webhook_once(receipt, correlation, events, recording_path, false)
        })
        .await
    }

    /// Stores a replay of a stored webhook (`receipt.replay_of` names it) as
    /// [`Store::ingest_webhook`] stores a webhook: a delivery already applied to its call is a
    /// duplicate, unless `force`, which applies its events again. Applying again is idempotent
    /// (statuses only move forward, turns are matched to those stored): its receipt is
    /// `applied` if that changed the call (a field, its status or new turns), else `duplicate`
    /// with nothing written but the receipt.
    pub async fn replay_webhook(
        &self,
        receipt: &NewReceipt,
        correlation: &Correlation,
        events: &[CallEvent],
        recording_path: Option<&str>,
        force: bool,
    ) -> Result<Ingestion, StoreError> {
        self.retrying("replay_webhook", || {
            self.ingest_webhook_once(receipt, correlation, events, recording_path, force)
        })
        .await
    }

    async fn ingest_webhook_once(
        &self,
        receipt: &NewReceipt,
        correlation: &Correlation,
        events: &[CallEvent],
        recording_path: Option<&str>,
        force: bool,
    ) -> Result<Ingestion, StoreError> {
        let mut tx = self.begin_write().await?;
        // Locks the call (PostgreSQL): a concurrent delivery for it waits here, then sees
        // whatever this one committed.
        let call = resolve_call(&mut tx, self.backend, receipt, correlation).await?;
        let call_id = call.as_ref().map(|locked| locked.call.id);
        let erased = call
            .as_ref()
            .is_some_and(|locked| locked.call.removed.erased_at.is_some());
        let seen = match &call {
            Some(locked) => locked.delivered_before,
            None => delivered_before(&mut tx, receipt).await?,
        };
        let reapplied = seen && force && call.is_some();
        let context = |source| Context {
            source,
            now: receipt.received_at,
            provider_call_id: correlation.provider_call_id.as_deref(),
            provider_data: None,
            recording_path,
            reapplying: reapplied,
        };
        let source = EventSource::Webhook(receipt.id.clone());
        let (outcome, applied) = match call {
            Some(call) if reapplied => {
                let before = call.call.clone();
                // Only what changed is kept: a re-application that changed nothing leaves no trace
                // (e.g. no history rows for statuses that no longer apply), bar its receipt.
                let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
                let applied = apply(&mut attempt, call, events, &context(&source)).await?;
                if changed(&before, &applied) {
                    attempt.commit().await?;
                    (ReceiptOutcome::Applied, Some(applied))
                } else {
                    attempt.rollback().await?;
                    (ReceiptOutcome::Duplicate, None)
                }
            }
            _ if seen => (ReceiptOutcome::Duplicate, None),
            // A notice about no call in particular: acknowledged, nothing to apply.
            None if correlation.is_empty() && events.is_empty() => (ReceiptOutcome::Applied, None),
            None => (ReceiptOutcome::UnknownCall, None),
            Some(call) => {
                let applied = apply(&mut tx, call, events, &context(&source)).await?;
                (ReceiptOutcome::Applied, Some(applied))
            }
        };
        match insert_receipt(&mut tx, receipt, call_id, outcome, None, reapplied).await {
            Ok(()) => {
                if erased {
                    super::erasure::forget_body(&mut tx, &receipt.id).await?;
                }
                tx.commit().await?;
                if let Some(applied) = &applied {
                    self.committed(applied);
                    self.outbox_written();
                }
                Ok(Ingestion {
                    outcome,
                    call_id,
                    applied,
                })
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                tx.rollback().await?;
                let mut conn = self.begin_write().await?;
                // This very receipt is stored: a retry whose first try committed, its answer
                // lost with the connection. Answer what was stored, again.
                if let Some(stored) = stored_outcome(&mut conn, &receipt.id).await? {
                    conn.rollback().await?;
                    return Ok(stored);
                }
                // Another writer applied the same delivery first (a delivery about no known
                // call, which locked nothing, racing its twin on another instance).
                insert_receipt(
                    &mut conn,
                    receipt,
                    call_id,
                    ReceiptOutcome::Duplicate,
                    None,
                    false,
                )
                .await?;
                conn.commit().await?;
                Ok(Ingestion {
                    outcome: ReceiptOutcome::Duplicate,
                    call_id,
                    applied: None,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_receipts(&self, filter: &ReceiptFilter) -> Result<ReceiptPage, StoreError> {
        let rows = self
            .retrying("list_receipts", || async {
                let mut query = Statement::new(format!(
                    "SELECT {LISTED_COLUMNS} FROM webhook_receipts WHERE 1 = 1"
                ));
                query
                    .and("provider", "=", filter.provider.clone())
                    .and("outcome", "=", filter.outcome.map(ReceiptOutcome::as_str))
                    .and("call_id", "=", filter.call_id.map(|c| c.to_string()))
                    .and("id", "<", filter.before_id.clone())
                    .push(" ORDER BY id DESC LIMIT ")
                    .bind(i64::from(filter.limit) + 1);
                Ok(query.build().fetch_all(&self.reader).await?)
            })
            .await?;
        let items = rows
            .iter()
            .map(receipt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, next) = super::page(items, filter.limit, |r| r.id.clone());
        Ok(ReceiptPage { items, next })
    }

    /// The receipts a range replay takes (without bodies), oldest first; `next` is the last
    /// one's id when more match.
    pub async fn receipts_to_replay(&self, range: &ReplayRange) -> Result<ReceiptPage, StoreError> {
        let rows = self
            .retrying("receipts_to_replay", || async {
                let mut query = Statement::new(format!(
                    "SELECT {LISTED_COLUMNS} FROM webhook_receipts WHERE replay_of IS NULL"
                ));
                query
                    .and("provider", "=", Some(range.provider.clone()))
                    .and("received_at", ">=", Some(ts(range.since)))
                    .and("received_at", "<", Some(ts(range.until)))
                    .and("outcome", "=", range.outcome.map(ReceiptOutcome::as_str))
                    .and("id", ">", range.after_id.clone())
                    .push(" ORDER BY id LIMIT ")
                    .bind(i64::from(range.limit) + 1);
                Ok(query.build().fetch_all(&self.reader).await?)
            })
            .await?;
        let items = rows
            .iter()
            .map(receipt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, next) = super::page(items, range.limit, |r| r.id.clone());
        Ok(ReceiptPage { items, next })
    }

    /// One receipt, with its raw body.
    pub async fn get_receipt(&self, id: &str) -> Result<Option<Receipt>, StoreError> {
        let row = self
            .retrying("get_receipt", || async {
                Ok(sqlx::query(
                    "SELECT id, provider, topic, received_at, headers, body, body_size, body_truncated, signature, \
                     event_type, dedupe_key, call_id, outcome, reason, body_pruned_at, replay_of FROM webhook_receipts WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.reader)
                .await?)
            })
            .await?;
        row.as_ref().map(receipt_from_row).transpose()
    }
}

fn receipt_from_row(row: &sqlx::any::AnyRow) -> Result<Receipt, StoreError> {
    let headers: String = row.try_get("headers")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(Receipt {
        id: row.try_get("id")?,
        provider: row.try_get("provider")?,
        topic: row.try_get("topic")?,
        received_at: parse_ts(&row.try_get::<String, _>("received_at")?)?,
        headers: serde_json::from_str(&headers)
            .map_err(|e| StoreError::Corrupt(format!("headers: {e}")))?,
        body: row.try_get("body")?,
        body_size: row.try_get("body_size")?,
        body_truncated: flag(row, "body_truncated")?,
        signature: row.try_get("signature")?,
        event_type: row.try_get("event_type")?,
        dedupe_key: row.try_get("dedupe_key")?,
        call_id: row
            .try_get::<Option<String>, _>("call_id")?
            .as_deref()
            .map(call_id)
            .transpose()?,
        outcome: ReceiptOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome '{outcome}'")))?,
        reason: row.try_get("reason")?,
        body_pruned: row
            .try_get::<Option<String>, _>("body_pruned_at")?
            .is_some(),
        replay_of: row.try_get("replay_of")?,
    })
}
