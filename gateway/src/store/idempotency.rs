//! Idempotency keys: the same key and body place one call, however often they are sent.
//!
//! A key is claimed (not `completed`) in the transaction that stores its call, and completed
//! once the create request has its answer. A claim is a lease: if the request died mid-flight
//! (the process stopped between the two), a retry with the same key and body after
//! `claim_timeout` takes the claim over ([`Claim::Recovered`]; `created_at` is renewed, so one
//! retry wins) and the caller settles the stored call. Before that, a retry is
//! [`Claim::InFlight`].

use chrono::{TimeDelta, Utc};
use plugin_api::{Call, CallEvent};
use sqlx::{AssertSqlSafe, Row};

use super::apply::{Context, EventSource, apply};
use super::calls::{NewCall, fetch_call, insert_call};
use super::codec::{call_id, parse_ts, ts};
use super::lock::LockedCall;
use super::sql::flag;
use super::{Store, StoreError, is_conflict};

/// A client's `Idempotency-Key`, scoped to the caller, with a hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
    pub ttl: std::time::Duration,
    /// How long the claim of a request that has not completed holds (see the module's docs).
    pub claim_timeout: std::time::Duration,
}

/// The result of trying to create a call.
#[derive(Debug, Clone)]
pub enum Claim {
    /// A new call was stored.
    Created(Call),
    /// The key was used before with the same request: this is that call.
    Replay(Call),
    /// The key was used before with a different request.
    Mismatch,
    /// The key's first request is still being handled.
    InFlight,
    /// The key's first request claimed it longer than `claim_timeout` ago and never completed
    /// (it died mid-flight): this request took the claim over; this is the stored call, to
    /// settle before the key is completed.
    Recovered(Call),
}

impl Store {
    /// Stores a new call (status `queued`), claiming the idempotency key in the same transaction,
    /// and applies `initial` to it there too (one transaction where the caller has nothing to
    /// do in between: e.g. no key whose claim must be durable before the call moves on).
    pub async fn create_call(
        &self,
        call: NewCall,
        key: Option<&IdempotencyKey>,
        initial: &[CallEvent],
    ) -> Result<Claim, StoreError> {
        self.retrying("create_call", || async {
            match self.create_call_once(&call, key, initial).await {
                // Another request (maybe on another instance) claimed the key between our check
                // and our insert: the second look finds its claim.
                Err(error) if key.is_some() && is_conflict(&error) => {
                    self.create_call_once(&call, key, initial).await
                }
                outcome => outcome,
            }
        })
        .await
    }

    async fn create_call_once(
        &self,
        call: &NewCall,
        key: Option<&IdempotencyKey>,
        initial: &[CallEvent],
    ) -> Result<Claim, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = Utc::now();
        if let Some(key) = key {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at <= $3",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            let select = format!(
                "SELECT request_hash, call_id, completed, created_at FROM idempotency_keys \
                 WHERE scope = $1 AND key = $2{}",
                self.backend.for_update()
            );
            let existing = sqlx::query(AssertSqlSafe(select))
                .bind(&key.scope)
                .bind(&key.key)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = existing {
                let hash: String = row.try_get("request_hash")?;
                if hash != key.request_hash {
                    return Ok(Claim::Mismatch);
                }
                let completed = flag(&row, "completed")?;
                let claimed_at = parse_ts(&row.try_get::<String, _>("created_at")?)?;
                let lease = TimeDelta::from_std(key.claim_timeout).unwrap_or(TimeDelta::MAX);
                if !completed && now - claimed_at < lease {
                    return Ok(Claim::InFlight);
                }
                let id = call_id(&row.try_get::<String, _>("call_id")?)?;
                let call = fetch_call(&mut tx, id).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("idempotency key points at missing call {id}"))
                })?;
                if completed {
                    return Ok(Claim::Replay(call));
                }
                // The first request died mid-flight: this one takes the claim over.
                sqlx::query(
                    "UPDATE idempotency_keys SET created_at = $3 WHERE scope = $1 AND key = $2",
                )
                .bind(&key.scope)
                .bind(&key.key)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(Claim::Recovered(call));
            }
        }
        insert_call(&mut tx, call).await?;
        if let Some(key) = key {
            let ttl = TimeDelta::from_std(key.ttl).unwrap_or(TimeDelta::days(1));
            sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, call_id, completed, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, FALSE, $5, $6)",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.request_hash)
            .bind(call.id.to_string())
            .bind(ts(now))
            .bind(ts(now + ttl))
            .execute(&mut *tx)
            .await?;
        }
        if initial.is_empty() {
            tx.commit().await?;
            self.outbox_written();
            return Ok(Claim::Created(call.clone()));
        }
        // Just inserted, so nothing needs reading back: no turns, no hangup, no deliveries.
        let inserted = LockedCall {
            call: call.clone(),
            last_seq: 0,
            hangup_requested: false,
            delivered_before: false,
        };
        let context = Context {
            source: &EventSource::Dispatch,
            now: Utc::now(),
            provider_call_id: None,
            provider_data: None,
            recording_path: None,
            reapplying: false,
        };
        let applied = apply(&mut tx, inserted, initial, &context).await?;
        tx.commit().await?;
        self.committed(&applied);
        self.outbox_written();
        Ok(Claim::Created(applied.call))
    }

    /// Marks the key's request as answered, so later requests with it replay the call.
    pub async fn complete_idempotency_key(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.retrying("complete_idempotency_key", || async {
            self.execute_write(
                sqlx::query(
                    "UPDATE idempotency_keys SET completed = TRUE WHERE scope = $1 AND key = $2",
                )
                .bind(&key.scope)
                .bind(&key.key),
            )
            .await?;
            Ok(())
        })
        .await
    }
}
