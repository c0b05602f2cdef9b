//! Applying normalized events to a stored call, inside the caller's transaction.
//!
//! This is where the state machine meets the database: statuses only move forward (stale ones
//! are kept in the history), transcript turns get the next sequence number unless they are
//! already stored, and the post-call transcript reconciles the live one instead of repeating it.

use chrono::{DateTime, Utc};
use plugin_api::{
    Call, CallDetails, CallEvent, CallStatus, StatusUpdate, TranscriptSource, TranscriptTurn,
    Transition, Turn,
};
use serde_json::Value;
use sqlx::AnyConnection;
use sqlx::Row;

use super::StoreError;
use super::codec::{json, ts};
use super::lock::LockedCall;
use super::outbox;
use super::sql::Float;

/// Who caused a change, for the status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// The API (e.g. the call was created).
    Api,
    /// The outcome of an outbound request to the provider.
    Dispatch,
    /// A webhook, by receipt id.
    Webhook(String),
    /// The call's state as fetched from the vendor.
    Reconcile,
}

impl EventSource {
    fn name(&self) -> &'static str {
        match self {
            EventSource::Api => "api",
            EventSource::Dispatch => "dispatch",
            EventSource::Webhook(_) => "webhook",
            EventSource::Reconcile => "reconcile",
        }
    }

    fn receipt_id(&self) -> Option<&str> {
        match self {
            EventSource::Webhook(id) => Some(id),
            _ => None,
        }
    }
}

/// A status change that took effect.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub from: CallStatus,
    pub to: CallStatus,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// What applying events changed: the call as it now is, and what is new, for live updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub call: Call,
    pub status_changes: Vec<StatusChange>,
    /// Turns stored for the first time, in sequence order.
    pub new_turns: Vec<TranscriptTurn>,
    /// Partial (not final) turns: passed on live, never stored.
    pub partial_turns: Vec<Turn>,
}

impl Applied {
    /// Whether the call reached a terminal status with these changes.
    pub fn ended(&self) -> bool {
        self.status_changes.iter().any(|c| c.to.is_terminal())
    }

    fn new(call: Call) -> Self {
        Self {
            call,
            status_changes: Vec::new(),
            new_turns: Vec::new(),
            partial_turns: Vec::new(),
        }
    }
}

/// What, besides the events, a change brings along.
#[derive(Debug)]
pub(super) struct Context<'a> {
    pub source: &'a EventSource,
    pub now: DateTime<Utc>,
    /// The vendor id a webhook was correlated with, recorded if the call has none yet.
    pub provider_call_id: Option<&'a str>,
    /// The provider's private data from an accepted create.
    pub provider_data: Option<&'a Value>,
    /// Where the caller stored the audio of a `Recording` event.
    pub recording_path: Option<&'a str>,
    /// The events were applied before (a forced replay): a turn without a key that is stored
    /// already (same speaker and words) is not stored again.
    pub reapplying: bool,
}

