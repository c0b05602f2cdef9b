//! The two database backends: how to connect to each, and the little SQL they do not share.

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Executor};

use super::StoreError;
use crate::config::{Backend, DatabaseConfig};

/// The SQL the two backends do not share.
impl Backend {
    /// Appended to a `SELECT` inside a write transaction that reads rows it is about to change.
    /// PostgreSQL runs writers side by side, so the rows are locked until commit; SQLite's
    /// single writer already serializes whole transactions (and has no such clause).
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Like [`Backend::for_update`], but rows another instance holds are passed over, not
    /// waited for: how several reconcilers split the work.
    pub(super) fn for_update_skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Errors worth retrying: the database is unreachable, restarting, busy, or chose this
/// transaction as the loser of a conflict. Everything else is a bug or bad data.
pub(super) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
                return code
                    .parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
            }
            is_transient_sqlstate(&code)
        }
        _ => false,
    }
}

/// A statement PostgreSQL gave up on: `statement_timeout` (57014, query_canceled) or
/// `lock_timeout` (55P03, lock_not_available). The database is too slow or too contended to
/// answer in time: for the caller, as unavailable as a lost connection (503, retry later).
pub(super) fn is_statement_timeout(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db)
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none() =>
        {
            db.code().is_some_and(|code| is_timeout_sqlstate(&code))
        }
        _ => false,
    }
}

fn is_timeout_sqlstate(code: &str) -> bool {
    matches!(code, "57014" | "55P03")
}

/// PostgreSQL's SQLSTATEs for a lost or refused connection, a server shutting down or
/// starting, too many connections, serialization failures and deadlocks. (Statement and lock
/// timeouts are unavailable too, but not retried: see [`is_statement_timeout`].)
fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03"
        )
}

/// `name` as a quoted SQL identifier (the schema is configuration, never user input, but a
/// quote inside it must not end the identifier).
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn acquire_timeout(config: &DatabaseConfig) -> Duration {
    Duration::from_millis(config.acquire_timeout_ms)
}

fn any_options(url: &str) -> Result<AnyConnectOptions, StoreError> {
    AnyConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))
}

/// The SQLite writer's page cache, in KiB.
const WRITER_CACHE_KIB: u32 = 32 * 1024;

/// SQLite: a one-connection writer pool and a read-only pool, both on the same file.
pub(super) async fn open_sqlite(config: &DatabaseConfig) -> Result<(AnyPool, AnyPool), StoreError> {
    let parsed =
        SqliteConnectOptions::from_str(&config.url).map_err(|e| StoreError::Url(e.to_string()))?;
    if let Some(parent) = parsed
        .get_filename()
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", parent.display())))?;
    }
    let with_mode = |mode: &str| {
        let separator = if config.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}mode={mode}", config.url)
    };
    let busy = config.busy_timeout_ms;
    let writer = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(acquire_timeout(config))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // The writer reads what it changes: a page cache larger than SQLite's default
                // 2 MiB keeps the working set (calls, recent turns, receipts, indexes) in
                // memory instead of reading it back from the log and the file.
                let pragmas = format!(
                    "PRAGMA busy_timeout = {busy}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -{WRITER_CACHE_KIB};"
                );
                conn.execute(sqlx::raw_sql(AssertSqlSafe(pragmas))).await?;
                Ok(())
            })
        })
        .connect_with(any_options(&with_mode("rwc"))?)
        .await?;
    let reader = AnyPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(acquire_timeout(config))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                let pragmas = format!("PRAGMA busy_timeout = {busy};");
                conn.execute(sqlx::raw_sql(AssertSqlSafe(pragmas))).await?;
                Ok(())
            })
        })
        .connect_with(any_options(&with_mode("ro"))?)
        .await?;
    Ok((writer, reader))
}

/// PostgreSQL: one pool; every connection gets the configured schema and statement timeout.
/// Connections are made lazily, so a gateway started while the database is down comes up
/// (not ready) and recovers when it is back.
pub(super) async fn open_postgres(config: &DatabaseConfig) -> Result<AnyPool, StoreError> {
    let setup = format!(
        "SET search_path TO {}; SET statement_timeout = {};",
        quote_ident(&config.schema),
        config.statement_timeout_ms
    );
    let pool = AnyPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(acquire_timeout(config))
        .after_connect(move |conn, _| {
            let setup = setup.clone();
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(AssertSqlSafe(setup))).await?;
                Ok(())
            })
        })
        .connect_lazy_with(any_options(&config.url)?);
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(Backend::from_url("sqlite://data/x.db"), Ok(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Ok(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://u:p@db/voice"),
            Ok(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://db/voice"),
            Ok(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://db/voice").is_err());
        assert!(Backend::from_url("data/x.db").is_err());
    }

    #[test]
    fn connection_loss_and_conflicts_are_transient_other_errors_are_not() {
        for code in [
            "08006", "08001", "40001", "40P01", "57P01", "57P03", "53300",
        ] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "57014", "55P03"] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn statement_and_lock_timeouts_are_timeouts_other_errors_are_not() {
        assert!(is_timeout_sqlstate("57014"));
        assert!(is_timeout_sqlstate("55P03"));
        for code in ["23505", "08006", "40001", "57P01"] {
            assert!(!is_timeout_sqlstate(code), "{code}");
        }
        assert!(!is_statement_timeout(&sqlx::Error::PoolTimedOut));
        assert!(!is_statement_timeout(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("voice"), "\"voice\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
