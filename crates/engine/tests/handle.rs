//! The background-job handle: the outcome, progress, cancelling, cancelling on drop,
//! polling without a runtime, and runs of one job that do not affect each other.
//!
//! Expected digests come from `md5sum` and `sha256sum`.

use std::future::Future;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use imghash_engine::{Algorithm, CancelToken, Error, HashJob, Progress, MIB};

mod common;
use common::tool_digest_of_file as reference;

fn data_file(dir: &Path, name: &str, len: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// An endless stream that tells `dropped` when the run lets go of it: the run has ended.
struct Endless {
    dropped: Sender<()>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        buf.fill(0x5a);
        Ok(buf.len())
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

/// Long enough for any machine to finish a run that was cancelled: only a hang fails.
const NO_HANG: Duration = Duration::from_secs(120);

fn wait_for_progress(progress: &Progress) {
    while progress.done() == 0 {
        std::thread::yield_now();
    }
}

#[test]
fn a_started_file_job_returns_the_reference_digests_and_full_progress() {
    let dir = tempfile::tempdir().unwrap();
    let path = data_file(dir.path(), "a.img", 3 * MIB as usize + 17);
    let job = HashJob::new([Algorithm::Md5, Algorithm::Sha256, Algorithm::MerkleSha256]).unwrap();
    let handle = job.start_file(&path);
    let progress = handle.progress().clone();
    let report = handle.wait().unwrap();
    assert_eq!(report.digests[0].value(), reference("md5sum", &path));
    assert_eq!(report.digests[1].value(), reference("sha256sum", &path));
    assert_eq!(progress.total(), Some(3 * MIB + 17));
    assert_eq!(progress.done(), 3 * MIB + 17);
}

#[test]
fn a_missing_file_is_the_runs_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.img");
    let job = HashJob::new([Algorithm::Md5]).unwrap();
    let err = job.start_file(&missing).wait().unwrap_err();
    assert!(
        matches!(err, Error::Open { ref path, .. } if *path == missing),
        "{err}"
    );
}

#[test]
fn cancelling_a_handle_stops_its_run_and_leaves_the_job_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = data_file(dir.path(), "b.img", 100_000);
    // Each strategy: handoff (MD5), inline (XXH3 on one thread), chunked on the pool.
    for algorithm in [Algorithm::Md5, Algorithm::Xxh3, Algorithm::MerkleSha256] {
        let job = HashJob::builder([algorithm]).threads(1).build().unwrap();
        let (dropped, ended) = channel();
        let handle = job.start_reader(Endless { dropped });
        wait_for_progress(handle.progress());
        handle.cancel();
        assert!(
            matches!(handle.wait(), Err(Error::Cancelled)),
            "{algorithm}"
        );
        ended.recv_timeout(NO_HANG).expect("the run ended");
        // The next run of the same job is not cancelled.
        let report = job.start_file(&path).wait().unwrap();
        if algorithm == Algorithm::Md5 {
            assert_eq!(report.digests[0].value(), reference("md5sum", &path));
        }
    }
}

#[test]
fn dropping_an_unfinished_handle_cancels_its_run() {
    let job = HashJob::new([Algorithm::Sha256]).unwrap();
    let (dropped, ended) = channel();
    let handle = job.start_reader(Endless { dropped });
    wait_for_progress(handle.progress());
    drop(handle);
    ended
        .recv_timeout(NO_HANG)
        .expect("the run ended after its handle was dropped");
}

#[test]
fn a_detached_run_goes_on_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = data_file(dir.path(), "d.img", 200_000);
    let expected = reference("sha256sum", &path);
    let job = HashJob::new([Algorithm::Sha256]).unwrap();
    let (done, result) = channel();
    job.start(move |job| {
        let report = job.hash_file(&path)?;
        done.send(report.digests[0].value()).unwrap();
        Ok::<_, Error>(())
    })
    .detach();
    assert_eq!(result.recv_timeout(NO_HANG).unwrap(), expected);
}

#[test]
fn try_wait_is_none_while_running_and_the_outcome_once_finished() {
    let job = HashJob::new([Algorithm::Md5]).unwrap();
    let (dropped, _ended) = channel();
    let mut handle = job.start_reader(Endless { dropped });
    wait_for_progress(handle.progress());
    assert!(handle.try_wait().is_none());
    assert!(!handle.is_finished());
    handle.cancel();
    let outcome = loop {
        if let Some(outcome) = handle.try_wait() {
            break outcome;
        }
        std::thread::yield_now();
    };
    assert!(matches!(outcome, Err(Error::Cancelled)));
    assert!(handle.is_finished());
    // Handed out once.
    assert!(handle.try_wait().is_none());
}

/// Wakes a parked thread: the smallest executor there is.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[test]
fn the_handle_is_a_future_that_wakes_its_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = data_file(dir.path(), "f.img", 2 * MIB as usize);
    let job = HashJob::new([Algorithm::Md5]).unwrap();
    let mut handle = job.start_file(&path);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    let report = loop {
        polls += 1;
        match std::pin::Pin::new(&mut handle).poll(&mut cx) {
            Poll::Ready(outcome) => break outcome.unwrap(),
            // Only a wake-up (or a spurious unpark) brings the loop back.
            Poll::Pending => std::thread::park(),
        }
    };
    assert_eq!(report.digests[0].value(), reference("md5sum", &path));
    assert!(polls >= 1);
}

#[test]
fn start_runs_any_closure_with_its_own_error_type() {
    let job = HashJob::new([Algorithm::Sha256]).unwrap();
    let handle = job.start(|job| -> Result<usize, String> {
        let report = job.hash_slice(b"abc").map_err(|e| e.to_string())?;
        Ok(report.digests[0].bytes.len())
    });
    assert_eq!(handle.wait(), Ok(32));
}

#[test]
fn a_panic_in_the_run_reaches_the_waiter() {
    let job = HashJob::new([Algorithm::Md5]).unwrap();
    let handle = job.start(|_| -> Result<(), Error> { panic!("boom in the run") });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.wait()));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in the run"));
}

#[test]
fn a_cancelled_job_token_stops_every_run_and_a_fresh_token_runs_again() {
    // Documented: a token stays cancelled. A job holding it returns Cancelled at once, in
    // blocking runs and handles alike; a job given a fresh token runs normally.
    let token = CancelToken::new();
    let job = HashJob::new([Algorithm::Md5]).unwrap().cancel(&token);
    token.cancel();
    assert!(matches!(job.hash_slice(b"abc"), Err(Error::Cancelled)));
    assert!(matches!(
        job.start_reader(&b"abc"[..]).wait(),
        Err(Error::Cancelled)
    ));
    let job = job.cancel(&CancelToken::new());
    let report = job.hash_slice(b"abc").unwrap();
    assert_eq!(
        report.digests[0].value(),
        "900150983cd24fb0d6963f7d28e17f72"
    );
}

#[test]
fn concurrent_runs_of_one_job_count_progress_separately() {
    let dir = tempfile::tempdir().unwrap();
    let small = data_file(dir.path(), "small.img", 10_000);
    let large = data_file(dir.path(), "large.img", MIB as usize);
    let job = HashJob::new([Algorithm::Sha256]).unwrap();
    let (first, second) = (job.start_file(&small), job.start_file(&large));
    let (p1, p2) = (first.progress().clone(), second.progress().clone());
    first.wait().unwrap();
    second.wait().unwrap();
    assert_eq!((p1.done(), p2.done()), (10_000, MIB));
}
