//! Known-answer vectors from independent tools (hashlib, xxhsum, b3sum, and reference code
//! reproducing published blkhash and S3 vectors), checked through the library with several
//! thread counts and read-block sizes: the results must not depend on either.

use std::path::PathBuf;

use imghash_engine::{Algorithm, HashJob};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors.json");
    let text = std::fs::read_to_string(&path).expect("vectors.json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    doc["cases"].as_array().expect("cases").clone()
}

/// Builds a vector's input from its pattern description.
fn input(spec: &Value) -> Vec<u8> {
    let len = spec["len"].as_u64().expect("len") as usize;
    let pattern = spec["pattern"].as_str().expect("pattern");
    match pattern {
        "mod251" => (0..len).map(|i| (i % 251) as u8).collect(),
        "zero" => vec![0; len],
        "abc5mib" => (0..len).map(|i| b'A' + (i / (5 << 20)) as u8).collect(),
        other => {
            let byte = other.strip_prefix("repeat:").expect("known pattern");
            vec![byte.as_bytes()[0]; len]
        }
    }
}

fn check_case(case: &Value, threads: usize, block_size: Option<usize>) -> usize {
    let data = input(&case["input"]);
    let expect = case["expect"].as_object().expect("expect");
    let algorithms: Vec<Algorithm> = expect
        .keys()
        .map(|name| name.parse().expect(name))
        .collect();
    let mut job = HashJob::builder(algorithms.iter().copied()).threads(threads);
    if let Some(size) = case["chunk_size"].as_u64() {
        job = job.chunk_size(size);
    }
    if let Some(size) = block_size {
        job = job.block_size(size);
    }
    // Glacier's chunk size is fixed: the cases with another chunk size do not list it.
    let report = job
        .build()
        .expect("settings")
        .hash_reader(&mut data.as_slice())
        .expect("hash");
    for digest in &report.digests {
        assert_eq!(
            digest.value(),
            expect[digest.algorithm.name()].as_str().unwrap(),
            "{} of {} (chunk {:?}) with {threads} threads, block {block_size:?}",
            digest.algorithm,
            case["input"],
            case["chunk_size"],
        );
    }
    assert_eq!(report.bytes, data.len() as u64);
    report.digests.len()
}

#[test]
fn every_vector_matches_with_default_settings() {
    let checked: usize = vectors().iter().map(|c| check_case(c, 2, None)).sum();
    assert!(checked > 400, "only {checked} digests checked");
}

#[test]
fn vectors_do_not_depend_on_thread_count() {
    for case in vectors() {
        check_case(&case, 1, None);
        check_case(&case, 3, None);
    }
}

#[test]
fn vectors_do_not_depend_on_read_block_size() {
    // Block sizes smaller than, not dividing, and equal to the chunk sizes.
    for block in [1000, 4096, 65_535, 1 << 20] {
        for case in vectors() {
            check_case(&case, 2, Some(block));
        }
    }
}
