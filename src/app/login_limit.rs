//! [`LoginLimiter`]: per-account back-off after repeated failed logins.
//!
//! Password guessing against one account is slowed down, not just made expensive by argon2:
//! after `max_failures` failures within `window`, the account is locked for `lockout`. A
//! locked account is refused with ID.1000 before its password is even checked (so a locked
//! account costs no argon2 time either), and the refusal says how long to wait. A success
//! resets the account's count. Attempts on names that do not exist are counted the same way,
//! so the answers do not tell which accounts exist.
//!
//! The state is in memory only: a restart forgets it, which is acceptable for a back-off.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bound on the names tracked at once; beyond it, entries whose window and lockout are over
/// are swept, so a flood of random names cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;

/// The back-off settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures within `window` that lock the account.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a locked account stays locked.
    pub lockout: Duration,
}

impl Default for LoginLimits {
    /// 5 failures within 60 s lock the account for 60 s.
    fn default() -> Self {
        LoginLimits {
            max_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug)]
struct Failures {
    /// Start of the current counting window.
    first: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

/// Failed logins per account name.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginLimiter {
    /// A limiter with these limits.
    pub fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(remaining)` if `account` is locked now.
    pub fn locked(&self, account: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut failures = self.failures();
        let entry = failures.get(account)?;
        match entry.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                // The lockout is over: start afresh.
                failures.remove(account);
                None
            }
            None => None,
        }
    }

    /// Counts a failed attempt; locks the account once the limit is reached.
    pub fn failed(&self, account: &str) {
        let now = Instant::now();
        let limits = self.limits;
        let mut failures = self.failures();
        if failures.len() >= SWEEP_ABOVE {
            failures.retain(|_, f| {
                f.locked_until.is_some_and(|until| until > now)
                    || now.duration_since(f.first) < limits.window
            });
        }
        let entry = failures.entry(account.to_string()).or_insert(Failures {
            first: now,
            count: 0,
            locked_until: None,
        });
        if now.duration_since(entry.first) >= limits.window {
            entry.first = now;
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        if entry.count >= limits.max_failures {
            entry.locked_until = Some(now + limits.lockout);
            tracing::warn!(
                account,
                failures = entry.count,
                lockout_s = limits.lockout.as_secs_f64(),
                "too many failed logins: account locked"
            );
        }
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, account: &str) {
        self.failures().remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_locks_and_a_success_resets() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        });
        limiter.failed("a");
        limiter.failed("a");
        limiter.succeeded("a");
        limiter.failed("a");
        limiter.failed("a");
        assert_eq!(limiter.locked("a"), None);
        limiter.failed("a");
        assert!(limiter.locked("a").is_some());
        assert_eq!(limiter.locked("b"), None);
    }

    #[test]
    fn a_lockout_ends() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures: 1,
            window: Duration::from_secs(60),
            lockout: Duration::ZERO,
        });
        limiter.failed("a");
        assert_eq!(limiter.locked("a"), None);
    }
}
