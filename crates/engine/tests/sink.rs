//! The chunk sink: every chunk in order with the digest the reference tools give for that
//! chunk, a failing sink stopping the job with its own error, and the CLI's manifest shape.
//!
//! blkhash's chunk digest is SHA-256 of the chunk and the S3 ETag's is MD5 of the part, so
//! `sha256sum` and `md5sum` of each chunk cut out of the file give the expected values.

use std::os::unix::fs::FileExt;
use std::path::Path;

use imghash_engine::{Algorithm, ChunkDigest, Error, HashJob, Progress, SinkError, KIB, MIB};

mod common;
use common::tool_digest_of_bytes as reference_of_bytes;

/// A sparse file with non-zero bytes in a few places, so that chunks differ.
fn sparse_file(dir: &Path, len: u64, islands: &[u64]) -> std::path::PathBuf {
    let path = dir.join("sink.img");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(len).unwrap();
    for (i, &offset) in islands.iter().enumerate() {
        file.write_all_at(&[i as u8 + 1; 3000], offset).unwrap();
    }
    path
}

#[test]
fn the_sink_sees_every_chunk_in_order_with_the_reference_digest() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = 256 * KIB;
    let len = 9 * chunk + 5;
    let path = sparse_file(
        dir.path(),
        len,
        &[100, chunk - 10, 4 * chunk + 7, 8 * chunk + 9],
    );
    let content = std::fs::read(&path).unwrap();
    let algorithms = [Algorithm::BlkhashSha256, Algorithm::S3Etag];
    // Parallel (chunked only) and handoff (with MD5 streamed alongside) runs.
    for extra in [None, Some(Algorithm::Md5)] {
        let job = HashJob::builder(algorithms.into_iter().chain(extra))
            .chunk_size(chunk)
            .threads(3)
            .build()
            .unwrap();
        let mut seen: Vec<(Algorithm, ChunkDigest)> = Vec::new();
        let mut sink = |alg: Algorithm, chunk: &ChunkDigest| -> Result<(), SinkError> {
            seen.push((alg, chunk.clone()));
            Ok(())
        };
        job.hash_file_with(&path, &mut sink).unwrap();
        for (alg, tool) in [(algorithms[0], "sha256sum"), (algorithms[1], "md5sum")] {
            let chunks: Vec<_> = seen.iter().filter(|c| c.0 == alg).map(|c| &c.1).collect();
            assert_eq!(chunks.len(), 10, "{alg}");
            for (i, c) in chunks.iter().enumerate() {
                let start = i as u64 * chunk;
                let end = (start + chunk).min(len);
                assert_eq!((c.offset, c.len), (start, end - start), "{alg} chunk {i}");
                let bytes = &content[start as usize..end as usize];
                let digest = imghash_engine::hex(&c.digest);
                assert_eq!(digest, reference_of_bytes(tool, bytes), "{alg} chunk {i}");
            }
        }
    }
}

#[test]
fn a_failing_sink_stops_the_job_with_its_error_and_chunk() {
    let dir = tempfile::tempdir().unwrap();
    // 4096 chunks of real data: far more than the sink's queue and the chunks in flight.
    let chunk = 16 * KIB;
    let len = 64 * MIB;
    let path = dir.path().join("data.img");
    let data: Vec<u8> = (0..len as usize).map(|i| (i % 241) as u8 | 1).collect();
    std::fs::write(&path, data).unwrap();
    for algorithms in [
        vec![Algorithm::MerkleSha256],
        vec![Algorithm::MerkleSha256, Algorithm::Sha1],
    ] {
        let progress = Progress::new();
        let job = HashJob::builder(algorithms.clone())
            .chunk_size(chunk)
            .threads(2)
            .build()
            .unwrap()
            .progress(&progress);
        let mut accepted = 0;
        let mut sink = |_: Algorithm, _: &ChunkDigest| -> Result<(), SinkError> {
            if accepted == 3 {
                return Err(std::io::Error::other("disk full").into());
            }
            accepted += 1;
            Ok(())
        };
        let err = job.hash_file_with(&path, &mut sink).unwrap_err();
        match &err {
            Error::Sink {
                algorithm,
                offset,
                error,
            } => {
                assert_eq!(*algorithm, Algorithm::MerkleSha256);
                assert_eq!(*offset, 3 * chunk);
                assert_eq!(error.to_string(), "disk full");
            }
            other => panic!("{algorithms:?}: {other}"),
        }
        assert!(err.to_string().contains("disk full"), "{err}");
        // Stopped, not read to the end.
        assert!(
            progress.done() < len,
            "{algorithms:?}: read {}",
            progress.done()
        );
        // The job is not spoiled for the next run.
        let mut count = 0;
        let mut counting = |_: Algorithm, _: &ChunkDigest| -> Result<(), SinkError> {
            count += 1;
            Ok(())
        };
        job.hash_slice_with(&[1; 40_000], &mut counting).unwrap();
        assert_eq!(count, 3);
    }
}

#[test]
fn a_sink_error_on_the_last_chunk_still_fails_the_run() {
    let job = HashJob::builder([Algorithm::S3Etag])
        .chunk_size(KIB)
        .build()
        .unwrap();
    let mut sink = |_: Algorithm, chunk: &ChunkDigest| -> Result<(), String> {
        if chunk.offset == 2 * KIB {
            return Err("refused the last part".to_string());
        }
        Ok(())
    };
    let err = job.hash_slice_with(&[3; 2500], &mut sink).unwrap_err();
    assert!(
        matches!(err, Error::Sink { offset, .. } if offset == 2 * KIB),
        "{err}"
    );
}
