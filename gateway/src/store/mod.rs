//! The store: every call, status change, transcript turn, webhook receipt and idempotency key.
//!
//! One interface over two backends, picked by the URL's scheme: SQLite (embedded default) and
//! PostgreSQL (production, several gateway instances on one database). Queries go through
//! sqlx's `Any` driver with `$N` placeholders, which both backends accept; the few statements
//! that differ between them ask [`Backend`]. Values are stored as text, integers, floats and
//! bytes only (timestamps as fixed-width RFC 3339 text, JSON as text), so rows read the same
//! from either backend.
//!
//! SQLite (WAL, `synchronous = FULL`, foreign keys on): all writes go through one connection,
//! where the write transactions waiting at the same moment share one commit (see
//! `store::group`), so writers neither fight over SQLite's single write lock nor pay an fsync
//! each; reads use a pool of read-only connections. PostgreSQL: one pool; writes that read before they write
//! lock the rows they change (`FOR UPDATE`), because several writers run at once.

mod apply;
mod auth;
mod backend;
mod calls;
mod changes;
mod codec;
mod endpoints;
mod erasure;
mod group;
mod idempotency;
mod lock;
mod notify;
mod outbox;
mod receipts;
mod retention;
mod retry;
mod sql;

pub use crate::config::Backend;
pub use apply::{Applied, EventSource, StatusChange};
pub use auth::{
    ApiKeyRecord, AuditEntry, AuditFilter, NewUser, RefreshLookup, UserChange, UserRecord,
    is_conflict,
};
pub use calls::{CallFilter, CallListing, NewCall, StatusEvent};
pub use changes::ChangeSink;
pub use endpoints::{
    Attempt, Claimed, Delivery, DeliveryFilter, DeliveryStatus, Endpoint, EndpointChange,
    EventFilter, EventRecord, NewEndpoint, Next,
};
pub use erasure::Erasure;
pub use idempotency::{Claim, IdempotencyKey};
pub use notify::{ChangeListener, Heard, Notice};
pub use outbox::{CALL_EVENT_TYPES, PING, envelope, new_event_id};
pub use receipts::{
    Ingestion, NewReceipt, Receipt, ReceiptFilter, ReceiptOutcome, ReceiptPage, ReplayRange,
    SignatureVerdict,
};
pub use retention::{BATCH as RETENTION_BATCH, Category, Cutoffs, RetentionDays};

use retry::RetryPolicy;
use sqlx::AnyPool;
use sqlx::AssertSqlSafe;

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