/// Applies `events` to `call` and writes the result.
pub(super) async fn apply(
    conn: &mut AnyConnection,
    locked: LockedCall,
    events: &[CallEvent],
    context: &Context<'_>,
) -> Result<Applied, StoreError> {
    let (source, now) = (context.source, context.now);
    let LockedCall {
        call,
        mut last_seq,
        hangup_requested: hung_up,
        ..
    } = locked;
    let mut applied = Applied::new(call);
    let telephony_ids = applied.call.telephony_ids.clone();
    let had_recording = applied.call.recording_url.is_some();
    if applied.call.provider_call_id.is_none() {
        applied.call.provider_call_id = context.provider_call_id.map(str::to_owned);
    }
    // An erased call takes status changes only: nothing personal is stored for it again.
    let erased = applied.call.removed.erased_at.is_some();
    if context.recording_path.is_some() && applied.call.recording_url.is_none() && !erased {
        applied.call.recording_url = Some(format!("/v1/calls/{}/recording", applied.call.id));
    }
    for event in events {
        if erased && !matches!(event, CallEvent::Status(_)) {
            continue;
        }
        match event {
            CallEvent::Status(update) if hung_up && update.status == CallStatus::Completed => {
                // Ended normally after the API asked to hang up: the caller canceled it.
                let canceled = StatusUpdate {
                    status: CallStatus::Canceled,
                    reason: update
                        .reason
                        .clone()
                        .or(Some("hangup_requested".to_owned())),
                    ..update.clone()
                };
                apply_status(conn, &mut applied, &canceled, source, now).await?
            }
            CallEvent::Status(update) => {
                apply_status(conn, &mut applied, update, source, now).await?
            }
            CallEvent::Details(details) => apply_details(&mut applied.call, details),
            CallEvent::Turn(turn) if !turn.is_final => applied.partial_turns.push(turn.clone()),
            CallEvent::Turn(turn) => {
                let repeated = context.reapplying
                    && turn.key.is_none()
                    && turn_stored(conn, &applied.call, turn).await?;
                if repeated {
                    continue;
                }
                if let Some(stored) =
                    store_turn(conn, &applied.call, turn, &mut last_seq, now).await?
                {
                    applied.new_turns.push(stored);
                }
            }
            CallEvent::Transcript { turns } => {
                let stored =
                    reconcile_transcript(conn, &applied.call, turns, &mut last_seq, now).await?;
                applied.new_turns.extend(stored);
            }
            // The audio itself is stored by the caller, outside the database: see `recording_path`.
            CallEvent::Recording(_) => {}
        }
    }
    finish_call(&mut applied.call);
    applied.call.updated_at = now;
    // The events to applications this change causes: in its own transaction (the outbox),
    // numbered by the same statement that writes the call.
    let pending = outbox::events_of(conn, &applied, events, had_recording).await?;
    let last_event = write_call(conn, &applied.call, last_seq, pending.len(), context).await?;
    if applied.call.telephony_ids != telephony_ids {
        super::calls::write_telephony_ids(conn, applied.call.id, &applied.call.telephony_ids)
            .await?;
    }
    outbox::write_numbered(conn, applied.call.id, pending, last_event, now).await?;
    Ok(applied)
}

async fn apply_status(
    conn: &mut AnyConnection,
    applied: &mut Applied,
    update: &StatusUpdate,
    source: &EventSource,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let call = &mut applied.call;
    let from = call.status;
    let transition = from.transition_to(update.status);
    if transition == Transition::Unchanged {
        // A plain repeat is kept out of the history (its receipt is the record); a repeat that
        // says something new about the current status updates the reason.
        if update.reason.is_none() || update.reason == call.status_reason {
            return Ok(());
        }
        call.status_reason.clone_from(&update.reason);
    }
    record_status_event(
        conn,
        call,
        Some(from),
        update,
        transition.applies(),
        source,
        now,
    )
    .await?;
    if !transition.applies() {
        return Ok(());
    }
    let at = update.at.unwrap_or(now);
    call.status = update.status;
    call.status_reason.clone_from(&update.reason);
    if update.status == CallStatus::InProgress {
        call.started_at.get_or_insert(at);
    }
    if update.status.is_terminal() {
        call.ended_at.get_or_insert(at);
        if update.status == CallStatus::Failed {
            call.failure_reason = update.reason.clone().or(call.failure_reason.take());
        }
        if call.end_reason.is_none() {
            call.end_reason = update.reason.clone();
        }
    }
    applied.status_changes.push(StatusChange {
        from,
        to: update.status,
        reason: update.reason.clone(),
        at,
    });
    Ok(())
}

