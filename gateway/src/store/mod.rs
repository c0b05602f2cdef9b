//! The store: every call, status change, transcript turn, webhook receipt and idempotency key.
//!
//! SQLite (WAL, `synchronous = FULL`, foreign keys on) is the embedded backend. All writes go
//! through one connection, so writers queue in the pool instead of fighting over SQLite's single
//! write lock; reads use a pool of read-only connections. The SQL sticks to what PostgreSQL also
//! speaks (except `json_each` in `find_call` and `?` placeholders), so a second backend can sit
//! behind the same methods.

mod apply;
mod auth;
mod calls;
mod codec;
mod idempotency;
mod receipts;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use apply::{Applied, EventSource, StatusChange};
pub use auth::{
    ApiKeyRecord, AuditEntry, AuditFilter, NewUser, RefreshLookup, UserChange, UserRecord,
    is_conflict,
};
pub use calls::{CallFilter, CallPage, NewCall, StatusEvent};
pub use idempotency::{Claim, IdempotencyKey};
pub use receipts::{
    Ingestion, NewReceipt, Receipt, ReceiptFilter, ReceiptOutcome, ReceiptPage, SignatureVerdict,
};

use crate::config::DatabaseConfig;

/// Cuts a page fetched with one row more than `limit` (`ORDER BY id DESC LIMIT limit + 1`):
/// the extra row only says whether another page exists; the cursor is the last kept row's key.
pub(crate) fn page<T, K>(
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<K>) {
    let limit = limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying: the database is down, locked or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses: a bug or a hand-edited row.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("invalid database url: {0}")]
    Url(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let transient = match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
            sqlx::Error::Database(db) => db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
            _ => false,
        };
        if transient {
            StoreError::Unavailable(error)
        } else {
            StoreError::Database(error)
        }
    }
}

/// The gateway's database.
#[derive(Debug, Clone)]
pub struct Store {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl Store {
    /// Opens (creating the file and its folder if missing) the database at `config.url`.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::Url(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(config.busy_timeout_ms));
        if let Some(parent) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", parent.display())))?;
        }
        let acquire = Duration::from_millis(config.busy_timeout_ms.max(1000));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(acquire)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(acquire)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[cfg(test)]
mod tests;
