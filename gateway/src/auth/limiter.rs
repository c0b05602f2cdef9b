//! Failed-login limits per username and per client address.
//!
//! An attempt is counted when it starts, before the password is checked, so parallel attempts
//! cannot all slip through before the first failure is recorded: at most `max` of them reach the
//! (expensive) password check. A success takes its attempt back and clears the login's count; an
//! attempt that ends neither way (the database or the hasher could not answer) is taken back.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Distinct keys kept before expired ones are swept, to bound memory under a flood of names.
const SWEEP_ABOVE_KEYS: usize = 100_000;

/// Counts failures in a sliding window; past `max` failures, logins with that key wait.
#[derive(Debug)]
pub struct LoginLimiter {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// One login attempt, counted as a failure until it is settled.
#[must_use = "an attempt not settled is taken back when dropped"]
#[derive(Debug)]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    keys: Vec<String>,
    at: Instant,
    settled: bool,
}

impl LoginLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt for `login` from `address`: counted at once, or `Err(wait)` if the
    /// login or the address has failed too often within the window (nothing is counted then).
    pub fn begin(&self, login: &str, address: Option<&str>) -> Result<Attempt<'_>, Duration> {
        let mut keys = vec![format!("login:{login}")];
        keys.extend(address.map(|a| format!("addr:{a}")));
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return Err(self.window);
        };
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(times) = failures.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= self.max {
                    // The count drops below `max` when this one leaves the window.
                    let leaving = times[times.len() - self.max];
                    wait = wait.max(self.window.saturating_sub(now.duration_since(leaving)));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in &keys {
            let times = failures.entry(key.clone()).or_default();
            times.push_back(now);
            if times.len() > self.max {
                times.pop_front();
            }
        }
        if failures.len() > SWEEP_ABOVE_KEYS {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        Ok(Attempt {
            limiter: self,
            keys,
            at: now,
            settled: false,
        })
    }
}

impl Attempt<'_> {
    /// The password was wrong (or the user unknown or disabled): the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The login succeeded: its count is cleared, and the address's count forgets this attempt.
    pub fn succeeded(mut self) {
        self.settled = true;
        if let Ok(mut failures) = self.limiter.failures.lock() {
            if let Some((login, others)) = self.keys.split_first() {
                failures.remove(login);
                for key in others {
                    forget(&mut failures, key, self.at);
                }
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Ok(mut failures) = self.limiter.failures.lock() {
            for key in &self.keys {
                forget(&mut failures, key, self.at);
            }
        }
    }
}

/// Takes back the attempt counted for `key` at `at`.
fn forget(failures: &mut HashMap<String, VecDeque<Instant>>, key: &str, at: Instant) {
    if let Some(times) = failures.get_mut(key) {
        if let Some(index) = times.iter().rposition(|t| *t == at) {
            times.remove(index);
        }
        if times.is_empty() {
            failures.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_success() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let addr = Some("1.2.3.4");
        for _ in 0..3 {
            limiter.begin("ada", addr).unwrap().failed();
        }
        let wait = limiter.begin("ada", addr).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(limiter.begin("other", None).is_ok());
        assert!(limiter.begin("ada", Some("5.6.7.8")).is_err(), "per login");
        assert!(limiter.begin("other", addr).is_err(), "per address too");
    }

    #[test]
    fn attempts_count_when_they_start() {
        let limiter = LoginLimiter::new(5, Duration::from_secs(60));
        let started: Vec<_> = (0..20)
            .map(|_| limiter.begin("ada", Some("1.2.3.4")))
            .collect();
        assert_eq!(started.iter().filter(|a| a.is_ok()).count(), 5);
    }

    #[test]
    fn a_success_clears_the_login_and_an_unsettled_attempt_is_taken_back() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        limiter.begin("ada", None).unwrap().failed();
        drop(limiter.begin("ada", None).unwrap());
        limiter.begin("ada", None).unwrap().succeeded();
        limiter.begin("ada", None).unwrap().failed();
        limiter.begin("ada", None).unwrap().failed();
        assert!(limiter.begin("ada", None).is_err());
    }
}
