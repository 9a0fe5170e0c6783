//! Background runs: a job started on a thread of its own, and the handle that watches it.
//!
//! # Design
//!
//! [`HashJob::start`] runs a job on a new thread and returns a [`JobHandle`] at once. The
//! hashing itself happens where the job says (its own pool, or the caller's through
//! [`HashJobBuilder::pool`](crate::HashJobBuilder::pool)); the thread only drives the run.
//! It is not taken from the hashing pool on purpose: a run blocks while its digests' threads
//! work, and those may need the pool (BLAKE3 spreads each block over it), so runs parked on
//! every pool thread would wait for each other forever.
//!
//! Each run has its own [`CancelToken`] (a [`child`](CancelToken::child) of the job's, so
//! cancelling the job's token still stops every run) and its own [`Progress`] (unless the
//! job was given one): cancelling one handle leaves the job usable for the next run.
//!
//! The handle needs no async runtime: [`JobHandle::wait`] blocks, [`JobHandle::try_wait`]
//! polls, and the handle is a [`Future`] that any executor (tokio, smol, a hand-written
//! poll loop) can await; the run wakes the task that awaits it when it ends.

use std::future::Future;
use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::job::{HashJob, Report};
use crate::source::Source;

/// A run in the background: its progress, a way to cancel it, and its result.
///
/// Dropping the handle of an unfinished run cancels it (use [`detach`](Self::detach) to
/// let it finish unobserved). `T` and `E` are what the run's closure returns: a
/// [`Report`] and an [`Error`] for [`HashJob::start_file`] and its siblings.
///
/// ```
/// use imghash_engine::{Algorithm, HashJob};
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("disk.img");
/// # std::fs::write(&path, b"abc").unwrap();
/// let job = HashJob::new([Algorithm::Sha256])?;
/// let handle = job.start_file(&path);
/// // ... serve other requests, show handle.progress() ...
/// let report = handle.wait()?;
/// assert_eq!(
///     report.get(Algorithm::Sha256).unwrap().value(),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
///
/// // Cancelling a run, or dropping its handle, stops that run only.
/// let handle = job.start_reader(std::io::repeat(0)); // never ends by itself
/// handle.cancel();
/// assert!(matches!(handle.wait(), Err(imghash_engine::Error::Cancelled)));
/// assert!(job.start_file(&path).wait().is_ok());
/// # Ok::<(), imghash_engine::Error>(())
/// ```
#[must_use = "dropping a JobHandle cancels its run"]
pub struct JobHandle<T = Report, E = Error> {
    shared: Arc<Shared<T, E>>,
    progress: Progress,
    cancel: CancelToken,
    /// False after `detach`: dropping the handle then leaves the run alone.
    cancel_on_drop: bool,
}

/// What the run's thread and the handle share.
struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    /// Signalled once, when the run ends, for blocking waits.
    finished: Condvar,
}

enum State<T, E> {
    /// The task awaiting the handle as a future, to wake when the run ends.
    Running(Option<Waker>),
    /// The run's outcome; a panic is passed on to whoever takes it.
    Finished(std::thread::Result<Result<T, E>>),
    /// The outcome was handed out.
    Taken,
}

impl<T, E> Shared<T, E> {
    fn state(&self) -> MutexGuard<'_, State<T, E>> {
        // The lock is never held across user code, so poisoning cannot leave a torn state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finish(&self, outcome: std::thread::Result<Result<T, E>>) {
        let previous = std::mem::replace(&mut *self.state(), State::Finished(outcome));
        self.finished.notify_all();
        if let State::Running(Some(waker)) = previous {
            waker.wake();
        }
    }
}

