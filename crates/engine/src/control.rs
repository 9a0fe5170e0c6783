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

#[derive(Debug)]
struct ProgressCounters {
    done: AtomicU64,
    /// `u64::MAX` while unknown (a stream such as stdin).
    total: AtomicU64,
}

/// Written by hand so that `Progress::default()` is the same as [`Progress::new`]: an
/// unknown total, not a known total of zero bytes.
impl Default for ProgressCounters {
    fn default() -> ProgressCounters {
        ProgressCounters {
            done: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
        }
    }
}

impl Progress {
    /// A counter at zero with an unknown total; the same as `Progress::default()`.
    pub fn new() -> Progress {
        Progress::default()
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
/// A token stays cancelled: every run of a [`HashJob`](crate::HashJob) built with a
/// cancelled token returns `Cancelled` at once, without reading. To stop one run and keep
/// the job usable, cancel that run's [`JobHandle`](crate::JobHandle) (each background
/// run has a token of its own), or give each blocking run a fresh token.
///
/// ```
/// let token = imghash_engine::CancelToken::new();
/// let for_the_job = token.clone();
/// token.cancel();
/// assert!(for_the_job.is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<CancelNode>);

#[derive(Debug, Default)]
struct CancelNode {
    cancelled: AtomicBool,
    /// A token this one follows: cancelling the parent cancels this one, not the reverse.
    parent: Option<Arc<CancelNode>>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Requests cancellation; idempotent.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Relaxed);
    }

    /// True once [`cancel`](Self::cancel) was called on any clone (or on the token this one
    /// was made from with [`child`](Self::child)).
    pub fn is_cancelled(&self) -> bool {
        let mut node = Some(&self.0);
        while let Some(current) = node {
            if current.cancelled.load(Ordering::Relaxed) {
                return true;
            }
            node = current.parent.as_ref();
        }
        false
    }

    /// A new token that is cancelled when this one is, and can also be cancelled on its
    /// own without touching this one: one run's token under a token for a whole service.
    ///
    /// ```
    /// let service = imghash_engine::CancelToken::new();
    /// let run = service.child();
    /// run.cancel();
    /// assert!(!service.is_cancelled());
    /// let next_run = service.child();
    /// service.cancel();
    /// assert!(next_run.is_cancelled());
    /// ```
    pub fn child(&self) -> CancelToken {
        CancelToken(Arc::new(CancelNode {
            cancelled: AtomicBool::new(false),
            parent: Some(self.0.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_default_and_new_agree_on_an_unknown_total() {
        assert_eq!(Progress::default().total(), None);
        assert_eq!(Progress::new().total(), None);
        assert_eq!(Progress::default().done(), Progress::new().done());
    }

    #[test]
    fn a_child_token_follows_its_parent_but_not_the_reverse() {
        let parent = CancelToken::new();
        let child = parent.child();
        let grandchild = child.child();
        grandchild.cancel();
        assert!(!child.is_cancelled() && !parent.is_cancelled());
        let sibling = parent.child();
        parent.cancel();
        assert!(sibling.is_cancelled() && child.is_cancelled());
    }
}