/// Adds a row to the call's status history.
pub(super) async fn record_status_event(
    conn: &mut AnyConnection,
    call: &Call,
    from: Option<CallStatus>,
    update: &StatusUpdate,
    applied: bool,
    source: &EventSource,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_status_events (call_id, from_status, to_status, applied, reason, vendor_status, \
         source, receipt_id, occurred_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(call.id.to_string())
    .bind(from.map(CallStatus::as_str))
    .bind(update.status.as_str())
    .bind(applied)
    .bind(&update.reason)
    .bind(&update.vendor_status)
    .bind(source.name())
    .bind(source.receipt_id())
    .bind(update.at.map(ts))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn apply_details(call: &mut Call, details: &CallDetails) {
    fn set<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    if call.provider_call_id.is_none() {
        call.provider_call_id.clone_from(&details.provider_call_id);
    }
    call.telephony_ids.merge(&details.telephony_ids);
    set(&mut call.started_at, &details.started_at);
    set(&mut call.ended_at, &details.ended_at);
    set(&mut call.duration_secs, &details.duration_secs);
    set(&mut call.cost, &details.cost);
    set(&mut call.summary, &details.summary);
    set(&mut call.success, &details.success);
    set(&mut call.analysis, &details.analysis);
    set(&mut call.recording_url, &details.recording_url);
    set(&mut call.end_reason, &details.end_reason);
    set(&mut call.cost_breakdown, &details.cost_breakdown);
    set(&mut call.vendor_metadata, &details.vendor_metadata);
}

/// Derives what the vendor left out once a call has ended.
fn finish_call(call: &mut Call) {
    if let (None, Some(start), Some(end)) = (call.duration_secs, call.started_at, call.ended_at) {
        if call.status.is_terminal() && end >= start {
            call.duration_secs = Some((end - start).num_milliseconds() as f64 / 1000.0);
        }
    }
}

/// Writes the call, moving its `event_seq` on by `new_events`; returns the new `event_seq`.
async fn write_call(
    conn: &mut AnyConnection,
    call: &Call,
    last_seq: i64,
    new_events: usize,
    context: &Context<'_>,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "UPDATE calls SET provider_call_id = $1, telephony_ids = $2, status = $3, status_reason = $4, updated_at = $5, \
         started_at = $6, ended_at = $7, duration_secs = $8, cost = $9, cost_unit = $10, summary = $11, success = $12, \
         analysis = $13, recording_url = $14, end_reason = $15, failure_reason = $16, cost_breakdown = $17, vendor_metadata = $18, last_seq = $19, \
         provider_data = COALESCE($20, provider_data), recording_path = COALESCE($21, recording_path), \
         event_seq = event_seq + $23 WHERE id = $22 RETURNING event_seq",
    )
    .bind(&call.provider_call_id)
    .bind(json(&call.telephony_ids))
    .bind(call.status.as_str())
    .bind(&call.status_reason)
    .bind(ts(call.updated_at))
    .bind(call.started_at.map(ts))
    .bind(call.ended_at.map(ts))
    .bind(Float(call.duration_secs))
    .bind(Float(call.cost.map(|c| c.amount)))
    .bind(call.cost.map(|c| c.unit.as_str()))
    .bind(&call.summary)
    .bind(call.success)
    .bind(call.analysis.as_ref().map(json))
    .bind(&call.recording_url)
    .bind(&call.end_reason)
    .bind(&call.failure_reason)
    .bind(call.cost_breakdown.as_ref().map(json))
    .bind(call.vendor_metadata.as_ref().map(json))
    .bind(last_seq)
    .bind(context.provider_data.map(json))
    // An erased call gets no recording again.
    .bind(context.recording_path.filter(|_| call.removed.erased_at.is_none()))
    .bind(call.id.to_string())
    .bind(new_events as i64)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("event_seq")?)
}

