//! Calls: create, read, list, history and transcript.

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallEvent, CallHandle, CallId, CallStatus, StatusUpdate, TranscriptTurn};
use serde_json::Value;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use super::apply::{Applied, Context, EventSource, apply, record_status_event};
use super::codec::{
    CALL_COLUMNS, TURN_COLUMNS, call_from_row, json, opt_parse_ts, parse_ts, status, ts,
    turn_from_row,
};
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
pub struct CallPage {
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
    conn: &mut SqliteConnection,
    id: CallId,
) -> Result<Option<Call>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(call_from_row).transpose()
}

pub(super) async fn insert_call(
    conn: &mut SqliteConnection,
    call: &Call,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO calls (id, provider, provider_kind, provider_call_id, telephony_ids, status, to_number, \
         from_number_id, agent_id, variables, metadata, first_message, created_at, updated_at, idempotency_key, \
         created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .await
}

impl Store {
    pub async fn get_call(&self, id: CallId) -> Result<Option<Call>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_call(&mut conn, id).await
    }

    /// A stored call and what a provider needs to act on it (hang-up, fetch), including its
    /// private data, in one read.
    pub async fn call_handle(&self, id: CallId) -> Result<Option<(Call, CallHandle)>, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS}, provider_data FROM calls WHERE id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
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
        let mut tx = self.writer.begin().await?;
        let Some(call) = fetch_call(&mut tx, id).await? else {
            return Ok(None);
        };
        let context = Context {
            source: &source,
            now: Utc::now(),
            provider_call_id: None,
            provider_data,
            recording_path: None,
        };
        let applied = apply(&mut tx, call, events, &context).await?;
        tx.commit().await?;
        Ok(Some(applied))
    }

    pub async fn list_calls(&self, filter: &CallFilter) -> Result<CallPage, StoreError> {
        let mut query: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1"));
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(provider) = &filter.provider {
            query.push(" AND provider = ").push_bind(provider.clone());
        }
        if let Some(to) = &filter.to {
            query.push(" AND to_number = ").push_bind(to.clone());
        }
        if let Some(after) = filter.created_after {
            query.push(" AND created_at > ").push_bind(ts(after));
        }
        if let Some(before) = filter.created_before {
            query.push(" AND created_at < ").push_bind(ts(before));
        }
        if let Some(cursor) = filter.before_id {
            query.push(" AND id < ").push_bind(cursor.to_string());
        }
        // One extra row tells whether another page exists.
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit) + 1);
        let rows = query.build().fetch_all(&self.reader).await?;
        let items = rows
            .iter()
            .map(call_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, next) = super::page(items, filter.limit, |c| c.id);
        Ok(CallPage { items, next })
    }

    /// The call's stored transcript, in sequence order, optionally only after `after_seq`.
    /// Calls not yet ended, of the given providers, whose last change is older than `before`: the
    /// candidates for reconciliation, stalest first. Calls without a vendor id are included: the
    /// provider may find them by the gateway's id.
    pub async fn stale_calls(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallId>, StoreError> {
        if providers.is_empty() {
            return Ok(Vec::new());
        }
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id FROM calls WHERE status IN ('queued', 'initiating', 'ringing', 'in_progress') \
             AND updated_at < ",
        );
        query.push_bind(ts(before)).push(" AND provider IN (");
        let mut names = query.separated(", ");
        for provider in providers {
            names.push_bind(provider.clone());
        }
        query
            .push(") ORDER BY updated_at LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.reader).await?;
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
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE provider_call_id = ? \
             OR EXISTS (SELECT 1 FROM json_each(calls.telephony_ids) WHERE json_each.value = ?) \
             ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(identifier)
            .bind(identifier)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    /// The status the call had before its current one (from its history).
    pub async fn previous_status(&self, id: CallId) -> Result<Option<CallStatus>, StoreError> {
        let row = sqlx::query(
            "SELECT from_status FROM call_status_events WHERE call_id = ? AND applied = 1 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
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
        sqlx::query(
            "UPDATE calls SET hangup_requested_at = COALESCE(hangup_requested_at, ?) WHERE id = ?",
        )
        .bind(ts(Utc::now()))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Where the call's recording is stored, if it has one.
    pub async fn recording_path(&self, id: CallId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT recording_path FROM calls WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row
            .map(|r| r.try_get("recording_path"))
            .transpose()?
            .flatten())
    }

    pub async fn transcript(
        &self,
        id: CallId,
        after_seq: i64,
    ) -> Result<Vec<TranscriptTurn>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TURN_COLUMNS} FROM transcript_turns WHERE call_id = ? AND seq > ? ORDER BY seq"
        )))
        .bind(id.to_string())
        .bind(after_seq)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(turn_from_row).collect()
    }

    /// The call's status history, oldest first.
    pub async fn status_events(&self, id: CallId) -> Result<Vec<StatusEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, from_status, to_status, applied, reason, vendor_status, source, receipt_id, occurred_at, \
             recorded_at FROM call_status_events WHERE call_id = ? ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(&self.reader)
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
                    applied: row.try_get("applied")?,
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
