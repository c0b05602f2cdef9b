//! Failed-login limits per username and per client address.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures in a sliding window; past `max` failures, logins with that key wait.
#[derive(Debug)]
pub struct LoginLimiter {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` if any key has failed too often within the window.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return Ok(());
        };
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= self.max {
                    if let Some(oldest) = times.front() {
                        wait = wait.max(self.window - now.duration_since(*oldest));
                    }
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub fn failed(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            let now = Instant::now();
            for key in keys {
                let times = failures.entry(key.clone()).or_default();
                times.push_back(now);
                if times.len() > self.max {
                    times.pop_front();
                }
            }
            // Bound memory under a flood of distinct names.
            if failures.len() > 100_000 {
                failures.retain(|_, times| {
                    times
                        .back()
                        .is_some_and(|t| now.duration_since(*t) < self.window)
                });
            }
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in keys {
                failures.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_success() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let keys = vec!["user:ada".to_owned(), "addr:1.2.3.4".to_owned()];
        for _ in 0..3 {
            assert!(limiter.check(&keys).is_ok());
            limiter.failed(&keys);
        }
        let wait = limiter.check(&keys).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(limiter.check(&["user:other".to_owned()]).is_ok());
        assert!(
            limiter.check(&["addr:1.2.3.4".to_owned()]).is_err(),
            "per address too"
        );
        limiter.succeeded(&keys);
        assert!(limiter.check(&keys).is_ok());
    }
}
