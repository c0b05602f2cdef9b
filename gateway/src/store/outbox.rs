//! The transactional outbox: the events to applications a change causes are written in the
//! change's own transaction (so there is never an event without its change, nor a committed
//! change without its event), with one delivery per (event, endpoint) whose filter matches.

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallEvent, CallId, TranscriptSource};
use serde_json::{Value, json};
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::StoreError;
use super::apply::Applied;
use super::codec::{TURN_COLUMNS, ts, turn_from_row};
use super::sql::Statement;
use crate::views::{CallView, TurnView};

/// Every event type a call causes, in the order the API documents them.
pub const CALL_EVENT_TYPES: &[&str] = &[
    "call.created",
    "call.status_changed",
    "call.transcript.turn",
    "call.transcript.finalized",
    "call.ended",
    "call.recording.ready",
];

/// The event the test route sends.
pub const PING: &str = "ping";

/// An event about to be written.
#[derive(Debug)]
pub(super) struct Pending {
    pub kind: &'static str,
    pub data: Value,
}

fn call_data(call: &Call) -> Value {
    poem_openapi::types::ToJSON::to_json(&CallView::from(call.clone())).unwrap_or_default()
}

fn turn_data(turn: plugin_api::TranscriptTurn) -> Value {
    poem_openapi::types::ToJSON::to_json(&TurnView::from(turn)).unwrap_or_default()
}

/// A new event id: `evt_` and a UUIDv7, so ids sort by creation.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7())
}

/// The envelope every event is delivered in.
pub fn envelope(
    id: &str,
    kind: &str,
    created_at: DateTime<Utc>,
    call_id: Option<CallId>,
    sequence: i64,
    data: Value,
) -> Value {
    let mut envelope = json!({
        "id": id,
        "type": kind,
        "created_at": ts(created_at),
        "sequence": sequence,
        "data": data,
    });
    if let (Some(call_id), Some(object)) = (call_id, envelope.as_object_mut()) {
        object.insert("call_id".to_owned(), Value::String(call_id.to_string()));
    }
    envelope
}

/// The events one applied change causes, in order: status changes, new live turns, the
/// finalized transcript, the recording, and last the end of the call.
pub(super) async fn events_of(
    conn: &mut AnyConnection,
    applied: &Applied,
    events: &[CallEvent],
    had_recording: bool,
) -> Result<Vec<Pending>, StoreError> {
    let call = &applied.call;
    let mut pending = Vec::new();
    for change in &applied.status_changes {
        let mut data = json!({
            "from": change.from.as_str(),
            "to": change.to.as_str(),
            "call": call_data(call),
        });
        if let (Some(reason), Some(object)) = (&change.reason, data.as_object_mut()) {
            object.insert("reason".to_owned(), Value::String(reason.clone()));
        }
        pending.push(Pending {
            kind: "call.status_changed",
            data,
        });
    }
    for turn in applied
        .new_turns
        .iter()
        .filter(|t| t.source == TranscriptSource::Live)
    {
        pending.push(Pending {
            kind: "call.transcript.turn",
            data: json!({ "turn": turn_data(turn.clone()) }),
        });
    }
    if events
        .iter()
        .any(|e| matches!(e, CallEvent::Transcript { .. }))
    {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TURN_COLUMNS} FROM transcript_turns WHERE call_id = $1 ORDER BY seq"
        )))
        .bind(call.id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let turns = rows
            .iter()
            .map(|row| turn_from_row(row).map(turn_data))
            .collect::<Result<Vec<_>, _>>()?;
        pending.push(Pending {
            kind: "call.transcript.finalized",
            data: json!({ "call": call_data(call), "turns": turns }),
        });
    }
    if let (false, Some(url)) = (had_recording, &call.recording_url) {
        pending.push(Pending {
            kind: "call.recording.ready",
            data: json!({ "call": call_data(call), "recording_url": url }),
        });
    }
    if applied.ended() {
        pending.push(Pending {
            kind: "call.ended",
            data: json!({ "call": call_data(call) }),
        });
    }
    Ok(pending)
}

/// The `call.created` event of a call just inserted.
pub(super) fn created(call: &Call) -> Pending {
    Pending {
        kind: "call.created",
        data: json!({ "call": call_data(call) }),
    }
}

/// An endpoint as fan-out sees it.
struct Subscriber {
    id: String,
    /// `None`: every type.
    types: Option<Vec<String>>,
}

impl Subscriber {
    fn wants(&self, kind: &str) -> bool {
        self.types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == kind))
    }
}

