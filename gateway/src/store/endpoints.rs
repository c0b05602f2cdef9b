//! Event endpoints, the event log, deliveries and their attempts.

use chrono::{DateTime, Utc};
use plugin_api::CallId;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::codec::{call_id, opt_parse_ts, parse_ts, ts};
use super::outbox::{PING, envelope, insert_delivery, insert_event, new_event_id};
use super::sql::{Statement, flag};
use super::{Store, StoreError};

/// An application endpoint events are delivered to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    /// `api` or `config` (read-only through the API).
    pub source: String,
    pub url: String,
    pub description: Option<String>,
    /// `None`: every event type.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// The secrets that sign an attempt at `now`: the current one, and the previous one during
    /// the overlap after a rotation.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if until > now {
                secrets.push(previous);
            }
        }
        secrets
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == kind))
    }
}

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub id: String,
    pub source: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub secret: String,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Option<Vec<String>>>,
    pub enabled: Option<bool>,
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: String,
    pub kind: String,
    pub call_id: Option<CallId>,
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    /// The envelope as delivered.
    pub payload: Value,
}

/// Filters for the event log.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub call_id: Option<CallId>,
    pub kind: Option<String>,
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// The first 1 KiB of the answer.
    pub response_body: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub call_id: Option<CallId>,
    pub sequence: i64,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first (only loaded by the deliveries list).
    pub attempt_log: Vec<Attempt>,
}

/// Filters for an endpoint's deliveries.
#[derive(Debug, Clone)]
pub struct DeliveryFilter {
    pub endpoint_id: String,
    pub status: Option<DeliveryStatus>,
    pub before_id: Option<String>,
    pub limit: u32,
}

/// A delivery a worker holds: what to send, where, signed with what.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: String,
    pub event_id: String,
    pub attempts: i64,
    pub payload: String,
    pub endpoint: Endpoint,
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Try again at this time.
    Retry(DateTime<Utc>),
    /// No more tries.
    Failed,
}

const ENDPOINT_COLUMNS: &str = "id, source, url, description, event_types, enabled, disabled_reason, secret, \
     previous_secret, previous_secret_until, failing_since, created_at, updated_at";

fn endpoint_from_row(row: &AnyRow) -> Result<Endpoint, StoreError> {
    let types: Option<String> = row.try_get("event_types")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        event_types: types
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("event_types: {e}")))?,
        enabled: flag(row, "enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_secret_until: opt_parse_ts(row.try_get("previous_secret_until")?)?,
        failing_since: opt_parse_ts(row.try_get("failing_since")?)?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<EventRecord, StoreError> {
    let payload: String = row.try_get("payload")?;
    Ok(EventRecord {
        id: row.try_get("id")?,
        kind: row.try_get("type")?,
        call_id: row
            .try_get::<Option<String>, _>("call_id")?
            .as_deref()
            .map(call_id)
            .transpose()?,
        sequence: row.try_get("sequence")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))?,
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, ev.type AS event_type, d.endpoint_id, d.call_id, d.sequence, \
     d.status, d.attempts, d.next_attempt_at, d.created_at, d.updated_at";

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
    let status: String = row.try_get("status")?;
    let status = DeliveryStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery status '{status}'")))?;
    Ok(Delivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        endpoint_id: row.try_get("endpoint_id")?,
        call_id: row
            .try_get::<Option<String>, _>("call_id")?
            .as_deref()
            .map(call_id)
            .transpose()?,
        sequence: row.try_get("sequence")?,
        status,
        attempts: row.try_get("attempts")?,
        next_attempt_at: if status == DeliveryStatus::Pending {
            Some(parse_ts(&row.try_get::<String, _>("next_attempt_at")?)?)
        } else {
            None
        },
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        attempt_log: Vec::new(),
    })
}

fn types_json(types: &Option<Vec<String>>) -> Option<String> {
    types.as_ref().map(super::codec::json)
}

async fn fetch_endpoint(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Endpoint>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM event_endpoints WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(endpoint_from_row).transpose()
}