impl HashJob {
    /// Runs `work` with this job on a new thread and returns at once with its handle.
    ///
    /// `work` receives the job as configured, except that it stops on the handle's own
    /// [`CancelToken`] (which also follows the job's) and counts on the handle's
    /// [`Progress`]. This is the general form: a service can open its own kind of source in
    /// the background, or return its own error type.
    ///
    /// # Panics
    ///
    /// If the operating system cannot start a thread, as [`std::thread::spawn`] does. A
    /// panic inside `work` is passed on to the caller of [`JobHandle::wait`] (or of `poll`).
    pub fn start<T, E, F>(&self, work: F) -> JobHandle<T, E>
    where
        F: FnOnce(&HashJob) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (run, cancel, progress) = self.for_run();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::Running(None)),
            finished: Condvar::new(),
        });
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name("imghash-job".to_string())
            .spawn(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| work(&run)));
                // Release the run's resources (its pool reference) before anyone is told.
                drop(run);
                for_thread.finish(outcome);
            })
            .expect("failed to spawn the imghash-job thread");
        JobHandle {
            shared,
            progress,
            cancel,
            cancel_on_drop: true,
        }
    }

    /// Hashes the file (or block device) at `path` in the background; opening it is part of
    /// the run, so a missing file is the run's error.
    pub fn start_file(&self, path: impl Into<PathBuf>) -> JobHandle {
        let path = path.into();
        self.start(move |job| job.hash_file(&path))
    }

    /// Hashes any owned [`Source`] in the background.
    pub fn start_source(&self, source: impl Source + 'static) -> JobHandle {
        self.start(move |job| job.hash_source(&source))
    }

    /// Hashes a stream to its end in the background.
    pub fn start_reader(&self, mut reader: impl Read + Send + 'static) -> JobHandle {
        self.start(move |job| job.hash_reader(&mut reader))
    }
}

impl<T, E> JobHandle<T, E> {
    /// Bytes hashed so far of bytes in total.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Asks the run to stop; it ends with [`Error::Cancelled`] within a block's hashing
    /// (unless it finished first). Idempotent.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The run's token, to cancel it from elsewhere (another task, a signal handler) while
    /// this handle is awaited.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// True once the run has ended (successfully or not).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.state(), State::Running(_))
    }

    /// The outcome if the run has ended, without waiting; `None` while it runs. The
    /// outcome is handed out once: later calls return `None` too.
    pub fn try_wait(&mut self) -> Option<Result<T, E>> {
        take_finished(&mut self.shared.state())
    }

    /// Waits for the run to end and returns its outcome.
    pub fn wait(self) -> Result<T, E> {
        let mut state = self.shared.state();
        loop {
            if let Some(outcome) = take_finished(&mut state) {
                return outcome;
            }
            if matches!(*state, State::Taken) {
                panic!("JobHandle::wait after the outcome was taken");
            }
            state = self
                .shared
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits at most `timeout` for the run to end: `Some(outcome)` if it did.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<T, E>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state();
        loop {
            if let Some(outcome) = take_finished(&mut state) {
                return Some(outcome);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() || matches!(*state, State::Taken) {
                return None;
            }
            state = self
                .shared
                .finished
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Lets the run go on to its end without this handle: dropping it no longer cancels.
    /// The outcome is discarded.
    pub fn detach(mut self) {
        self.cancel_on_drop = false;
    }
}

/// Takes a finished outcome out of `state`, passing a panic of the run on.
fn take_finished<T, E>(state: &mut State<T, E>) -> Option<Result<T, E>> {
    if !matches!(state, State::Finished(_)) {
        return None;
    }
    match std::mem::replace(state, State::Taken) {
        State::Finished(Ok(outcome)) => Some(outcome),
        State::Finished(Err(panic)) => panic::resume_unwind(panic),
        _ => unreachable!("checked above"),
    }
}

/// Awaiting the handle waits for the run without blocking the executor's thread. The
/// handle is `Unpin`: `(&mut handle).await` keeps it (and its cancel-on-drop) alive.
///
/// # Panics
///
/// When polled again after it returned `Ready`.
impl<T, E> Future for JobHandle<T, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.state();
        if let Some(outcome) = take_finished(&mut state) {
            return Poll::Ready(outcome);
        }
        match &mut *state {
            State::Running(waker) => {
                match waker {
                    Some(known) if known.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            _ => panic!("JobHandle polled after its outcome was taken"),
        }
    }
}

impl<T, E> Drop for JobHandle<T, E> {
    fn drop(&mut self) {
        if self.cancel_on_drop && !self.is_finished() {
            self.cancel.cancel();
        }
    }
}

impl<T, E> std::fmt::Debug for JobHandle<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("progress", &self.progress)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("finished", &self.is_finished())
            .finish()
    }
}
