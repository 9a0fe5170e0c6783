//! [`LoginLimiter`]: back-off after repeated failed logins, per account and client address.
//!
//! Password guessing against one account is slowed down, not just made expensive by argon2:
//! after `max_failures` failures within `window` from one client address, that account is
//! locked for `lockout` *for that address*. Keying by address too means a stranger's
//! failures cannot lock the owner out from their own machine (with a per-account lock, five
//! wrong passwords from anywhere locked `admin` out for everyone, renewable forever). IPv6
//! clients count by their /64, since one host is usually given a whole /64 to pick from.
//! A locked pair is refused with ID.1000 before its password is even checked (so it costs
//! no argon2 time either), and the refusal says how long to wait. A success resets the
//! pair's count. Attempts on names that do not exist are counted the same way, so the
//! answers do not tell which accounts exist.
//!
//! The state is in memory only: a restart forgets it, which is acceptable for a back-off.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bound on the (name, address) pairs tracked at once. At the bound, entries whose window
/// and lockout are over are swept; if none is, the oldest unlocked entry makes room (a
/// locked one never does, so a flood of names cannot unlock an account). With names of at
/// most 255 characters, the map stays under a few MiB whatever a stranger sends.
const MAX_TRACKED: usize = 10_000;

/// Who is trying: the account name and where the attempt comes from (`None` when the
/// transport does not know, e.g. a test calling the application directly).
pub type Attempt<'a> = (&'a str, Option<IpAddr>);

/// The map key of an attempt: IPv6 addresses cut to their /64.
type Key = (String, Option<IpAddr>);

fn key((account, client): Attempt<'_>) -> Key {
    // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d: count it as IPv4.
    let client = client.map(|ip| match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        v4 => v4,
    });
    (account.to_string(), client)
}

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

/// Failed logins per account name and client address.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<Key, Failures>>,
}

impl LoginLimiter {
    /// A limiter with these limits.
    pub fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(remaining)` if the account is locked now for this client.
    pub fn locked(&self, attempt: Attempt<'_>) -> Option<Duration> {
        let now = Instant::now();
        let key = key(attempt);
        let mut failures = self.failures();
        let entry = failures.get(&key)?;
        match entry.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                // The lockout is over: start afresh.
                failures.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Counts a failed attempt; locks the account for this client once the limit is
    /// reached.
    pub fn failed(&self, attempt: Attempt<'_>) {
        let now = Instant::now();
        let limits = self.limits;
        let key = key(attempt);
        let mut failures = self.failures();
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&key) {
            make_room(&mut failures, now, limits);
        }
        let (account, client) = attempt;
        let entry = failures.entry(key).or_insert(Failures {
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
                client = ?client,
                failures = entry.count,
                lockout_s = limits.lockout.as_secs_f64(),
                "too many failed logins: account locked for this client"
            );
        }
    }

    /// A successful login clears the failures of the account from this client.
    pub fn succeeded(&self, attempt: Attempt<'_>) {
        self.failures().remove(&key(attempt));
    }
}

/// Sweeps entries that no longer count; if that frees nothing, drops the oldest entry that
/// is not locked. When every entry is locked the map may exceed the bound by the locked
/// ones, each of which needed `max_failures` attempts within a window.
fn make_room(failures: &mut HashMap<Key, Failures>, now: Instant, limits: LoginLimits) {
    let locked = |f: &Failures| f.locked_until.is_some_and(|until| until > now);
    failures.retain(|_, f| locked(f) || now.duration_since(f.first) < limits.window);
    if failures.len() < MAX_TRACKED {
        return;
    }
    let oldest = failures
        .iter()
        .filter(|(_, f)| !locked(f))
        .min_by_key(|(_, f)| f.first)
        .map(|(key, _)| key.clone());
    if let Some(name) = oldest {
        failures.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    fn at(account: &str) -> Attempt<'_> {
        (account, HERE)
    }

    #[test]
    fn the_limit_locks_and_a_success_resets() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        });
        limiter.failed(at("a"));
        limiter.failed(at("a"));
        limiter.succeeded(at("a"));
        limiter.failed(at("a"));
        limiter.failed(at("a"));
        assert_eq!(limiter.locked(at("a")), None);
        limiter.failed(at("a"));
        assert!(limiter.locked(at("a")).is_some());
        assert_eq!(limiter.locked(at("b")), None);
    }

    #[test]
    fn a_lock_holds_for_the_failing_address_only_and_ipv6_counts_by_its_64() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures: 1,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        });
        let stranger: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let owner: IpAddr = "2001:db8:1:3::5".parse().unwrap();
        limiter.failed(("admin", Some(stranger)));
        assert!(limiter.locked(("admin", Some(same_64))).is_some());
        assert_eq!(limiter.locked(("admin", Some(owner))), None);
        assert_eq!(limiter.locked(("admin", HERE)), None);
    }

    #[test]
    fn a_lockout_ends() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures: 1,
            window: Duration::from_secs(60),
            lockout: Duration::ZERO,
        });
        limiter.failed(at("a"));
        assert_eq!(limiter.locked(at("a")), None);
    }

    #[test]
    fn a_flood_of_names_stays_bounded_and_keeps_a_lockout() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures: 2,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        });
        limiter.failed(at("admin"));
        limiter.failed(at("admin"));
        for i in 0..MAX_TRACKED + 500 {
            limiter.failed(at(&format!("stranger-{i}")));
        }
        assert!(limiter.failures().len() <= MAX_TRACKED);
        assert!(limiter.locked(at("admin")).is_some());
    }
}
