//! The engine on real files: sparse files with data at chunk and block edges, files that
//! change while hashed, cancellation, progress and the chunk sink.
//!
//! Expected values for standard digests come from the coreutils binaries (`md5sum`,
//! `sha256sum`); for chunked constructions, the tests check that reading strategy never
//! changes a result (holes detected or not, any thread count, any read size, streamed or
//! positional), while their values are pinned by the known-answer vectors.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use imghash_engine::{
    Algorithm, CancelToken, ChunkDigest, Error, FileSource, HashJob, Progress, SinkError, MIB,
};

mod common;
use common::tool_digest_of_file as reference;

/// Deterministic non-zero bytes (a simple LCG), different for each seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8 | 1
        })
        .collect()
}

/// A sparse file of `len` bytes with data written at each (offset, len).
fn sparse_file(dir: &Path, name: &str, len: u64, islands: &[(u64, usize)]) -> std::path::PathBuf {
    let path = dir.join(name);
    let file = File::create(&path).unwrap();
    file.set_len(len).unwrap();
    for (i, &(offset, size)) in islands.iter().enumerate() {
        file.write_all_at(&noise(size, i as u64), offset).unwrap();
    }
    path
}

const ALL_CHUNKED: [Algorithm; 7] = [
    Algorithm::MerkleSha256,
    Algorithm::MerkleSha512,
    Algorithm::MerkleXxh128,
    Algorithm::BlkhashSha256,
    Algorithm::GlacierSha256,
    Algorithm::S3Etag,
    Algorithm::S3Sha256Composite,
];

fn values(job: &HashJob, path: &Path) -> Vec<String> {
    job.hash_file(path)
        .unwrap()
        .digests
        .iter()
        .map(|d| d.value())
        .collect()
}

#[test]
fn sparse_files_hash_the_same_with_and_without_hole_detection() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = 4 * MIB;
    // Data islands inside a chunk, ending at a chunk edge, starting at one, and across one.
    let islands = [
        (100, 5000),
        (chunk - 4096, 4096),
        (2 * chunk, 70_000),
        (3 * chunk - 300, 600),
        (5 * chunk + 12_345, 1),
    ];
    let path = sparse_file(dir.path(), "sparse.img", 6 * chunk + 777, &islands);
    let mut algorithms = vec![Algorithm::Md5, Algorithm::Sha256, Algorithm::Blake3];
    algorithms.extend(ALL_CHUNKED);
    let streamed_and_chunked = HashJob::builder(algorithms.clone()).threads(2);
    let without_holes = streamed_and_chunked.clone().detect_holes(false);
    let baseline = values(&without_holes.build().unwrap(), &path);
    assert_eq!(baseline[0], reference("md5sum", &path));
    assert_eq!(baseline[1], reference("sha256sum", &path));
    assert_eq!(
        values(&streamed_and_chunked.build().unwrap(), &path),
        baseline
    );
    // Chunked-only jobs take the parallel path; BLAKE3 alone too.
    for (i, &alg) in algorithms.iter().enumerate().skip(2) {
        for holes in [true, false] {
            for threads in [1, 3] {
                let job = HashJob::builder([alg])
                    .threads(threads)
                    .detect_holes(holes)
                    .build()
                    .unwrap();
                assert_eq!(
                    values(&job, &path),
                    [baseline[i].clone()],
                    "{alg} holes={holes} threads={threads}"
                );
            }
        }
    }
}

#[test]
fn all_zero_data_written_to_disk_hashes_like_a_hole() {
    let dir = tempfile::tempdir().unwrap();
    let len = 9 * MIB + 3;
    let hole = sparse_file(dir.path(), "hole.img", len, &[]);
    let written = dir.path().join("written.img");
    std::fs::write(&written, vec![0u8; len as usize]).unwrap();
    let job = HashJob::new(ALL_CHUNKED).unwrap();
    assert_eq!(values(&job, &hole), values(&job, &written));
    assert_eq!(
        HashJob::new([Algorithm::Md5])
            .unwrap()
            .hash_file(&hole)
            .unwrap()
            .digests[0]
            .value(),
        reference("md5sum", &written)
    );
}

#[test]
fn results_do_not_depend_on_read_size_or_threads_at_chunk_edges() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = 64 * 1024;
    for len in [0, 1, chunk - 1, chunk, chunk + 1, 37 * chunk + 5] {
        let path = dir.path().join(format!("f{len}"));
        std::fs::write(&path, noise(len as usize, len)).unwrap();
        // Not Glacier: its chunk size is fixed.
        let settings = HashJob::builder(
            ALL_CHUNKED
                .into_iter()
                .filter(|&a| a != Algorithm::GlacierSha256),
        )
        .chunk_size(chunk);
        let job = settings.build().unwrap();
        let expected = values(&job, &path);
        for read_size in [4096, 10_000, chunk as usize, 1 << 20] {
            for threads in [1, 2, 5] {
                let variant = settings.clone().block_size(read_size).threads(threads);
                assert_eq!(
                    values(&variant.build().unwrap(), &path),
                    expected,
                    "len {len} read {read_size} threads {threads}"
                );
            }
        }
        let mut reader = File::open(&path).unwrap();
        let streamed = job.hash_reader(&mut reader).unwrap();
        let streamed: Vec<_> = streamed.digests.iter().map(|d| d.value()).collect();
        assert_eq!(streamed, expected, "streamed, len {len}");
    }
}

