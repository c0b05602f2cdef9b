//! Calls: create, read, list, history and transcript.

use chrono::{DateTime, Utc};
use plugin_api::{
    Call, CallEvent, CallHandle, CallId, CallStatus, StatusUpdate, TelephonyIds, TranscriptTurn,
};
use serde_json::Value;
use sqlx::AnyConnection;
use sqlx::{AssertSqlSafe, Row};

use super::apply::{Applied, Context, EventSource, apply, record_status_event};
use super::codec::{
    CALL_COLUMNS, TURN_COLUMNS, call_from_row, json, opt_parse_ts, parse_ts, status, ts,
    turn_from_row,
};
use super::lock::{CallKey, lock_call};
use super::sql::{Statement, flag};
use super::{Store, StoreError};

/// A call to store before the provider is asked to place it.
pub type NewCall = Call;

/// Filters for listing calls; all optional.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub provider: Option<String>,
    pub to: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Only calls older than this one (the cursor).
    pub before_id: Option<CallId>,
    pub limit: u32,
}

/// One page of calls, newest first.
#[derive(Debug, Clone)]
pub struct CallListing {
    pub items: Vec<Call>,
    /// The id to continue after, if there may be more.
    pub next: Option<CallId>,
}

/// One row of a call's status history.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub id: i64,
    pub from_status: Option<CallStatus>,
    pub to_status: CallStatus,
    pub applied: bool,
    pub reason: Option<String>,
    pub vendor_status: Option<String>,
    pub source: String,
    pub receipt_id: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

pub(super) async fn fetch_call(
    conn: &mut AnyConnection,
    id: CallId,
) -> Result<Option<Call>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(call_from_row).transpose()
}

/// The call with vendor id or telephony id `$1`, newest first: two index lookups (the vendor's
/// id, the telephony ids' table), never a scan of the calls.
pub(super) fn find_call_sql() -> String {
    format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE id IN (\
         SELECT id FROM calls WHERE provider_call_id = $1 \
         UNION SELECT call_id FROM call_telephony_ids WHERE telephony_id = $1) \
         ORDER BY id DESC LIMIT 1"
    )
}

