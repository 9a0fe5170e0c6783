//! [`PasswordChecks`]: argon2 verifications of log-ins, a bounded number at once.
//!
//! Each verification holds argon2's memory cost (19 MiB with the crate's defaults) for its
//! tens of milliseconds. Unbounded, a flood of log-ins ran as many at once as the blocking
//! pool has threads (up to 512): the load tool's failed log-ins took the server from 58 MiB
//! to 948 MiB. One per core finishes them as fast (they are CPU-bound), and the rest wait
//! for a permit, which costs no memory beyond the request.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::error::ApiError;
use super::passwords::verify_password;

/// The log-in verifications of a server.
#[derive(Debug)]
pub struct PasswordChecks {
    permits: Semaphore,
    running: AtomicUsize,
    /// The most that ever ran at once (what the bound is about).
    peak: AtomicUsize,
}

impl PasswordChecks {
    /// At most one verification per core at once (cores as the OS reports them now).
    pub fn new() -> PasswordChecks {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordChecks::with_limit(cores)
    }

    fn with_limit(limit: usize) -> PasswordChecks {
        PasswordChecks {
            permits: Semaphore::new(limit.max(1)),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Whether `password` matches the PHC string `stored`, on a blocking thread once a
    /// permit is free.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("password checks are closed".to_string()))?;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let matches = super::blocking("password check", move || {
            Ok(verify_password(&password, &stored))
        })
        .await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        matches
    }

    /// The most verifications that ran at once so far.
    #[cfg(test)]
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Default for PasswordChecks {
    fn default() -> Self {
        PasswordChecks::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::passwords::hash_password;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_verifications_runs_at_most_the_limit_at_once() {
        let checks = Arc::new(PasswordChecks::with_limit(2));
        let stored = hash_password("secret").unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (checks, stored) = (checks.clone(), stored.clone());
                tokio::spawn(async move { checks.verify(format!("guess {i}"), stored).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(false));
        }
        assert!(checks.verify("secret".into(), stored).await.unwrap());
        assert!(checks.peak() <= 2, "{} at once", checks.peak());
        assert!(checks.peak() >= 1);
    }
}