#[test]
fn blake3_in_parallel_subtrees_equals_blake3_streamed() {
    let dir = tempfile::tempdir().unwrap();
    for len in [4 * MIB, 4 * MIB + 1, 8 * MIB, 12 * MIB + 1023, 17 * MIB] {
        let path = dir.path().join(format!("b{len}"));
        std::fs::write(&path, noise(len as usize, 7)).unwrap();
        let threads = HashJob::builder([Algorithm::Blake3]).threads(2);
        let parallel = values(&threads.build().unwrap(), &path);
        let streamed = HashJob::new([Algorithm::Blake3])
            .unwrap()
            .hash_reader(&mut File::open(&path).unwrap())
            .unwrap();
        assert_eq!(parallel[0], streamed.digests[0].value(), "len {len}");
    }
}

#[test]
fn a_file_that_grows_after_open_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grows.img");
    std::fs::write(&path, noise(MIB as usize, 1)).unwrap();
    let source = FileSource::open(&path).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    for algorithm in [Algorithm::Md5, Algorithm::MerkleSha256] {
        let job = HashJob::new([algorithm]).unwrap();
        let err = job.hash_source(&source).unwrap_err();
        assert!(matches!(err, Error::Changed { .. }), "{algorithm}: {err}");
        assert!(
            err.to_string()
                .contains("grew from 1048576 to 1048580 bytes"),
            "{err}"
        );
    }
}

#[test]
fn a_file_that_shrinks_after_open_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinks.img");
    std::fs::write(&path, noise(2 * MIB as usize, 1)).unwrap();
    let source = FileSource::open(&path).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(MIB)
        .unwrap();
    for algorithm in [Algorithm::Sha1, Algorithm::BlkhashSha256] {
        let job = HashJob::new([algorithm]).unwrap();
        let err = job.hash_source(&source).unwrap_err();
        assert!(matches!(err, Error::Changed { .. }), "{algorithm}: {err}");
        assert!(err.to_string().contains("shrinks.img"), "{err}");
    }
}

#[test]
fn a_file_replaced_or_deleted_after_open_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::write(&path, b"original").unwrap();
    let source = FileSource::open(&path).unwrap();
    let other = dir.path().join("other.img");
    std::fs::write(&other, b"original").unwrap();
    std::fs::rename(&other, &path).unwrap();
    let md5 = HashJob::new([Algorithm::Md5]).unwrap();
    let err = md5.hash_source(&source).unwrap_err();
    assert!(err.to_string().contains("replaced"), "{err}");
    let source = FileSource::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = md5.hash_source(&source).unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
}

#[test]
fn a_missing_file_names_its_path() {
    let err = HashJob::new([Algorithm::Md5])
        .unwrap()
        .hash_file("/nonexistent/disk.qcow2")
        .unwrap_err();
    assert!(matches!(err, Error::Open { .. }));
    assert!(err.to_string().contains("/nonexistent/disk.qcow2"), "{err}");
}

#[test]
fn cancelling_stops_a_job_early_with_a_distinct_error() {
    let dir = tempfile::tempdir().unwrap();
    // 64 GiB of holes: free on disk, but seconds to minutes of reading and hashing when
    // holes are not skipped.
    let path = sparse_file(dir.path(), "huge.img", 64 << 30, &[(0, 4096)]);
    for algorithm in [Algorithm::Md5, Algorithm::MerkleSha256] {
        let progress = Progress::new();
        let cancel = CancelToken::new();
        let job = HashJob::builder([algorithm])
            .detect_holes(false)
            .build()
            .unwrap()
            .progress(&progress)
            .cancel(&cancel);
        let result = std::thread::scope(|s| {
            let worker = s.spawn(|| job.hash_file(&path));
            while progress.done() == 0 {
                std::thread::yield_now();
            }
            cancel.cancel();
            worker.join().unwrap()
        });
        assert!(
            matches!(result, Err(Error::Cancelled)),
            "{algorithm}: {result:?}"
        );
        assert!(progress.done() < progress.total().unwrap());
    }
}

#[test]
fn progress_reaches_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let path = sparse_file(dir.path(), "p.img", 10 * MIB + 1, &[(MIB, 1000)]);
    // One reader (SHA-256), the parallel mode (Merkle), two readers sharing the blocks (XXH3).
    for algorithm in [Algorithm::Sha256, Algorithm::MerkleSha256, Algorithm::Xxh3] {
        let progress = Progress::new();
        HashJob::builder([algorithm])
            .threads(2)
            .build()
            .unwrap()
            .progress(&progress)
            .hash_file(&path)
            .unwrap();
        assert_eq!(progress.total(), Some(10 * MIB + 1));
        assert_eq!(progress.done(), 10 * MIB + 1);
    }
}

#[test]
fn chunk_sink_sees_every_chunk_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = sparse_file(dir.path(), "m.img", 10 * MIB + 5, &[(3 * MIB, 10)]);
    let mut seen = Vec::new();
    let mut sink = |alg: Algorithm, chunk: &ChunkDigest| -> Result<(), SinkError> {
        seen.push((alg, chunk.offset, chunk.len));
        Ok(())
    };
    HashJob::builder([Algorithm::MerkleSha256, Algorithm::S3Etag])
        .chunk_size(MIB)
        .build()
        .unwrap()
        .hash_file_with(&path, &mut sink)
        .unwrap();
    for alg in [Algorithm::MerkleSha256, Algorithm::S3Etag] {
        let chunks: Vec<_> = seen
            .iter()
            .filter(|c| c.0 == alg)
            .map(|c| (c.1, c.2))
            .collect();
        let expected: Vec<_> = (0..11)
            .map(|i| (i * MIB, if i == 10 { 5 } else { MIB }))
            .collect();
        assert_eq!(chunks, expected, "{alg}");
    }
}
