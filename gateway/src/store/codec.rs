//! Conversions between the model's types and their stored text.

use chrono::{DateTime, SecondsFormat, Utc};
use plugin_api::{
    Call, CallId, CallStatus, Cost, CostUnit, PhoneNumber, Removed, Speaker, TelephonyIds,
    TranscriptSource, TranscriptTurn,
};
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::StoreError;

/// Fixed-width UTC text, so comparing strings compares times.
pub(crate) fn ts(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp '{raw}': {e}")))
}

fn opt_ts(raw: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    raw.as_deref().map(parse_ts).transpose()
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: DeserializeOwned>(raw: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn call_id(raw: &str) -> Result<CallId, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("call id '{raw}'")))
}

pub(crate) fn status(raw: &str) -> Result<CallStatus, StoreError> {
    raw.parse()
        .map_err(|e: plugin_api::UnknownStatus| StoreError::Corrupt(e.to_string()))
}

/// The columns of `calls` that [`call_from_row`] reads.
pub(crate) const CALL_COLUMNS: &str = "id, provider, provider_kind, provider_call_id, telephony_ids, status, status_reason, \
    to_number, from_number_id, agent_id, variables, metadata, first_message, created_at, updated_at, \
    started_at, ended_at, duration_secs, cost, cost_unit, summary, success, analysis, recording_url, \
    end_reason, failure_reason, cost_breakdown, vendor_metadata, idempotency_key, created_by, \
    recording_pruned_at, transcript_pruned_at, erased_at";

pub(crate) fn call_from_row(row: &AnyRow) -> Result<Call, StoreError> {
    let to: String = row.try_get("to_number")?;
    let cost = match (
        row.try_get::<Option<f64>, _>("cost")?,
        row.try_get::<Option<String>, _>("cost_unit")?,
    ) {
        (Some(amount), Some(unit)) => Some(Cost {
            amount,
            unit: CostUnit::parse(&unit)
                .ok_or_else(|| StoreError::Corrupt(format!("cost unit '{unit}'")))?,
        }),
        _ => None,
    };
    let json_column = |name: &str| -> Result<Option<serde_json::Value>, StoreError> {
        let raw: Option<String> = row.try_get(name)?;
        raw.as_deref().map(|raw| from_json(raw, name)).transpose()
    };
    Ok(Call {
        id: call_id(&row.try_get::<String, _>("id")?)?,
        provider: row.try_get("provider")?,
        provider_kind: row.try_get("provider_kind")?,
        provider_call_id: row.try_get("provider_call_id")?,
        telephony_ids: from_json::<TelephonyIds>(
            &row.try_get::<String, _>("telephony_ids")?,
            "telephony_ids",
        )?,
        status: status(&row.try_get::<String, _>("status")?)?,
        status_reason: row.try_get("status_reason")?,
        to: PhoneNumber::stored(&to).map_err(|e| StoreError::Corrupt(format!("to_number: {e}")))?,
        from_number_id: row.try_get("from_number_id")?,
        agent_id: row.try_get("agent_id")?,
        variables: from_json(&row.try_get::<String, _>("variables")?, "variables")?,
        metadata: from_json(&row.try_get::<String, _>("metadata")?, "metadata")?,
        first_message: row.try_get("first_message")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        started_at: opt_ts(row.try_get("started_at")?)?,
        ended_at: opt_ts(row.try_get("ended_at")?)?,
        duration_secs: row.try_get("duration_secs")?,
        cost,
        summary: row.try_get("summary")?,
        success: super::sql::opt_flag(row, "success")?,
        analysis: json_column("analysis")?,
        recording_url: row.try_get("recording_url")?,
        end_reason: row.try_get("end_reason")?,
        failure_reason: row.try_get("failure_reason")?,
        cost_breakdown: json_column("cost_breakdown")?,
        vendor_metadata: json_column("vendor_metadata")?,
        idempotency_key: row.try_get("idempotency_key")?,
        created_by: row.try_get("created_by")?,
        removed: Removed {
            recording: row
                .try_get::<Option<String>, _>("recording_pruned_at")?
                .is_some(),
            transcript: row
                .try_get::<Option<String>, _>("transcript_pruned_at")?
                .is_some(),
            erased_at: opt_ts(row.try_get("erased_at")?)?,
        },
    })
}

pub(crate) const TURN_COLUMNS: &str =
    "call_id, seq, speaker, text, offset_secs, is_final, source, created_at";

pub(crate) fn turn_from_row(row: &AnyRow) -> Result<TranscriptTurn, StoreError> {
    let source: String = row.try_get("source")?;
    Ok(TranscriptTurn {
        call_id: call_id(&row.try_get::<String, _>("call_id")?)?,
        seq: row.try_get("seq")?,
        speaker: Speaker::parse(&row.try_get::<String, _>("speaker")?),
        text: row.try_get("text")?,
        offset_secs: row.try_get("offset_secs")?,
        is_final: super::sql::flag(row, "is_final")?,
        source: TranscriptSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("transcript source '{source}'")))?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
    })
}

pub(crate) fn opt_parse_ts(raw: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    opt_ts(raw)
}