async fn subscribers(conn: &mut AnyConnection) -> Result<Vec<Subscriber>, StoreError> {
    let rows = sqlx::query("SELECT id, event_types FROM event_endpoints WHERE enabled = TRUE")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let types: Option<String> = row.try_get("event_types")?;
            Ok(Subscriber {
                id: row.try_get("id")?,
                types: types
                    .map(|t| serde_json::from_str(&t))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("event_types: {e}")))?,
            })
        })
        .collect()
}

/// Writes `pending` as the call's next events (numbered from its last `sequence`) with their
/// deliveries, inside the caller's transaction. The call must be locked or just inserted.
pub(super) async fn write(
    conn: &mut AnyConnection,
    call_id: CallId,
    pending: Vec<Pending>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if pending.is_empty() {
        return Ok(0);
    }
    let row = sqlx::query(
        "UPDATE calls SET event_seq = event_seq + $1 WHERE id = $2 RETURNING event_seq",
    )
    .bind(pending.len() as i64)
    .bind(call_id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    write_numbered(conn, call_id, pending, row.try_get("event_seq")?, now).await
}

/// Like [`write`], for a caller that has already moved the call's `event_seq` on by
/// `pending.len()` (to `last`) in a statement of its own.
pub(super) async fn write_numbered(
    conn: &mut AnyConnection,
    call_id: CallId,
    pending: Vec<Pending>,
    last: i64,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if pending.is_empty() {
        return Ok(0);
    }
    let count = pending.len() as i64;
    let subscribers = subscribers(conn).await?;
    let events: Vec<NewEvent> = pending
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let sequence = last - count + 1 + index as i64;
            let id = new_event_id();
            let payload = envelope(&id, event.kind, now, Some(call_id), sequence, event.data);
            NewEvent {
                id,
                kind: event.kind,
                sequence,
                payload: payload.to_string(),
            }
        })
        .collect();
    let deliveries: Vec<(&NewEvent, &str)> = events
        .iter()
        .flat_map(|event| {
            subscribers
                .iter()
                .filter(|s| s.wants(event.kind))
                .map(move |s| (event, s.id.as_str()))
        })
        .collect();
    let call = call_id.to_string();
    let created = ts(now);
    // A few statements for all of them, not two per event and endpoint.
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut insert = Statement::new(
            "INSERT INTO events (id, type, call_id, sequence, created_at, payload) VALUES ",
        );
        insert.rows(chunk, |row, event| {
            row.bind(event.id.clone())
                .push(", ")
                .bind(event.kind)
                .push(", ")
                .bind(call.clone())
                .push(", ")
                .bind(event.sequence)
                .push(", ")
                .bind(created.clone())
                .push(", ")
                .bind(event.payload.clone());
        });
        insert.build().execute(&mut *conn).await?;
    }
    for chunk in deliveries.chunks(ROWS_PER_INSERT) {
        let mut insert = Statement::new(
            "INSERT INTO event_deliveries (id, event_id, endpoint_id, call_id, sequence, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ",
        );
        insert.rows(chunk, |row, (event, endpoint)| {
            row.bind(new_delivery_id())
                .push(", ")
                .bind(event.id.clone())
                .push(", ")
                .bind(endpoint.to_string())
                .push(", ")
                .bind(call.clone())
                .push(", ")
                .bind(event.sequence)
                .push(", 'pending', 0, ")
                .bind(created.clone())
                .push(", ")
                .bind(created.clone())
                .push(", ")
                .bind(created.clone());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(deliveries.len())
}

/// Rows per multi-row `INSERT`: well below both backends' limits on bound values.
const ROWS_PER_INSERT: usize = 200;

/// An event of [`write`], ready to insert.
struct NewEvent {
    id: String,
    kind: &'static str,
    sequence: i64,
    payload: String,
}

pub(super) async fn insert_event(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    call_id: Option<CallId>,
    sequence: i64,
    now: DateTime<Utc>,
    payload: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (id, type, call_id, sequence, created_at, payload) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(kind)
    .bind(call_id.map(|c| c.to_string()))
    .bind(sequence)
    .bind(ts(now))
    .bind(payload.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new delivery id: `dlv_` and a UUIDv7.
pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7())
}

#[allow(clippy::too_many_arguments)] // one per column
pub(super) async fn insert_delivery(
    conn: &mut AnyConnection,
    event_id: &str,
    endpoint_id: &str,
    call_id: Option<CallId>,
    sequence: i64,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = new_delivery_id();
    sqlx::query(
        "INSERT INTO event_deliveries (id, event_id, endpoint_id, call_id, sequence, status, attempts, \
         next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $7)",
    )
    .bind(&id)
    .bind(event_id)
    .bind(endpoint_id)
    .bind(call_id.map(|c| c.to_string()))
    .bind(sequence)
    .bind(ts(due))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(id)
}