/// Stores `turn` as the call's next turn; for a turn with a key, a turn already stored with that
/// key is updated in place instead (its sequence number stays, and nothing new is returned).
/// One statement either way: the sequence number only advances when a row was inserted.
async fn store_turn(
    conn: &mut AnyConnection,
    call: &Call,
    turn: &Turn,
    last_seq: &mut i64,
    now: DateTime<Utc>,
) -> Result<Option<TranscriptTurn>, StoreError> {
    let next = *last_seq + 1;
    let row = sqlx::query(
        "INSERT INTO transcript_turns (call_id, seq, speaker, text, offset_secs, is_final, source, turn_key, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (call_id, turn_key) WHERE turn_key IS NOT NULL DO UPDATE SET text = excluded.text, \
         offset_secs = COALESCE(excluded.offset_secs, transcript_turns.offset_secs), \
         updated_at = excluded.updated_at RETURNING seq",
    )
    .bind(call.id.to_string())
    .bind(next)
    .bind(turn.speaker.as_str())
    .bind(&turn.text)
    .bind(Float(turn.offset_secs))
    .bind(turn.is_final)
    .bind(turn.source.as_str())
    .bind(&turn.key)
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await?;
    if row.try_get::<i64, _>("seq")? != next {
        return Ok(None);
    }
    *last_seq = next;
    Ok(Some(TranscriptTurn {
        call_id: call.id,
        seq: next,
        speaker: turn.speaker.clone(),
        text: turn.text.clone(),
        offset_secs: turn.offset_secs,
        is_final: true,
        source: turn.source,
        created_at: now,
    }))
}

/// Whether a turn with `turn`'s speaker and words is stored for `call`.
async fn turn_stored(
    conn: &mut AnyConnection,
    call: &Call,
    turn: &Turn,
) -> Result<bool, StoreError> {
    let rows = sqlx::query("SELECT text FROM transcript_turns WHERE call_id = $1 AND speaker = $2")
        .bind(call.id.to_string())
        .bind(turn.speaker.as_str())
        .fetch_all(&mut *conn)
        .await?;
    let words = normalized(&turn.text);
    for row in &rows {
        if normalized(&row.try_get::<String, _>("text")?) == words {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Words only: how two renderings of the same utterance are recognized as one turn.
fn normalized(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

struct StoredTurn {
    seq: i64,
    speaker: String,
    text: String,
    key: Option<String>,
    has_offset: bool,
}

/// Matches each turn of a complete transcript to a stored turn (same key, or same speaker and
/// words, each stored turn used once) and stores only the turns that were never received.
async fn reconcile_transcript(
    conn: &mut AnyConnection,
    call: &Call,
    turns: &[Turn],
    last_seq: &mut i64,
    now: DateTime<Utc>,
) -> Result<Vec<TranscriptTurn>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, speaker, text, turn_key, offset_secs FROM transcript_turns WHERE call_id = $1 ORDER BY seq",
    )
    .bind(call.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut stored = rows
        .iter()
        .map(|row| {
            Ok(StoredTurn {
                seq: row.try_get("seq")?,
                speaker: row.try_get("speaker")?,
                text: normalized(&row.try_get::<String, _>("text")?),
                key: row.try_get("turn_key")?,
                has_offset: row.try_get::<Option<f64>, _>("offset_secs")?.is_some(),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let mut added = Vec::new();
    for turn in turns.iter().filter(|t| t.is_final) {
        let words = normalized(&turn.text);
        let position = stored.iter().position(|s| {
            (turn.key.is_some() && s.key == turn.key)
                || (s.speaker == turn.speaker.as_str() && s.text == words)
        });
        match position {
            Some(index) => {
                let matched = stored.remove(index);
                if !matched.has_offset && turn.offset_secs.is_some() {
                    sqlx::query("UPDATE transcript_turns SET offset_secs = $1, updated_at = $2 WHERE call_id = $3 AND seq = $4")
                        .bind(Float(turn.offset_secs))
                        .bind(ts(now))
                        .bind(call.id.to_string())
                        .bind(matched.seq)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            None => {
                let turn = Turn {
                    source: TranscriptSource::PostCall,
                    ..turn.clone()
                };
                added.extend(store_turn(conn, call, &turn, last_seq, now).await?);
            }
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn normalization_ignores_case_spacing_and_punctuation() {
        assert_eq!(normalized("  Hello,   THERE! "), "hello there");
        assert_eq!(normalized("You said: hi."), normalized("you said hi"));
        assert_ne!(normalized("hi there"), normalized("hi they're"));
    }
}