/// Write transactions this process has committed (every backend, every store). On SQLite
/// (WAL, `synchronous = FULL`) each one costs one fsync of the log, so benchmarks report it
/// per request; a group commit counts once for all its members.
static DURABLE_COMMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many write transactions this process has committed so far (see [`DURABLE_COMMITS`]).
pub fn durable_commits() -> u64 {
    DURABLE_COMMITS.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn count_durable_commit() {
    DURABLE_COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying later: the database is down, locked, the pool is exhausted, or a
    /// statement ran past PostgreSQL's `statement_timeout` / `lock_timeout`.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// A stored value no longer parses: a bug or a hand-edited row.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("invalid database url: {0}")]
    Url(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if backend::is_transient(&error) || backend::is_statement_timeout(&error) {
            StoreError::Unavailable(error)
        } else {
            StoreError::Database(error)
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            // The database could not be reached: as transient as any other query's failure.
            sqlx::migrate::MigrateError::Execute(e) if backend::is_transient(&e) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Migration(other),
        }
    }
}

impl StoreError {
    /// Whether trying again may succeed (the database is down, busy or restarting).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// Whether PostgreSQL cancelled the statement for running past `statement_timeout` or
    /// waiting past `lock_timeout`: unavailable, but not retried at once (it already waited).
    pub fn is_statement_timeout(&self) -> bool {
        matches!(self, StoreError::Unavailable(e) if backend::is_statement_timeout(e))
    }
}

/// The gateway's database.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Writes (and reads inside write transactions); on SQLite only through `group`.
    writer: AnyPool,
    /// SQLite's group commit (see `store::group`); `None` on PostgreSQL.
    group: Option<group::GroupCommit>,
    /// Plain reads. With PostgreSQL, the same pool as `writer`.
    reader: AnyPool,
    retry: RetryPolicy,
    /// PostgreSQL's schema, also naming the channel live updates cross instances on.
    schema: String,
    /// For the listening connection of [`Store::change_listener`].
    url: String,
    /// This process, as the origin of the change notices it sends.
    instance: String,
    /// Where committed changes are published (see [`ChangeSink`]): on PostgreSQL the notices
    /// to other instances, then whatever [`Store::publishing_to`] added.
    sinks: changes::Sinks,
    /// Woken after a commit that may have written deliveries (the delivery workers wait on it).
    outbox: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    /// Connects to the database at `config.url` (a SQLite file and its folder are created if
    /// missing). Does not migrate: see [`Store::migrate`].
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(&config.url).map_err(StoreError::Url)?;
        let instance = uuid::Uuid::now_v7().to_string();
        let mut sinks = changes::Sinks::default();
        let (writer, reader) = match backend {
            Backend::Sqlite => backend::open_sqlite(config).await?,
            Backend::Postgres => {
                let pool = backend::open_postgres(config).await?;
                let announcer = notify::Announcer::spawn(pool.clone(), &config.schema, &instance);
                sinks.add(std::sync::Arc::new(announcer));
                (pool.clone(), pool)
            }
        };
        let group = (backend == Backend::Sqlite).then(|| group::GroupCommit::new(writer.clone()));
        Ok(Self {
            backend,
            group,
            writer,
            reader,
            retry: RetryPolicy::from_config(config),
            schema: config.schema.clone(),
            url: config.url.clone(),
            instance,
            sinks,
            outbox: std::sync::Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Starts a write transaction (on SQLite, a member of the next group commit).
    pub(crate) async fn begin_write(&self) -> Result<group::WriteTx, StoreError> {
        group::WriteTx::begin(self.group.as_ref(), &self.writer).await
    }

    /// Runs one statement as a write transaction of its own.
    pub(crate) async fn execute_write(
        &self,
        statement: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = statement.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// What the delivery workers wait on between rounds.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        std::sync::Arc::clone(&self.outbox)
    }

    /// After a commit that may have written events: wakes one delivery worker (or the next to
    /// wait). A worker that finds more than it can take wakes the next one itself, so a burst
    /// of commits costs no more claims than there is work.
    pub(crate) fn outbox_written(&self) {
        self.outbox.notify_one();
    }

    /// This process's id among the instances sharing the database.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The PostgreSQL schema the tables live in (`public` unless configured); `None` on SQLite.
    pub fn schema(&self) -> Option<&str> {
        (self.backend == Backend::Postgres).then_some(self.schema.as_str())
    }

    /// Applies pending migrations (creating PostgreSQL's schema first if it is missing).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("../migrations/sqlite")
                    .run(&self.writer)
                    .await?
            }
            Backend::Postgres => {
                let create = format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    backend::quote_ident(&self.schema)
                );
                self.execute_write(sqlx::query(AssertSqlSafe(create)))
                    .await?;
                // On a connection of its own without `statement_timeout`: waiting for another
                // instance's migration lock, or a schema change on a big table, may take longer
                // than any query should. The connection is closed afterwards, not pooled.
                let mut conn = self.writer.acquire().await?.detach();
                sqlx::query("SET statement_timeout = 0")
                    .execute(&mut conn)
                    .await?;
                let migrated = sqlx::migrate!("../migrations/postgres")
                    .run(&mut conn)
                    .await;
                let _ = sqlx::Connection::close(conn).await;
                migrated?
            }
        }
        Ok(())
    }

    /// Whether the database answers (readiness). Not retried: readiness reports the moment.
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
pub(crate) mod tests;
