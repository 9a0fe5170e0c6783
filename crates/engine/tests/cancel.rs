//! Cancellation reaches every loop of a job (issue #11, failure 1): whatever the input
//! (sparse with its holes skipped, or read densely), the reading mode and the chunk size,
//! a cancelled job returns `Cancelled` without having gone through its input, and its
//! progress counter no longer moves once it has returned.
//!
//! No timing is asserted: "stops" means "returns at all within a minute", where before the
//! fix a job fed millions of hole chunks, or a 1 GiB hole chunk, without looking at its
//! token and so ran through the whole terabyte-sized input.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use imghash_engine::{Algorithm, CancelToken, Error, HashJob, Progress, GIB, KIB, MIB};

/// A sparse file of `len` bytes with 1 MiB of data at its start, so that the job is busy
/// with data for a moment before the holes.
fn sparse_image(dir: &Path, len: u64) -> PathBuf {
    let path = dir.join("sparse.img");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(len).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &vec![0xa5; MIB as usize], 0).unwrap();
    path
}

/// What a cancelled job left behind.
struct Stopped {
    result: imghash_engine::Result<imghash_engine::Report>,
    done_when_returned: u64,
    done_later: u64,
    /// `None` for a stream.
    total: Option<u64>,
}

/// Progress past the data at the start of [`sparse_image`]: cancelling a job that is in
/// the holes, where no cancel was seen before the fix (a thread reading data noticed it).
const CANCEL_AFTER: u64 = 16 * MIB;

/// Starts `job` on `path`, cancels it once its progress has passed [`CANCEL_AFTER`], and
/// waits (at most a minute) for it to return.
fn cancel_once_started(job: HashJob, path: &Path) -> Stopped {
    let progress = Progress::new();
    let cancel = CancelToken::new();
    let job = job.progress(&progress).cancel(&cancel);
    let (tx, rx) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || tx.send(job.hash_file(&path)));
    while progress.done() < CANCEL_AFTER {
        if let Ok(early) = rx.try_recv() {
            panic!("the job ended before it could be cancelled: {early:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cancel.cancel();
    let result = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the job did not stop within a minute of its cancel");
    let done_when_returned = progress.done();
    std::thread::sleep(Duration::from_millis(200));
    Stopped {
        result,
        done_when_returned,
        done_later: progress.done(),
        total: progress.total(),
    }
}

fn assert_stopped(stopped: Stopped, what: &str) {
    assert!(
        matches!(stopped.result, Err(Error::Cancelled)),
        "{what}: {:?}",
        stopped.result
    );
    if let Some(total) = stopped.total {
        assert!(
            stopped.done_when_returned < total,
            "{what}: went through all {total} bytes despite the cancel"
        );
    }
    assert_eq!(
        stopped.done_when_returned, stopped.done_later,
        "{what}: progress still moved after the job returned"
    );
}

/// The reading modes: the parallel mode (chunked constructions only), the pipeline (a
/// chunked construction with a sequential digest), and a lone sequential digest. In the
/// parallel mode a Merkle tree takes a terabyte of holes in a few milliseconds (zero
/// subtrees are precomputed), too fast to cancel; blkhash still hashes a digest per chunk.
const JOBS: [&[Algorithm]; 3] = [
    &[Algorithm::BlkhashSha256],
    &[Algorithm::BlkhashSha256, Algorithm::Md5],
    &[Algorithm::Sha256],
];

fn check_every_mode(path: &Path, chunk_sizes: &[u64], detect_holes: bool) {
    for algorithms in JOBS {
        let chunked = algorithms.iter().any(|a| a.is_chunked());
        // Chunk sizes mean nothing to a sequential digest: one run is enough.
        let sizes = if chunked {
            chunk_sizes
        } else {
            &chunk_sizes[..1]
        };
        for &chunk in sizes {
            let mut job = HashJob::builder(algorithms.iter().copied())
                .threads(2)
                .detect_holes(detect_holes);
            if chunked {
                job = job.chunk_size(chunk);
            }
            let job = job.build().unwrap();
            let what = format!("{algorithms:?}, chunk {chunk}, holes skipped: {detect_holes}");
            assert_stopped(cancel_once_started(job, path), &what);
        }
    }
}

#[test]
fn a_job_on_a_sparse_terabyte_stops_whatever_the_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = sparse_image(dir.path(), 1 << 40);
    // 1 KiB: a billion chunks in the holes (below the 64 KiB that text sizes may ask for,
    // but the builder takes it); 64 KiB: the floor; 1 GiB: one chunk's zeros take seconds.
    check_every_mode(&path, &[KIB, 64 * KIB, GIB], true);
}

#[test]
fn a_job_reading_densely_stops_whatever_the_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    // Holes not skipped: every byte is read and hashed, like a dense image.
    let path = sparse_image(dir.path(), 64 * GIB);
    check_every_mode(&path, &[KIB, GIB], false);
}

#[test]
fn an_endless_character_device_is_read_until_cancelled() {
    // md5sum never ends on /dev/zero either; a job must at least be stoppable.
    for algorithms in JOBS {
        let job = HashJob::builder(algorithms.iter().copied())
            .threads(2)
            .build()
            .unwrap();
        let what = format!("{algorithms:?} on /dev/zero");
        assert_stopped(cancel_once_started(job, Path::new("/dev/zero")), &what);
    }
}