async fn insert_endpoint(
    conn: &mut AnyConnection,
    new: &NewEndpoint,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO event_endpoints (id, source, url, description, event_types, enabled, secret, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&new.id)
    .bind(&new.source)
    .bind(&new.url)
    .bind(&new.description)
    .bind(types_json(&new.event_types))
    .bind(new.enabled)
    .bind(&new.secret)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn create_endpoint(&self, new: &NewEndpoint) -> Result<Endpoint, StoreError> {
        self.retrying("create_endpoint", || async {
            let mut tx = self.begin_write().await?;
            insert_endpoint(&mut tx, new, Utc::now()).await?;
            let endpoint = fetch_endpoint(&mut tx, &new.id)
                .await?
                .ok_or_else(|| StoreError::Corrupt("endpoint vanished".into()))?;
            tx.commit().await?;
            Ok(endpoint)
        })
        .await
    }

    /// Every endpoint, config-declared ones first, then by id.
    pub async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let sql =
            format!("SELECT {ENDPOINT_COLUMNS} FROM event_endpoints ORDER BY source DESC, id");
        let rows = self
            .retrying("list_endpoints", || async {
                Ok(sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .fetch_all(&self.reader)
                    .await?)
            })
            .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    pub async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        self.retrying("get_endpoint", || async {
            let mut conn = self.reader.acquire().await?;
            fetch_endpoint(&mut conn, id).await
        })
        .await
    }

    /// Applies `change`; re-enabling clears the reason it was disabled and its failing streak.
    pub async fn update_endpoint(
        &self,
        id: &str,
        change: &EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError> {
        self.retrying("update_endpoint", || async {
            let mut tx = self.begin_write().await?;
            let Some(mut endpoint) = fetch_endpoint(&mut tx, id).await? else {
                return Ok(None);
            };
            if let Some(url) = &change.url {
                endpoint.url.clone_from(url);
            }
            if let Some(description) = &change.description {
                endpoint.description.clone_from(description);
            }
            if let Some(types) = &change.event_types {
                endpoint.event_types.clone_from(types);
            }
            if let Some(enabled) = change.enabled {
                if enabled && !endpoint.enabled {
                    endpoint.disabled_reason = None;
                    endpoint.failing_since = None;
                }
                endpoint.enabled = enabled;
            }
            sqlx::query(
                "UPDATE event_endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, \
                 disabled_reason = $5, failing_since = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(&endpoint.url)
            .bind(&endpoint.description)
            .bind(types_json(&endpoint.event_types))
            .bind(endpoint.enabled)
            .bind(&endpoint.disabled_reason)
            .bind(endpoint.failing_since.map(ts))
            .bind(ts(Utc::now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let endpoint = fetch_endpoint(&mut tx, id).await?;
            tx.commit().await?;
            self.outbox_written();
            Ok(endpoint)
        })
        .await
    }

    /// Deletes an endpoint and its deliveries. Whether it existed.
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        self.retrying("delete_endpoint", || async {
            let mut tx = self.begin_write().await?;
            sqlx::query("DELETE FROM event_attempts WHERE delivery_id IN (SELECT id FROM event_deliveries WHERE endpoint_id = $1)")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM event_deliveries WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM event_endpoints WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// A new secret; the current one keeps signing (as the previous) until `overlap_until`.
    pub async fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &str,
        overlap_until: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        self.retrying("rotate_endpoint_secret", || async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE event_endpoints SET previous_secret = secret, previous_secret_until = $1, secret = $2, \
                 updated_at = $3 WHERE id = $4",
            )
            .bind(ts(overlap_until))
            .bind(secret)
            .bind(ts(Utc::now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
            let endpoint = fetch_endpoint(&mut tx, id).await?;
            tx.commit().await?;
            Ok(endpoint)
        })
        .await
    }

    /// Disables an enabled endpoint with the reason. Whether it was enabled.
    pub async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        self.retrying("disable_endpoint", || async {
            let done = self.execute_write(sqlx::query(
                "UPDATE event_endpoints SET enabled = FALSE, disabled_reason = $1, updated_at = $2 \
                 WHERE id = $3 AND enabled = TRUE",
            )
            .bind(reason)
            .bind(ts(Utc::now()))
            .bind(id)
            )
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    /// Makes the config-declared endpoints (source `config`) exactly `declared`: new ones are
    /// added, changed ones updated (their state kept), removed ones deleted.
    pub async fn sync_config_endpoints(&self, declared: &[NewEndpoint]) -> Result<(), StoreError> {
        self.retrying("sync_config_endpoints", || async {
            let mut tx = self.begin_write().await?;
            let now = Utc::now();
            let rows = sqlx::query("SELECT id FROM event_endpoints WHERE source = 'config'")
                .fetch_all(&mut *tx)
                .await?;
            for row in &rows {
                let id: String = row.try_get("id")?;
                if !declared.iter().any(|d| d.id == id) {
                    sqlx::query("DELETE FROM event_attempts WHERE delivery_id IN (SELECT id FROM event_deliveries WHERE endpoint_id = $1)")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM event_deliveries WHERE endpoint_id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM event_endpoints WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for endpoint in declared {
                let updated = sqlx::query(
                    "UPDATE event_endpoints SET url = $1, description = $2, event_types = $3, secret = $4, \
                     updated_at = $5 WHERE id = $6 AND (url <> $1 OR secret <> $4 \
                     OR COALESCE(event_types, '') <> COALESCE($3, '') OR COALESCE(description, '') <> COALESCE($2, ''))",
                )
                .bind(&endpoint.url)
                .bind(&endpoint.description)
                .bind(types_json(&endpoint.event_types))
                .bind(&endpoint.secret)
                .bind(ts(now))
                .bind(&endpoint.id)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 && fetch_endpoint(&mut tx, &endpoint.id).await?.is_none() {
                    insert_endpoint(&mut tx, endpoint, now).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The event log, newest first.
    pub async fn list_events(
        &self,
        filter: &EventFilter,
    ) -> Result<(Vec<EventRecord>, Option<String>), StoreError> {
        let rows = self
            .retrying("list_events", || async {
                let mut query = Statement::new(
                    "SELECT id, type, call_id, sequence, created_at, payload FROM events WHERE 1 = 1",
                );
                query
                    .and("call_id", "=", filter.call_id.map(|c| c.to_string()))
                    .and("type", "=", filter.kind.clone())
                    .and("id", "<", filter.before_id.clone())
                    .push(" ORDER BY id DESC LIMIT ")
                    .bind(i64::from(filter.limit) + 1);
                Ok(query.build().fetch_all(&self.reader).await?)
            })
            .await?;
        let items = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::page(items, filter.limit, |e| e.id.clone()))
    }

    pub async fn get_event(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let row = self
            .retrying("get_event", || async {
                Ok(sqlx::query(
                    "SELECT id, type, call_id, sequence, created_at, payload FROM events WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.reader)
                .await?)
            })
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// An endpoint's deliveries, newest first, each with its attempts.
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let rows = self
            .retrying("list_deliveries", || async {
                let mut query = Statement::new(format!(
                    "SELECT {DELIVERY_COLUMNS} FROM event_deliveries d JOIN events ev ON ev.id = d.event_id \
                     WHERE d.endpoint_id = "
                ));
                query.bind(filter.endpoint_id.clone());
                query
                    .and("d.status", "=", filter.status.map(DeliveryStatus::as_str))
                    .and("d.id", "<", filter.before_id.clone())
                    .push(" ORDER BY d.id DESC LIMIT ")
                    .bind(i64::from(filter.limit) + 1);
                Ok(query.build().fetch_all(&self.reader).await?)
            })
            .await?;
        let items = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (mut items, next) = super::page(items, filter.limit, |d| d.id.clone());
        for delivery in &mut items {
            delivery.attempt_log = self.attempts(&delivery.id).await?;
        }
        Ok((items, next))
    }

    /// A delivery's attempts, oldest first.
    pub async fn attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>, StoreError> {
        let rows = self
            .retrying("attempts", || async {
                Ok(sqlx::query(
                    "SELECT attempted_at, status_code, latency_ms, error, response_body FROM event_attempts \
                     WHERE delivery_id = $1 ORDER BY id",
                )
                .bind(delivery_id)
                .fetch_all(&self.reader)
                .await?)
            })
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    attempted_at: parse_ts(&row.try_get::<String, _>("attempted_at")?)?,
                    status_code: row
                        .try_get::<Option<i64>, _>("status_code")?
                        .and_then(|c| u16::try_from(c).ok()),
                    latency_ms: row.try_get("latency_ms")?,
                    error: row.try_get("error")?,
                    response_body: row.try_get("response_body")?,
                })
            })
            .collect()
    }

    /// New deliveries of a stored event: to `endpoint` (whatever its filter), or to every
    /// enabled endpoint whose filter matches. `None` if the event (or the endpoint) is unknown.
    pub async fn redeliver(
        &self,
        event_id: &str,
        endpoint: Option<&str>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let result = self
            .retrying("redeliver", || async {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "SELECT id, type, call_id, sequence, created_at, payload FROM events WHERE id = $1",
                )
                .bind(event_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(event) = row.as_ref().map(event_from_row).transpose()? else {
                    return Ok(None);
                };
                let targets = match endpoint {
                    Some(id) => match fetch_endpoint(&mut tx, id).await? {
                        Some(endpoint) => vec![endpoint],
                        None => return Ok(None),
                    },
                    None => enabled_endpoints(&mut tx)
                        .await?
                        .into_iter()
                        .filter(|e| e.wants(&event.kind))
                        .collect(),
                };
                let now = Utc::now();
                let mut ids = Vec::new();
                for target in targets {
                    ids.push(
                        insert_delivery(
                            &mut tx,
                            &event.id,
                            &target.id,
                            event.call_id,
                            event.sequence,
                            now,
                            now,
                        )
                        .await?,
                    );
                }
                tx.commit().await?;
                Ok(Some(ids))
            })
            .await?;
        self.outbox_written();
        Ok(result)
    }

    /// New deliveries to `endpoint` of every call event since `since` its filter matches, in
    /// event order. `None` if the endpoint is unknown; else how many.
    pub async fn replay(
        &self,
        endpoint: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let result = self
            .retrying("replay", || async {
                let mut tx = self.begin_write().await?;
                let Some(target) = fetch_endpoint(&mut tx, endpoint).await? else {
                    return Ok(None);
                };
                let rows = sqlx::query(
                    "SELECT id, type, call_id, sequence FROM events WHERE created_at >= $1 AND type <> $2 ORDER BY id",
                )
                .bind(ts(since))
                .bind(PING)
                .fetch_all(&mut *tx)
                .await?;
                let now = Utc::now();
                let mut count = 0;
                for row in &rows {
                    let kind: String = row.try_get("type")?;
                    if !target.wants(&kind) {
                        continue;
                    }
                    let id: String = row.try_get("id")?;
                    let call = row
                        .try_get::<Option<String>, _>("call_id")?
                        .as_deref()
                        .map(call_id)
                        .transpose()?;
                    insert_delivery(&mut tx, &id, &target.id, call, row.try_get("sequence")?, now, now)
                        .await?;
                    count += 1;
                }
                tx.commit().await?;
                Ok(Some(count))
            })
            .await?;
        self.outbox_written();
        Ok(result)
    }

    /// Writes a `ping` event and its delivery to `endpoint`, held by the caller until
    /// `lease_until` (the test route sends it itself).
    pub async fn create_ping(
        &self,
        endpoint: &Endpoint,
        lease_until: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        self.retrying("create_ping", || async {
            let mut tx = self.begin_write().await?;
            let now = Utc::now();
            let id = new_event_id();
            let data = serde_json::json!({ "endpoint_id": endpoint.id });
            let payload = envelope(&id, PING, now, None, 0, data);
            insert_event(&mut tx, &id, PING, None, 0, now, &payload).await?;
            let delivery = insert_delivery(&mut tx, &id, &endpoint.id, None, 0, now, now).await?;
            sqlx::query("UPDATE event_deliveries SET lease_until = $1 WHERE id = $2")
                .bind(ts(lease_until))
                .bind(&delivery)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Claimed {
                delivery_id: delivery,
                event_id: id,
                attempts: 0,
                payload: payload.to_string(),
                endpoint: endpoint.clone(),
            })
        })
        .await
    }

    /// Claims up to `limit` due deliveries until `lease_until`: pending, of enabled endpoints,
    /// not held by any worker (of this instance or another), and each the earliest pending one
    /// of its call to its endpoint, so one call's events reach an endpoint in sequence order.
    /// On PostgreSQL rows another instance is claiming at the same moment are skipped.
    pub async fn claim_deliveries(
        &self,
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let ids = self
            .retrying("claim_deliveries", || async {
                let now = ts(Utc::now());
                let mut query = Statement::new("UPDATE event_deliveries SET lease_until = ");
                query
                    .bind(ts(lease_until))
                    .push(
                        " WHERE id IN (SELECT d.id FROM event_deliveries d WHERE d.status = 'pending' \
                         AND d.next_attempt_at <= ",
                    )
                    .bind(now.clone())
                    .push(" AND (d.lease_until IS NULL OR d.lease_until < ")
                    .bind(now)
                    .push(
                        ") AND d.endpoint_id IN (SELECT id FROM event_endpoints WHERE enabled = TRUE) \
                         AND NOT EXISTS (SELECT 1 FROM event_deliveries e WHERE e.endpoint_id = d.endpoint_id \
                         AND e.call_id = d.call_id AND e.sequence <= d.sequence AND e.status = 'pending' \
                         AND (e.sequence < d.sequence OR e.id < d.id)) \
                         ORDER BY d.next_attempt_at LIMIT ",
                    )
                    .bind(i64::from(limit))
                    .push(self.backend.for_update_skip_locked())
                    .push(") RETURNING id");
                let mut tx = self.begin_write().await?;
                let rows = query.build().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter()
                    .map(|r| Ok(r.try_get::<String, _>("id")?))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row = self
                .retrying("claimed_delivery", || async {
                    Ok(sqlx::query(
                        "SELECT d.id, d.event_id, d.endpoint_id, d.attempts, ev.payload FROM event_deliveries d \
                         JOIN events ev ON ev.id = d.event_id WHERE d.id = $1",
                    )
                    .bind(&id)
                    .fetch_optional(&self.reader)
                    .await?)
                })
                .await?;
            let Some(row) = row else { continue };
            let endpoint_id: String = row.try_get("endpoint_id")?;
            let Some(endpoint) = self.get_endpoint(&endpoint_id).await? else {
                continue;
            };
            claimed.push(Claimed {
                delivery_id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                attempts: row.try_get("attempts")?,
                payload: row.try_get("payload")?,
                endpoint,
            });
        }
        Ok(claimed)
    }

    /// Records an attempt and what follows from it, releasing the delivery; keeps the
    /// endpoint's failing streak. Returns since when the endpoint has been failing (`None`
    /// after a success).
    pub async fn record_attempt(
        &self,
        claimed: &Claimed,
        attempt: &Attempt,
        next: Next,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut since = self.record_attempts(&[(claimed, attempt, next)]).await?;
        Ok(since.pop().flatten())
    }

    /// [`Store::record_attempt`] for a batch of attempts, in one transaction (one commit for
    /// the batch a worker sent together); the failing streaks in the batch's order.
    pub async fn record_attempts(
        &self,
        batch: &[(&Claimed, &Attempt, Next)],
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
        let result = self
            .retrying("record_attempts", || async {
                let mut tx = self.begin_write().await?;
                let now = Utc::now();
                let mut streaks = Vec::with_capacity(batch.len());
                for (claimed, attempt, next) in batch {
                    let since = record_one(&mut tx, claimed, attempt, *next, now).await?;
                    streaks.push(since);
                }
                tx.commit().await?;
                Ok(streaks)
            })
            .await?;
        if batch.iter().any(|(_, _, next)| *next != Next::Failed) {
            self.outbox_written();
        }
        Ok(result)
    }

    /// Deletes events created before `before`, with their deliveries and attempts. How many.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.retrying("prune_events", || async {
            let mut tx = self.begin_write().await?;
            let cutoff = ts(before);
            sqlx::query(
                "DELETE FROM event_attempts WHERE delivery_id IN (SELECT d.id FROM event_deliveries d \
                 JOIN events ev ON ev.id = d.event_id WHERE ev.created_at < $1)",
            )
            .bind(&cutoff)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM event_deliveries WHERE event_id IN (SELECT id FROM events WHERE created_at < $1)",
            )
            .bind(&cutoff)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM events WHERE created_at < $1")
                .bind(&cutoff)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
        .await
    }
}

async fn enabled_endpoints(conn: &mut AnyConnection) -> Result<Vec<Endpoint>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM event_endpoints WHERE enabled = TRUE ORDER BY id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(endpoint_from_row).collect()
}

/// One attempt of [`Store::record_attempts`], inside its transaction.
async fn record_one(
    tx: &mut sqlx::AnyConnection,
    claimed: &Claimed,
    attempt: &Attempt,
    next: Next,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    sqlx::query(
        "INSERT INTO event_attempts (delivery_id, attempted_at, status_code, latency_ms, error, response_body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&claimed.delivery_id)
    .bind(ts(attempt.attempted_at))
    .bind(attempt.status_code.map(i64::from))
    .bind(attempt.latency_ms)
    .bind(&attempt.error)
    .bind(&attempt.response_body)
    .execute(&mut *tx)
    .await?;
    let (status, due) = match next {
        Next::Succeeded => (DeliveryStatus::Succeeded, now),
        Next::Retry(at) => (DeliveryStatus::Pending, at),
        Next::Failed => (DeliveryStatus::Failed, now),
    };
    sqlx::query(
        "UPDATE event_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
         lease_until = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(ts(due))
    .bind(ts(now))
    .bind(&claimed.delivery_id)
    .execute(&mut *tx)
    .await?;
    let row = if next == Next::Succeeded {
        sqlx::query(
            "UPDATE event_endpoints SET failing_since = NULL WHERE id = $1 RETURNING failing_since",
        )
        .bind(&claimed.endpoint.id)
        .fetch_optional(&mut *tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE event_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2 \
             RETURNING failing_since",
        )
        .bind(ts(attempt.attempted_at))
        .bind(&claimed.endpoint.id)
        .fetch_optional(&mut *tx)
        .await?
    };
    let since: Option<String> = match row {
        Some(row) => row.try_get("failing_since")?,
        None => None,
    };
    opt_parse_ts(since)
}
