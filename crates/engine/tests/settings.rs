//! Job settings: every bad value is refused by `build()` with an error naming the setting,
//! before anything is read; nothing is clamped. And the small conveniences a library user
//! reaches for first (`hash_slice`, the re-exported rayon).

use std::sync::Arc;

use imghash_engine::{Algorithm, Error, HashJob, Setting, KIB, MIB};

mod common;
use common::tool_digest_of_bytes as reference_of_bytes;

fn refused(result: Result<HashJob, Error>) -> (Setting, String, String) {
    match result {
        Err(Error::InvalidSetting {
            setting,
            value,
            reason,
        }) => (setting, value, reason),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn a_chunk_size_glacier_cannot_use_is_refused_at_build_naming_the_setting() {
    let builder = HashJob::builder([Algorithm::GlacierSha256]).chunk_size(4 * MIB);
    let (setting, value, reason) = refused(builder.build());
    assert_eq!((setting, value.as_str()), (Setting::ChunkSize, "4MiB"));
    assert!(reason.contains("glacier-sha256"), "{reason}");
    let message = builder.build().err().unwrap().to_string();
    assert!(
        message.contains("chunk_size") && message.contains("4MiB"),
        "{message}"
    );
    // Its own size is fine.
    assert!(HashJob::builder([Algorithm::GlacierSha256])
        .chunk_size(MIB)
        .build()
        .is_ok());
}

#[test]
fn zero_threads_and_zero_block_size_are_refused_not_clamped() {
    let (setting, value, _) = refused(HashJob::builder([Algorithm::Md5]).threads(0).build());
    assert_eq!((setting, value.as_str()), (Setting::Threads, "0"));
    let (setting, value, _) = refused(HashJob::builder([Algorithm::Md5]).block_size(0).build());
    assert_eq!((setting, value.as_str()), (Setting::BlockSize, "0"));
    let too_large = (2 * imghash_engine::GIB) as usize;
    let (setting, _, _) = refused(
        HashJob::builder([Algorithm::Md5])
            .block_size(too_large)
            .build(),
    );
    assert_eq!(setting, Setting::BlockSize);
}

#[test]
fn chunk_sizes_out_of_range_or_without_a_chunked_algorithm_are_refused() {
    for (algorithms, size, needle) in [
        (vec![Algorithm::MerkleSha256], 0, "from 1 byte"),
        (
            vec![Algorithm::S3Etag],
            2 * imghash_engine::GIB,
            "from 1 byte",
        ),
        (
            vec![Algorithm::Md5, Algorithm::Sha1],
            MIB,
            "none of md5, sha1 is chunked",
        ),
    ] {
        let (setting, _, reason) = refused(HashJob::builder(algorithms).chunk_size(size).build());
        assert_eq!(setting, Setting::ChunkSize);
        assert!(reason.contains(needle), "{reason}");
    }
}

#[test]
fn a_job_without_algorithms_is_refused() {
    let (setting, _, _) = refused(HashJob::new([]));
    assert_eq!(setting, Setting::Algorithms);
}

#[test]
fn the_last_of_threads_and_pool_wins() {
    let pool = imghash_engine::rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // A pool given after threads(0) replaces it: nothing left to refuse.
    let job = HashJob::builder([Algorithm::Blake3])
        .threads(0)
        .pool(Arc::new(pool))
        .build()
        .unwrap();
    let data = vec![9u8; 300_000];
    assert_eq!(
        job.hash_slice(&data).unwrap().digests[0].value(),
        reference_of_bytes("b3sum", &data)
    );
}

#[test]
fn hash_slice_equals_the_reference_tools() {
    let data: Vec<u8> = (0..(5 * MIB as usize + 3))
        .map(|i| (i % 253) as u8)
        .collect();
    let job = HashJob::builder([Algorithm::Md5, Algorithm::Sha256, Algorithm::Blake3])
        .threads(2)
        .build()
        .unwrap();
    let report = job.hash_slice(&data).unwrap();
    assert_eq!(report.bytes, data.len() as u64);
    assert_eq!(
        report.digests[0].value(),
        reference_of_bytes("md5sum", &data)
    );
    assert_eq!(
        report.digests[1].value(),
        reference_of_bytes("sha256sum", &data)
    );
    assert_eq!(
        report.digests[2].value(),
        reference_of_bytes("b3sum", &data)
    );
    // A lone chunked construction takes the parallel path on a slice, same result as a stream.
    let merkle = HashJob::builder([Algorithm::MerkleSha256])
        .chunk_size(64 * KIB)
        .build()
        .unwrap();
    assert_eq!(
        merkle.hash_slice(&data).unwrap().digests,
        merkle.hash_reader(&mut &data[..]).unwrap().digests
    );
}
