//! Erasure: a call's personal data removed on request, leaving a tombstone.
//!
//! What goes: the number (masked to its country code and last two digits), variables,
//! metadata, first message, summary, success verdict, analysis, vendor metadata, the
//! provider's private data, the transcript's turns, the recording (file and reference), the
//! raw bodies of the call's webhook receipts (marked `body_pruned`), and the call's events to
//! applications with their deliveries and attempts (the events are deleted: their payloads
//! carry the call as it was). What stays, so counts and billing stay true: id, provider,
//! status and its history, times, duration, cost and its breakdown, end and failure reasons.
//!
//! Everything is in the database, so every instance sees an erasure the moment it commits.

use chrono::Utc;
use plugin_api::{Call, CallId, PhoneNumber};
use sqlx::{AnyConnection, Row};

use super::apply::Applied;
use super::calls::fetch_call;
use super::codec::{call_id, ts};
use super::lock::{CallKey, lock_call};
use super::retention::{delete_call_events, remove_files};
use super::{Store, StoreError};

/// What erasing a call came to.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// The tombstone.
    pub call: Call,
    /// Whether this request erased it (false: it was erased before, nothing changed).
    pub newly: bool,
}

/// Drops the raw body of receipt `id` (a webhook about an erased call), marking it pruned.
pub(super) async fn forget_body(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE webhook_receipts SET body = $1, body_pruned_at = $2 WHERE id = $3")
        .bind(Vec::<u8>::new())
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Erases the call's personal data; `None` if there is no such call. Idempotent: a call
    /// erased before is answered as it is, unchanged.
    pub async fn erase_call(&self, id: CallId) -> Result<Option<Erasure>, StoreError> {
        let erased = self
            .retrying("erase_call", || async {
                let mut tx = self.begin_write().await?;
                let Some(locked) = lock_call(&mut tx, self.backend, CallKey::Id(id), None).await?
                else {
                    return Ok(None);
                };
                if locked.call.removed.erased_at.is_some() {
                    let erasure = Erasure {
                        call: locked.call,
                        newly: false,
                    };
                    return Ok(Some((erasure, None)));
                }
                let key = id.to_string();
                let recording: Option<String> =
                    sqlx::query("SELECT recording_path FROM calls WHERE id = $1")
                        .bind(&key)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("recording_path")?;
                let now = ts(Utc::now());
                sqlx::query(
                    "UPDATE calls SET to_number = $1, variables = '{}', metadata = '{}', \
                     first_message = NULL, summary = NULL, success = NULL, analysis = NULL, \
                     recording_url = NULL, recording_path = NULL, vendor_metadata = NULL, \
                     provider_data = NULL, erased_at = $2, updated_at = $2 WHERE id = $3",
                )
                .bind(locked.call.to.erased().as_str())
                .bind(&now)
                .bind(&key)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM transcript_turns WHERE call_id = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE webhook_receipts SET body = $1, body_pruned_at = $2 \
                     WHERE call_id = $3 AND body_pruned_at IS NULL",
                )
                .bind(Vec::<u8>::new())
                .bind(&now)
                .bind(&key)
                .execute(&mut *tx)
                .await?;
                delete_call_events(&mut tx, std::slice::from_ref(&key)).await?;
                let call = fetch_call(&mut tx, id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("erased call {id} is gone")))?;
                tx.commit().await?;
                Ok(Some((Erasure { call, newly: true }, recording)))
            })
            .await?;
        let Some((erasure, recording)) = erased else {
            return Ok(None);
        };
        if erasure.newly {
            remove_files(recording.as_slice()).await;
            // Live subscribers see the tombstone (and no turn is stored to send them).
            self.committed(&Applied {
                call: erasure.call.clone(),
                status_changes: Vec::new(),
                new_turns: Vec::new(),
                partial_turns: Vec::new(),
            });
        }
        Ok(Some(erasure))
    }

    /// Erases every call to `number` not erased yet; how many this erased.
    pub async fn erase_number(&self, number: &PhoneNumber) -> Result<u64, StoreError> {
        let mut erased = 0;
        loop {
            let rows = self
                .retrying("erase_number", || async {
                    Ok(sqlx::query(
                        "SELECT id FROM calls WHERE to_number = $1 AND erased_at IS NULL \
                         ORDER BY id LIMIT $2",
                    )
                    .bind(number.as_str())
                    .bind(super::retention::BATCH as i64)
                    .fetch_all(&self.reader)
                    .await?)
                })
                .await?;
            if rows.is_empty() {
                return Ok(erased);
            }
            for row in rows {
                let id = call_id(&row.try_get::<String, _>("id")?)?;
                if self.erase_call(id).await?.is_some_and(|e| e.newly) {
                    erased += 1;
                }
            }
        }
    }
}
