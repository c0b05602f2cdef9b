//! Password hashing (argon2id) off the async runtime, a bounded number at once, and the
//! password rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Whether a password may be set; the message says why not.
pub fn check_rules(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if password.trim().is_empty() {
        return Err("password must not be blank".into());
    }
    Ok(())
}

/// Hashes with argon2id and a random salt, on a blocking thread, outside any [`Hasher`] (the
/// CLI, start-up).
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| format!("hashing task failed: {e}"))?
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| format!("cannot encode salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Whether `password` matches the stored hash. A malformed hash never matches.
fn verify_now(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Every hash slot is taken and the queue is full (or the wait ran out): try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// Runs argon2 on blocking threads, a bounded number at once: each computation holds about
/// 19 MiB, so without a bound parallel logins grow the process by that much each. Requests
/// beyond `capacity` wait in a short queue (so ordinary bursts are served); beyond the queue,
/// or after waiting too long, a login is refused with [`Busy`] without hashing anything.
#[derive(Debug, Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    running: Arc<Semaphore>,
    queue: Semaphore,
    max_wait: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Hasher {
    /// `capacity` computations at once, `queue` more waiting at most `max_wait` each.
    pub fn new(capacity: usize, queue: usize, max_wait: Duration) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Inner {
                capacity,
                running: Arc::new(Semaphore::new(capacity)),
                queue: Semaphore::new(queue),
                max_wait,
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }

    /// One computation per core, four per core waiting up to 2 s.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, 4 * cores, Duration::from_secs(2))
    }

    /// How many computations may run at once.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The most computations that ran at once so far.
    pub fn peak_in_flight(&self) -> usize {
        self.inner.peak.load(Ordering::Relaxed)
    }

    /// Checks a password against a stored hash (a malformed hash never matches), or [`Busy`].
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, Busy> {
        let permit = {
            let _queued = self.inner.queue.try_acquire().map_err(|_| Busy)?;
            let acquire = Arc::clone(&self.inner.running).acquire_owned();
            tokio::time::timeout(self.inner.max_wait, acquire)
                .await
                .map_err(|_| Busy)?
                .map_err(|_| Busy)?
        };
        Ok(self
            .run(permit, move || verify_now(&password, &stored))
            .await
            .unwrap_or(false))
    }

    /// Hashes a new password (an admin setting it), waiting as long as it takes for a slot.
    pub async fn hash(&self, password: String) -> Result<String, String> {
        let permit = Arc::clone(&self.inner.running)
            .acquire_owned()
            .await
            .map_err(|e| format!("hashing closed: {e}"))?;
        self.run(permit, move || hash_now(&password))
            .await
            .unwrap_or_else(|| Err("hashing task failed".to_owned()))
    }

    /// Runs `work` on a blocking thread holding `permit` until it is done, even if the caller
    /// gives up waiting (a client that disconnects does not free its slot early).
    async fn run<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let now = inner.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            inner.peak.fetch_max(now, Ordering::Relaxed);
            let result = work();
            inner.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            result
        })
        .await
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check_rules("short").is_err());
        assert!(check_rules("exactly12chr").is_ok());
        assert!(check_rules(&" ".repeat(20)).is_err());
        assert!(check_rules(&"x".repeat(2000)).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let hasher = Hasher::for_this_machine();
        let first = hash("correct horse battery".into()).await.unwrap();
        let second = hasher.hash("correct horse battery".into()).await.unwrap();
        assert_ne!(first, second, "salted");
        assert!(first.starts_with("$argon2id$"));
        let verify = |password: &str, stored: &str| hasher.verify(password.into(), stored.into());
        assert_eq!(verify("correct horse battery", &first).await, Ok(true));
        assert_eq!(verify("correct horse battery", &second).await, Ok(true));
        assert_eq!(verify("wrong horse battery", &first).await, Ok(false));
        assert_eq!(verify("anything", "not a hash").await, Ok(false));
    }

    #[tokio::test]
    async fn at_most_capacity_hashes_run_at_once_and_the_queue_is_bounded() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        let hasher = Hasher::new(2, 3, Duration::from_secs(30));
        let checks = (0..12).map(|_| hasher.verify("wrong horse battery".into(), stored.clone()));
        let results = futures_util::future::join_all(checks).await;
        // Two run, three wait; the other seven find the queue full at once.
        assert_eq!(results.iter().filter(|r| **r == Ok(false)).count(), 5);
        assert_eq!(results.iter().filter(|r| **r == Err(Busy)).count(), 7);
        assert_eq!(hasher.peak_in_flight(), 2);
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_is_busy() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        let hasher = Hasher::new(1, 10, Duration::ZERO);
        let (first, second) = tokio::join!(
            hasher.verify("a".into(), stored.clone()),
            hasher.verify("b".into(), stored.clone())
        );
        assert_eq!((first, second), (Ok(false), Err(Busy)));
    }
}
