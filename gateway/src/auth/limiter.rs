//! Failed-login limits per (username, client address) and per client address.
//!
//! An attempt is counted when it starts, before the password is checked, so parallel attempts
//! cannot all slip through before the first failure is recorded. A success takes its attempt
//! back and clears its (username, address) count; an attempt that ends neither way (the database
//! or the hasher could not answer) is taken back.
//!
//! A username is limited per address with growing delays, never for everyone: an attacker's
//! failures from one address do not lock the real user out at another. Each address also has a
//! cap across usernames, against one address trying many.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Distinct keys kept before expired ones are swept, to bound memory under a flood of names.
const SWEEP_ABOVE_KEYS: usize = 100_000;

/// The first delay after `per_login` failures; it doubles with each further failure.
const FIRST_DELAY: Duration = Duration::from_secs(1);

/// Failures kept per (username, address) beyond `per_login`: enough for the delay to reach
/// any window.
const EXTRA_KEPT: usize = 24;

/// Counts failures in a sliding window.
#[derive(Debug)]
pub struct LoginLimiter {
    /// Failures of one username from one address before delays start.
    per_login: usize,
    /// Failures from one address, any username, before it waits for the window.
    per_address: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// One login attempt, counted as a failure until it is settled.
#[must_use = "an attempt not settled is taken back when dropped"]
#[derive(Debug)]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    /// The (username, address) key, then the address's, if known.
    keys: Vec<String>,
    at: Instant,
    settled: bool,
}

impl LoginLimiter {
    pub fn new(per_login: usize, per_address: usize, window: Duration) -> Self {
        Self {
            per_login: per_login.max(1),
            per_address: per_address.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt for `login` from `address`: counted at once, or `Err(wait)` if it must
    /// wait (nothing is counted then).
    pub fn begin(&self, login: &str, address: Option<&str>) -> Result<Attempt<'_>, Duration> {
        self.begin_at(login, address, Instant::now())
    }

    fn begin_at(
        &self,
        login: &str,
        address: Option<&str>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let mut keys = vec![format!("login:{} {login}", address.unwrap_or("-"))];
        keys.extend(address.map(|a| format!("addr:{a}")));
        let Ok(mut failures) = self.failures.lock() else {
            return Err(self.window);
        };
        let mut wait = Duration::ZERO;
        for (i, key) in keys.iter().enumerate() {
            let Some(times) = failures.get_mut(key) else {
                continue;
            };
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            let key_wait = if i == 0 {
                self.delay(times, now)
            } else {
                self.address_wait(times, now)
            };
            wait = wait.max(key_wait);
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for (i, key) in keys.iter().enumerate() {
            let kept = if i == 0 {
                self.per_login + EXTRA_KEPT
            } else {
                self.per_address
            };
            let times = failures.entry(key.clone()).or_default();
            times.push_back(now);
            while times.len() > kept {
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

    /// A username's wait at one address: none for its first `per_login` failures, then 1 s
    /// after the latest, doubling with each further failure, at most the window.
    fn delay(&self, times: &VecDeque<Instant>, now: Instant) -> Duration {
        let Some(over) = times.len().checked_sub(self.per_login) else {
            return Duration::ZERO;
        };
        let Some(latest) = times.back() else {
            return Duration::ZERO;
        };
        let factor = 1u32 << over.min(20);
        let delay = FIRST_DELAY.saturating_mul(factor).min(self.window);
        delay.saturating_sub(now.duration_since(*latest))
    }

    /// An address's wait: until its count drops below `per_address`.
    fn address_wait(&self, times: &VecDeque<Instant>, now: Instant) -> Duration {
        match times.len().checked_sub(self.per_address) {
            Some(over) => {
                let leaving = times[over];
                self.window.saturating_sub(now.duration_since(leaving))
            }
            None => Duration::ZERO,
        }
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

    const ADDR: Option<&str> = Some("203.0.113.7");

    #[test]
    fn a_username_waits_growing_delays_at_the_failing_address_only() {
        let limiter = LoginLimiter::new(3, 100, Duration::from_secs(900));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.begin_at("ada", ADDR, start).unwrap().failed();
        }
        let wait = limiter.begin_at("ada", ADDR, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Elsewhere, and for other usernames, nothing waits.
        assert!(limiter.begin_at("ada", Some("198.51.100.2"), start).is_ok());
        assert!(limiter.begin_at("ada", None, start).is_ok());
        assert!(limiter.begin_at("bob", ADDR, start).is_ok());
        // Each further failure doubles the delay.
        let mut at = start;
        for expected in [2, 4, 8, 16] {
            at += Duration::from_secs(expected / 2);
            limiter.begin_at("ada", ADDR, at).unwrap().failed();
            let wait = limiter.begin_at("ada", ADDR, at).unwrap_err();
            assert_eq!(wait, Duration::from_secs(expected));
        }
        // Never more than the window.
        for _ in 0..40 {
            match limiter.begin_at("ada", ADDR, at) {
                Ok(attempt) => attempt.failed(),
                Err(wait) => {
                    assert!(wait <= Duration::from_secs(900), "{wait:?}");
                    at += wait;
                }
            }
        }
    }

    #[test]
    fn an_address_is_capped_across_usernames() {
        let limiter = LoginLimiter::new(5, 3, Duration::from_secs(60));
        let start = Instant::now();
        for name in ["a", "b", "c"] {
            limiter.begin_at(name, ADDR, start).unwrap().failed();
        }
        let wait = limiter.begin_at("d", ADDR, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        assert!(limiter.begin_at("d", Some("198.51.100.2"), start).is_ok());
        let later = start + Duration::from_secs(60);
        assert!(
            limiter.begin_at("d", ADDR, later).is_ok(),
            "the window slid"
        );
    }

    #[test]
    fn attempts_count_when_they_start() {
        let limiter = LoginLimiter::new(5, 100, Duration::from_secs(60));
        let started: Vec<_> = (0..20).map(|_| limiter.begin("ada", ADDR)).collect();
        assert_eq!(started.iter().filter(|a| a.is_ok()).count(), 5);
    }

    #[test]
    fn a_success_clears_the_login_and_an_unsettled_attempt_is_taken_back() {
        let limiter = LoginLimiter::new(2, 100, Duration::from_secs(60));
        limiter.begin("ada", ADDR).unwrap().failed();
        drop(limiter.begin("ada", ADDR).unwrap());
        limiter.begin("ada", ADDR).unwrap().succeeded();
        limiter.begin("ada", ADDR).unwrap().failed();
        limiter.begin("ada", ADDR).unwrap().failed();
        assert!(limiter.begin("ada", ADDR).is_err());
    }
}
