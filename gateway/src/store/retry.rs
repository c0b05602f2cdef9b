//! Retrying transient database errors (the seed's `@db_retry`), in one place: every public
//! store operation runs through [`Store::retrying`].
//!
//! Only errors that say "try again" are retried (see `backend::is_transient`): a lost or
//! refused connection, a pool timeout, a deadlock or serialization failure, a locked SQLite
//! database; a bounded number of times with doubling waits. Each try waits at most the pool's
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
        attempt < self.attempts && error.is_transient()
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
}
