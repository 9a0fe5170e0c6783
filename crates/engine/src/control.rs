//! Progress and cancellation: shared handles a caller keeps while a job runs elsewhere.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes hashed so far of bytes in total, updated by the job as each read block has been
/// consumed by every digest. Cheap to clone and to poll (two relaxed atomic loads).
///
/// ```
/// let progress = imghash_engine::Progress::new();
/// assert_eq!((progress.done(), progress.total()), (0, None));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<ProgressCounters>);

#[derive(Debug, Default)]
struct ProgressCounters {
    done: AtomicU64,
    /// `u64::MAX` while unknown (a stream such as stdin).
    total: AtomicU64,
}

impl Progress {
    /// A counter at zero with an unknown total.
    pub fn new() -> Progress {
        let progress = Progress::default();
        progress.0.total.store(u64::MAX, Ordering::Relaxed);
        progress
    }

    /// Bytes every requested digest has consumed.
    pub fn done(&self) -> u64 {
        self.0.done.load(Ordering::Relaxed)
    }

    /// The input's length, once known.
    pub fn total(&self) -> Option<u64> {
        Some(self.0.total.load(Ordering::Relaxed)).filter(|&t| t != u64::MAX)
    }

    pub(crate) fn start(&self, total: Option<u64>) {
        self.0.done.store(0, Ordering::Relaxed);
        self.0
            .total
            .store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn add(&self, bytes: u64) {
        self.0.done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Asks a running job to stop. The reader checks it before every block and the hashers
/// skip queued work once it is set, so a job returns [`Error::Cancelled`](crate::Error)
/// within the time of hashing one block (milliseconds).
///
/// ```
/// let token = imghash_engine::CancelToken::new();
/// let for_the_job = token.clone();
/// token.cancel();
/// assert!(for_the_job.is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Requests cancellation; idempotent.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`cancel`](Self::cancel) was called on any clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
