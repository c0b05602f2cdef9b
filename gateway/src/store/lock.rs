//! The row lock every writer of a call takes first: the call read to change it, in the
//! writer's transaction, with what applying events needs besides the call itself.

use plugin_api::Call;
use sqlx::AnyConnection;
use sqlx::{AssertSqlSafe, Row};

use super::codec::{CALL_COLUMNS, call_from_row};
use super::sql::flag;
use super::{Backend, StoreError};
use plugin_api::CallId;

/// A call read to be changed in the caller's transaction, with what applying events needs
/// besides the call itself.
#[derive(Debug)]
pub(super) struct LockedCall {
    pub call: Call,
    /// Highest transcript sequence number given out so far.
    pub last_seq: i64,
    /// Whether the API asked to hang up (a call that then ends normally is canceled).
    pub hangup_requested: bool,
    /// Whether the delivery asked about (see [`lock_call`]) was applied before.
    pub delivered_before: bool,
}

/// How a call to change is found.
#[derive(Debug, Clone, Copy)]
pub(super) enum CallKey<'a> {
    Id(CallId),
    /// A vendor's id within a provider instance.
    Vendor {
        provider: &'a str,
        vendor_id: &'a str,
    },
}

/// A webhook delivery whose earlier application to the same call is checked in the same read
/// (dedupe keys are per call: vendors' event ids are unique within a call, not across calls).
#[derive(Debug, Clone, Copy)]
pub(super) struct PriorDelivery<'a> {
    pub provider: &'a str,
    pub dedupe_key: Option<&'a str>,
}

/// Reads a call to change it, in one statement (with, for a webhook, whether its delivery was
/// applied before). On PostgreSQL the row stays locked until the transaction ends, so
/// concurrent writers of one call take turns (see [`Backend::for_update`]); a twin delivery
/// committed while this one waited is caught by the unique index on applied receipts
/// (provider, call, dedupe key).
pub(super) async fn lock_call(
    conn: &mut AnyConnection,
    backend: Backend,
    key: CallKey<'_>,
    delivery: Option<PriorDelivery<'_>>,
) -> Result<Option<LockedCall>, StoreError> {
    let condition = match key {
        CallKey::Id(_) => "id = $3",
        CallKey::Vendor { .. } => "provider = $3 AND provider_call_id = $4",
    };
    let sql = format!(
        "SELECT {CALL_COLUMNS}, last_seq, hangup_requested_at IS NOT NULL AS hung_up, \
         EXISTS (SELECT 1 FROM webhook_receipts WHERE provider = $1 AND call_id = calls.id \
         AND dedupe_key = $2 AND outcome = 'applied') AS delivered_before \
         FROM calls WHERE {condition}{}",
        backend.for_update()
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(delivery.map(|d| d.provider))
        .bind(delivery.and_then(|d| d.dedupe_key));
    query = match key {
        CallKey::Id(id) => query.bind(id.to_string()),
        CallKey::Vendor {
            provider,
            vendor_id,
        } => query.bind(provider).bind(vendor_id),
    };
    let row = query.fetch_optional(&mut *conn).await?;
    row.map(|row| {
        Ok(LockedCall {
            call: call_from_row(&row)?,
            last_seq: row.try_get("last_seq")?,
            hangup_requested: flag(&row, "hung_up")?,
            delivered_before: flag(&row, "delivered_before")?,
        })
    })
    .transpose()
}
