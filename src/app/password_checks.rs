//! [`PasswordChecks`]: argon2 verifications of log-ins, on a few threads of their own.
//!
//! Each verification allocates argon2's memory cost (19 MiB with the crate's defaults) for
//! its tens of milliseconds. On tokio's blocking pool, a flood of log-ins ran as many at
//! once as the pool has threads (up to 512), and even when they ran a few at a time, each
//! of the many pool threads kept its freed 19 MiB in its own malloc arena: the load tool's
//! failed log-ins took the server from 58 MiB to 948 MiB (758 MiB with a semaphore alone).
//! A fixed pool of one thread per core finishes them as fast (they are CPU-bound), and each
//! of its threads keeps one working memory for all its checks; the others wait in its
//! queue, which costs no memory beyond the request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use rayon::ThreadPool;

use super::error::ApiError;
use super::passwords::verify_password_with;

thread_local! {
    /// argon2's working memory of this password-check thread, kept between checks.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The log-in verifications of a server.
pub struct PasswordChecks {
    pool: ThreadPool,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    running: AtomicUsize,
    /// The most that ever ran at once (what the bound is about).
    peak: AtomicUsize,
}

impl std::fmt::Debug for PasswordChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecks")
            .field("threads", &self.pool.current_num_threads())
            .finish()
    }
}

impl PasswordChecks {
    /// One thread per core (cores as the OS reports them now).
    pub fn new() -> anyhow::Result<PasswordChecks> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordChecks::with_threads(cores)
    }

    fn with_threads(threads: usize) -> anyhow::Result<PasswordChecks> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("imghash-password-{i}"))
            .build()
            .context("cannot start the password-check threads")?;
        Ok(PasswordChecks {
            pool,
            counts: Arc::new(Counts::default()),
        })
    }

    /// Whether `password` matches the PHC string `stored`, once a thread is free.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, ApiError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let counts = self.counts.clone();
        self.pool.spawn(move || {
            let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
            counts.peak.fetch_max(now, Ordering::SeqCst);
            let matches =
                BLOCKS.with_borrow_mut(|blocks| verify_password_with(&password, &stored, blocks));
            counts.running.fetch_sub(1, Ordering::SeqCst);
            // The caller may have gone (client cancelled): nobody to tell.
            let _ = done.send(matches);
        });
        answer
            .await
            .map_err(|_| ApiError::Internal("the password check was dropped".to_string()))
    }

    /// The most verifications that ran at once so far.
    #[cfg(test)]
    fn peak(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::passwords::hash_password;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_verifications_runs_at_most_one_per_thread_at_once() {
        let checks = Arc::new(PasswordChecks::with_threads(2).unwrap());
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
