//! Retrying transient database errors (the seed's `@db_retry`), in one place: every public
//! store operation runs through [`Store::retrying`].
//!
//! Only errors that say "try again" are retried (see `backend::is_transient`): a lost or
//! refused connection, a pool timeout, a deadlock or serialization failure, a locked SQLite
//! database; a bounded number of times with doubling waits. A statement PostgreSQL cancelled
//! for running past `statement_timeout` (or waiting past `lock_timeout`) is unavailable too
//! (the caller answers 503 with `Retry-After`) but is not retried here: it already waited the
//! whole timeout, and trying again at once would only hold the request longer. Each try waits at most the pool's
//! acquire timeout for a connection, so an operation against a database that stays down gives
//! up after about `retry_attempts` times that: the caller answers 503 and the client (or the
//! vendor, for a webhook) comes back later. Every operation is a whole transaction, so a retry
//! repeats all of it or nothing.

use std::future::Future;
use std::time::Duration;

use tracing::warn;

use super::{Store, StoreError};
use crate::config::DatabaseConfig;

/// How often and how patiently transient errors are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles after each.
    pub backoff: Duration,
    /// Longest single wait.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &DatabaseConfig) -> Self {
        Self {
            attempts: config.retry_attempts.max(1),
            backoff: Duration::from_millis(config.retry_backoff_ms),
            max_backoff: Duration::from_millis(config.retry_max_backoff_ms),
        }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)))
            .min(self.max_backoff)
    }

    /// Whether `error`, met on attempt number `attempt`, is worth another try.
    fn retries(&self, error: &StoreError, attempt: u32) -> bool {
        attempt < self.attempts && error.is_transient() && !error.is_statement_timeout()
    }
}

impl Store {
    /// Runs `operation` (one whole transaction) until it succeeds, fails for good, or the
    /// retry policy gives up.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        what: &'static str,
        mut operation: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 1;
        loop {
            match operation().await {
                Err(error) if self.retry.retries(&error, attempt) => {
                    let delay = self.retry.delay(attempt);
                    warn!(
                        operation = what,
                        attempt,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %error,
                        "transient database error; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) if error.is_statement_timeout() => {
                    warn!(
                        operation = what,
                        attempt,
                        error = %error,
                        "statement timeout: the database did not answer within \
                         statement_timeout_ms (or lock_timeout); answering unavailable"
                    );
                    return Err(error);
                }
                outcome => return outcome,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(120),
        }
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let policy = policy();
        assert_eq!(policy.delay(1), Duration::from_millis(50));
        assert_eq!(policy.delay(2), Duration::from_millis(100));
        assert_eq!(policy.delay(3), Duration::from_millis(120));
        assert_eq!(policy.delay(30), Duration::from_millis(120));
    }

    #[test]
    fn only_transient_errors_are_retried_and_only_so_often() {
        let policy = policy();
        let transient = StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other("reset")));
        assert!(policy.retries(&transient, 1));
        assert!(policy.retries(&transient, 3));
        assert!(!policy.retries(&transient, 4));
        let timed_out = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        assert!(policy.retries(&timed_out, 1));
        let bug = StoreError::Database(sqlx::Error::RowNotFound);
        assert!(!policy.retries(&bug, 1));
    }

    /// A PostgreSQL error carrying only a SQLSTATE, as the driver reports one.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "canceling statement"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn database_error(code: &'static str) -> StoreError {
        StoreError::from(sqlx::Error::Database(Box::new(Sqlstate(code))))
    }

    #[test]
    fn statement_and_lock_timeouts_are_unavailable_but_not_retried() {
        let policy = policy();
        for code in ["57014", "55P03"] {
            let timeout = database_error(code);
            assert!(matches!(timeout, StoreError::Unavailable(_)), "{code}");
            assert!(timeout.is_statement_timeout(), "{code}");
            assert!(!policy.retries(&timeout, 1), "{code}");
        }
        let deadlock = database_error("40P01");
        assert!(!deadlock.is_statement_timeout());
        assert!(policy.retries(&deadlock, 1));
        let duplicate = database_error("23505");
        assert!(matches!(duplicate, StoreError::Database(_)));
    }

    #[tokio::test]
    async fn a_statement_timeout_is_tried_once() {
        let (store, _dir) = crate::store::tests::store().await;
        let tries = std::sync::atomic::AtomicU32::new(0);
        let outcome: Result<(), StoreError> = store
            .retrying("test", || {
                tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Err(database_error("57014")) }
            })
            .await;
        assert!(outcome.unwrap_err().is_statement_timeout());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