/// Records `ids` (kept in `calls.telephony_ids` too) where [`Store::find_call`] looks them up.
/// Telephony ids are only ever added to a call, so rows are only ever added.
pub(super) async fn write_telephony_ids(
    conn: &mut AnyConnection,
    call: CallId,
    ids: &TelephonyIds,
) -> Result<(), StoreError> {
    for value in ids.0.values() {
        sqlx::query(
            "INSERT INTO call_telephony_ids (telephony_id, call_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(value)
        .bind(call.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn insert_call(conn: &mut AnyConnection, call: &Call) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO calls (id, provider, provider_kind, provider_call_id, telephony_ids, status, to_number, \
         from_number_id, agent_id, variables, metadata, first_message, created_at, updated_at, idempotency_key, \
         created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(call.id.to_string())
    .bind(&call.provider)
    .bind(&call.provider_kind)
    .bind(&call.provider_call_id)
    .bind(json(&call.telephony_ids))
    .bind(call.status.as_str())
    .bind(call.to.as_str())
    .bind(&call.from_number_id)
    .bind(&call.agent_id)
    .bind(json(&call.variables))
    .bind(json(&call.metadata))
    .bind(&call.first_message)
    .bind(ts(call.created_at))
    .bind(ts(call.updated_at))
    .bind(&call.idempotency_key)
    .bind(&call.created_by)
    .execute(&mut *conn)
    .await?;
    write_telephony_ids(conn, call.id, &call.telephony_ids).await?;
    let created = StatusUpdate {
        status: call.status,
        at: Some(call.created_at),
        reason: None,
        vendor_status: None,
    };
    record_status_event(
        conn,
        call,
        None,
        &created,
        true,
        &EventSource::Api,
        call.created_at,
    )
    .await?;
    super::outbox::write(
        conn,
        call.id,
        vec![super::outbox::created(call)],
        call.created_at,
    )
    .await?;
    Ok(())
}

impl Store {
    pub async fn get_call(&self, id: CallId) -> Result<Option<Call>, StoreError> {
        self.retrying("get_call", || async {
            let mut conn = self.reader.acquire().await?;
            fetch_call(&mut conn, id).await
        })
        .await
    }

    /// A stored call and what a provider needs to act on it (hang-up, fetch), including its
    /// private data, in one read.
    pub async fn call_handle(&self, id: CallId) -> Result<Option<(Call, CallHandle)>, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS}, provider_data FROM calls WHERE id = $1");
        let row = self
            .retrying("call_handle", || async {
                Ok(sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(id.to_string())
                    .fetch_optional(&self.reader)
                    .await?)
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let call = call_from_row(&row)?;
        let provider_data: Option<String> = row.try_get("provider_data")?;
        let handle = CallHandle {
            call_id: call.id,
            provider_call_id: call.provider_call_id.clone(),
            telephony_ids: call.telephony_ids.clone(),
            status: call.status,
            provider_data: provider_data.and_then(|d| serde_json::from_str(&d).ok()),
        };
        Ok(Some((call, handle)))
    }

    /// Applies events to a call outside of any webhook (e.g. the provider's answer to a create).
    /// `None` if the call does not exist.
    pub async fn apply_events(
        &self,
        id: CallId,
        events: &[CallEvent],
        provider_data: Option<&Value>,
        source: EventSource,
    ) -> Result<Option<Applied>, StoreError> {
        self.retrying("apply_events", || async {
            let mut tx = self.begin_write().await?;
            let Some(call) = lock_call(&mut tx, self.backend, CallKey::Id(id), None).await? else {
                return Ok(None);
            };
            let context = Context {
                source: &source,
                now: Utc::now(),
                provider_call_id: None,
                provider_data,
                recording_path: None,
                reapplying: false,
            };
            let applied = apply(&mut tx, call, events, &context).await?;
            tx.commit().await?;
            self.committed(&applied);
            self.outbox_written();
            Ok(Some(applied))
        })
        .await
    }

    pub async fn list_calls(&self, filter: &CallFilter) -> Result<CallListing, StoreError> {
        let rows = self
            .retrying("list_calls", || async {
                let mut query =
                    Statement::new(format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1"));
                query
                    .and("status", "=", filter.status.map(CallStatus::as_str))
                    .and("provider", "=", filter.provider.clone())
                    .and("to_number", "=", filter.to.clone())
                    .and("created_at", ">", filter.created_after.map(ts))
                    .and("created_at", "<", filter.created_before.map(ts))
                    .and("id", "<", filter.before_id.map(|id| id.to_string()))
                    // One extra row tells whether another page exists.
                    .push(" ORDER BY id DESC LIMIT ")
                    .bind(i64::from(filter.limit) + 1);
                Ok(query.build().fetch_all(&self.reader).await?)
            })
            .await?;
        let items = rows
            .iter()
            .map(call_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, next) = super::page(items, filter.limit, |c| c.id);
        Ok(CallListing { items, next })
    }

    /// Claims up to `limit` calls for reconciliation: not yet ended, of the given providers,
    /// unchanged since `before`, and not claimed by anyone (this instance or another) until
    /// `lease_until`. Stalest first. Calls without a vendor id are included: the provider may
    /// find them by the gateway's id. On PostgreSQL, rows another instance is claiming at the
    /// same moment are skipped, so each call is reconciled by one instance at a time.
    pub async fn claim_stale_calls(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallId>, StoreError> {
        if providers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .retrying("claim_stale_calls", || async {
                let now = ts(Utc::now());
                let mut query = Statement::new("UPDATE calls SET reconcile_lease_until = ");
                query.bind(ts(lease_until)).push(
                    " WHERE id IN (SELECT id FROM calls \
                     WHERE status IN ('queued', 'initiating', 'ringing', 'in_progress') AND updated_at < ",
                );
                query
                    .bind(ts(before))
                    .push(" AND (reconcile_lease_until IS NULL OR reconcile_lease_until < ")
                    .bind(now)
                    .push(") AND provider IN (");
                for (index, provider) in providers.iter().enumerate() {
                    if index > 0 {
                        query.push(", ");
                    }
                    query.bind(provider.clone());
                }
                query
                    .push(") ORDER BY updated_at LIMIT ")
                    .bind(i64::from(limit))
                    .push(self.backend.for_update_skip_locked())
                    .push(") RETURNING id");
                let mut tx = self.begin_write().await?;
                let rows = query.build().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows)
            })
            .await?;
        rows.iter()
            .map(|row| super::codec::call_id(&row.try_get::<String, _>("id")?))
            .collect()
    }

    /// Up to `limit` calls not yet ended, of the given providers, unchanged since `before`,
    /// oldest change first: the in-process calls a gateway that stopped left behind (see
    /// `crate::recovery`).
    pub async fn unended_calls_unchanged_since(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallId>, StoreError> {
        if providers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .retrying("unended_calls_unchanged_since", || async {
                let mut query = Statement::new(
                    "SELECT id FROM calls \
                     WHERE status IN ('queued', 'initiating', 'ringing', 'in_progress') AND updated_at < ",
                );
                query.bind(ts(before)).push(" AND provider IN (");
                for (index, provider) in providers.iter().enumerate() {
                    if index > 0 {
                        query.push(", ");
                    }
                    query.bind(provider.clone());
                }
                query
                    .push(") ORDER BY updated_at LIMIT ")
                    .bind(i64::from(limit));
                Ok(query.build().fetch_all(&self.reader).await?)
            })
            .await?;
        rows.iter()
            .map(|row| super::codec::call_id(&row.try_get::<String, _>("id")?))
            .collect()
    }

    /// The ids of up to `limit` calls with an event (a status change, a stored turn, ...) at or
    /// after `since` (the live stream's periodic resync, see `events::spawn_resync`). Read
    /// from the events outbox, whose `created_at` is indexed: `calls.updated_at` is not, on
    /// purpose (see the PostgreSQL migrations), and every change the live stream shows, bar
    /// partial turns, writes an event in its transaction.
    pub async fn calls_changed_since(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallId>, StoreError> {
        let rows = self
            .retrying("calls_changed_since", || async {
                Ok(sqlx::query(
                    "SELECT call_id AS id FROM events WHERE created_at >= $1 AND call_id IS NOT NULL \
                     GROUP BY call_id LIMIT $2",
                )
                .bind(ts(since))
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await?)
            })
            .await?;
        rows.iter()
            .map(|row| super::codec::call_id(&row.try_get::<String, _>("id")?))
            .collect()
    }

    /// The call a client names: the gateway's id, a vendor's call id (any provider), or a
    /// telephony id such as a Twilio call sid. Newest first if a vendor id is not unique.
    pub async fn find_call(&self, identifier: &str) -> Result<Option<Call>, StoreError> {
        if let Ok(id) = identifier.parse::<CallId>() {
            if let Some(call) = self.get_call(id).await? {
                return Ok(Some(call));
            }
        }
        let sql = find_call_sql();
        let row = self
            .retrying("find_call", || async {
                Ok(sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(identifier)
                    .fetch_optional(&self.reader)
                    .await?)
            })
            .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    /// The status the call had before its current one (from its history).
    pub async fn previous_status(&self, id: CallId) -> Result<Option<CallStatus>, StoreError> {
        let row = self
            .retrying("previous_status", || async {
                Ok(sqlx::query(
                    "SELECT from_status FROM call_status_events WHERE call_id = $1 AND applied = TRUE \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.reader)
                .await?)
            })
            .await?;
        row.map(|r| r.try_get::<Option<String>, _>("from_status"))
            .transpose()?
            .flatten()
            .as_deref()
            .map(status)
            .transpose()
    }

    /// Notes that the API asked the provider to hang up: a call that then ends normally is
    /// recorded as `canceled`.
    pub async fn mark_hangup_requested(&self, id: CallId) -> Result<(), StoreError> {
        self.retrying("mark_hangup_requested", || async {
            self.execute_write(sqlx::query(
                "UPDATE calls SET hangup_requested_at = COALESCE(hangup_requested_at, $1) WHERE id = $2",
            )
            .bind(ts(Utc::now()))
            .bind(id.to_string())
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Where the call's recording is stored, if it has one.
    pub async fn recording_path(&self, id: CallId) -> Result<Option<String>, StoreError> {
        let row = self
            .retrying("recording_path", || async {
                Ok(
                    sqlx::query("SELECT recording_path FROM calls WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.reader)
                        .await?,
                )
            })
            .await?;
        Ok(row
            .map(|r| r.try_get("recording_path"))
            .transpose()?
            .flatten())
    }

    /// The call's stored transcript, in sequence order, optionally only after `after_seq`.
    pub async fn transcript(
        &self,
        id: CallId,
        after_seq: i64,
    ) -> Result<Vec<TranscriptTurn>, StoreError> {
        let sql = format!(
            "SELECT {TURN_COLUMNS} FROM transcript_turns WHERE call_id = $1 AND seq > $2 ORDER BY seq"
        );
        let rows = self
            .retrying("transcript", || async {
                Ok(sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(id.to_string())
                    .bind(after_seq)
                    .fetch_all(&self.reader)
                    .await?)
            })
            .await?;
        rows.iter().map(turn_from_row).collect()
    }

    /// The call's status history, oldest first.
    pub async fn status_events(&self, id: CallId) -> Result<Vec<StatusEvent>, StoreError> {
        let rows = self
            .retrying("status_events", || async {
                Ok(sqlx::query(
                    "SELECT id, from_status, to_status, applied, reason, vendor_status, source, receipt_id, \
                     occurred_at, recorded_at FROM call_status_events WHERE call_id = $1 ORDER BY id",
                )
                .bind(id.to_string())
                .fetch_all(&self.reader)
                .await?)
            })
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StatusEvent {
                    id: row.try_get("id")?,
                    from_status: row
                        .try_get::<Option<String>, _>("from_status")?
                        .as_deref()
                        .map(status)
                        .transpose()?,
                    to_status: status(&row.try_get::<String, _>("to_status")?)?,
                    applied: flag(row, "applied")?,
                    reason: row.try_get("reason")?,
                    vendor_status: row.try_get("vendor_status")?,
                    source: row.try_get("source")?,
                    receipt_id: row.try_get("receipt_id")?,
                    occurred_at: opt_parse_ts(row.try_get("occurred_at")?)?,
                    recorded_at: parse_ts(&row.try_get::<String, _>("recorded_at")?)?,
                })
            })
            .collect()
    }
}
