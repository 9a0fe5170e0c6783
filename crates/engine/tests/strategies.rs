//! Every read strategy, forced, gives the reference tools' digests: on a file of an odd
//! size, on a sparse file, and on a stream. Expected values come from md5sum, sha*sum,
//! xxhsum and b3sum run on the same bytes (install with `apt-get install xxhash` and
//! `cargo install b3sum`); the strategy the engine would pick by itself is covered by the
//! unit tests of its choice, which force the machine's measurements either way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use imghash_engine::tuning::{PatternSource, ReadStrategy};
use imghash_engine::{Algorithm, HashJob, Source, MIB};

/// Each standard digest and the command that prints its reference value.
const REFERENCES: [(Algorithm, &[&str]); 8] = [
    (Algorithm::Md5, &["md5sum"]),
    (Algorithm::Sha1, &["sha1sum"]),
    (Algorithm::Sha256, &["sha256sum"]),
    (Algorithm::Sha512, &["sha512sum"]),
    (Algorithm::Xxh64, &["xxhsum", "-H1"]),
    (Algorithm::Xxh3, &["xxhsum", "-H3"]),
    (Algorithm::Xxh128, &["xxhsum", "-H2"]),
    (Algorithm::Blake3, &["b3sum"]),
];

const FORCED: [ReadStrategy; 4] = [
    ReadStrategy::Inline,
    ReadStrategy::Handoff,
    ReadStrategy::SplitRead,
    ReadStrategy::Mapped,
];

/// The digest `command` prints for `path` (xxhsum prints XXH3 as `XXH3 (path) = hex`).
fn reference(command: &[&str], path: &Path) -> String {
    let out = Command::new(command[0])
        .args(&command[1..])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (apt-get install xxhash; cargo install b3sum)",
                command[0]
            )
        });
    assert!(out.status.success(), "{command:?} failed");
    let line = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        [_, _, "=", hex] => hex.to_string(),
        _ => words[0].to_string(),
    }
}

/// `len` bytes of the engine's in-memory pattern from `offset` (the expected values come
/// from the reference tools, so the bytes only need to be varied).
fn noise(len: usize, offset: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    let source = PatternSource::new(offset + len as u64);
    assert_eq!(source.read_at(&mut bytes, offset).unwrap(), len);
    bytes
}

/// An odd-sized file of noise, and a sparse one with data at and across block edges.
fn inputs(dir: &Path) -> [PathBuf; 2] {
    let odd = dir.join("odd.img");
    std::fs::write(&odd, noise(3 * MIB as usize + 12_345, 1)).unwrap();
    let sparse = dir.join("sparse.img");
    let file = File::create(&sparse).unwrap();
    file.set_len(5 * MIB + 777).unwrap();
    for (i, offset) in [100, MIB - 4096, 2 * MIB + 65_500, 5 * MIB]
        .into_iter()
        .enumerate()
    {
        file.write_all_at(&noise(70_000, i as u64 * 333), offset)
            .unwrap();
        file.write_all_at(&noise(9_000, i as u64 + 10), offset / 2)
            .unwrap();
    }
    [odd, sparse]
}

fn value(job: &HashJob, path: &Path, algorithm: Algorithm) -> String {
    let report = job.hash_file(path).unwrap();
    report.get(algorithm).unwrap().value()
}

#[test]
fn every_forced_strategy_gives_the_reference_digests_of_odd_and_sparse_files() {
    let dir = tempfile::tempdir().unwrap();
    for path in inputs(dir.path()) {
        for (algorithm, command) in REFERENCES {
            let expected = reference(command, &path);
            for strategy in FORCED {
                // An odd read size puts block edges everywhere in the data.
                for block_size in [64 * 1024, 100_003] {
                    let job = HashJob::builder([algorithm])
                        .threads(2)
                        .block_size(block_size)
                        .read_strategy(strategy)
                        .build()
                        .unwrap();
                    let got = value(&job, &path, algorithm);
                    assert_eq!(
                        got, expected,
                        "{algorithm} {strategy} {block_size} {path:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_forced_strategy_gives_the_reference_digests_of_several_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let algorithms = [Algorithm::Md5, Algorithm::Sha1, Algorithm::MerkleSha256];
    for path in inputs(dir.path()) {
        let md5 = reference(&["md5sum"], &path);
        let sha1 = reference(&["sha1sum"], &path);
        // Merkle values are pinned by the known-answer vectors; here: equal everywhere.
        let merkle = value(
            &HashJob::new(algorithms).unwrap(),
            &path,
            Algorithm::MerkleSha256,
        );
        for strategy in FORCED {
            let job = HashJob::builder(algorithms)
                .threads(2)
                .read_strategy(strategy)
                .build()
                .unwrap();
            let report = job.hash_file(&path).unwrap();
            let values: Vec<String> = report.digests.iter().map(|d| d.value()).collect();
            assert_eq!(
                values,
                [md5.clone(), sha1.clone(), merkle.clone()],
                "{strategy} {path:?}"
            );
        }
    }
}

#[test]
fn inline_and_handoff_give_the_reference_digests_of_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let [odd, _] = inputs(dir.path());
    for (algorithm, command) in REFERENCES {
        let expected = reference(command, &odd);
        for strategy in [
            ReadStrategy::Auto,
            ReadStrategy::Inline,
            ReadStrategy::Handoff,
        ] {
            let job = HashJob::builder([algorithm])
                .read_strategy(strategy)
                .build()
                .unwrap();
            let mut stream = File::open(&odd).unwrap();
            let report = job.hash_reader(&mut stream).unwrap();
            assert_eq!(
                report.digests[0].value(),
                expected,
                "{algorithm} {strategy}"
            );
        }
    }
}

#[test]
fn the_parallel_strategy_gives_b3sum_s_value_and_is_refused_where_it_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let [odd, sparse] = inputs(dir.path());
    // BLAKE3 is hashed in 4 MiB subtrees in parallel only on inputs larger than one.
    let job = HashJob::builder([Algorithm::Blake3])
        .read_strategy(ReadStrategy::Parallel)
        .build()
        .unwrap();
    let got = value(&job, &sparse, Algorithm::Blake3);
    assert_eq!(got, reference(&["b3sum"], &sparse));
    let refused = job.hash_file(&odd).unwrap_err().to_string();
    assert!(refused.contains("read strategy parallel"), "{refused}");
    // Refused as soon as the job is built: MD5 can never be hashed in parallel units.
    let md5 = HashJob::builder([Algorithm::Md5]).read_strategy(ReadStrategy::Parallel);
    let refused = md5.build().unwrap_err().to_string();
    assert!(refused.contains("read_strategy parallel"), "{refused}");
    let split = HashJob::builder([Algorithm::Md5])
        .read_strategy(ReadStrategy::SplitRead)
        .build()
        .unwrap();
    let refused = split.hash_reader(&mut &b"abc"[..]).unwrap_err().to_string();
    assert!(refused.contains("read strategy split-read"), "{refused}");
    let mapped = HashJob::builder([Algorithm::Md5])
        .read_strategy(ReadStrategy::Mapped)
        .build()
        .unwrap();
    let refused = mapped
        .hash_reader(&mut &b"abc"[..])
        .unwrap_err()
        .to_string();
    assert!(refused.contains("read strategy mapped"), "{refused}");
    let refused = mapped.hash_slice(b"abc").unwrap_err().to_string();
    assert!(refused.contains("needs a local file"), "{refused}");
}

#[test]
fn a_lone_digest_of_a_large_file_is_probed_and_gives_the_reference_digest() {
    let dir = tempfile::tempdir().unwrap();
    // Past the size from which the engine measures, with a hole after the probed windows.
    let path = dir.path().join("large.img");
    let file = File::create(&path).unwrap();
    file.set_len(80 * MIB + 4321).unwrap();
    file.write_all_at(&noise(40 * MIB as usize, 7), 0).unwrap();
    file.write_all_at(&noise(MIB as usize, 8), 79 * MIB)
        .unwrap();
    for (algorithm, command) in [REFERENCES[0], REFERENCES[5]] {
        let job = HashJob::builder([algorithm]).threads(2).build().unwrap();
        let report = job.hash_file(&path).unwrap();
        let expected = reference(command, &path);
        assert_eq!(report.digests[0].value(), expected, "{algorithm}");
        // The probe settles on one way or the other, whichever this machine hashes faster.
        let ways = [ReadStrategy::Mapped, ReadStrategy::Inline];
        assert!(ways.contains(&report.strategy), "{:?}", report.strategy);
    }
    // BLAKE3 in parallel units: the probe's pieces, read and mapped in turn, then the rest.
    let job = HashJob::builder([Algorithm::Blake3])
        .threads(2)
        .build()
        .unwrap();
    let report = job.hash_file(&path).unwrap();
    assert_eq!(report.strategy, ReadStrategy::Parallel);
    assert_eq!(report.digests[0].value(), reference(&["b3sum"], &path));
}

#[test]
fn the_choice_names_a_real_strategy_and_a_core_for_every_algorithm() {
    let job = HashJob::new([Algorithm::Md5, Algorithm::MerkleSha256]).unwrap();
    let choice = job.choice(Some(1 << 30)).unwrap();
    assert_ne!(choice.strategy, ReadStrategy::Auto);
    let named: Vec<Algorithm> = choice.cores.iter().map(|(a, _)| *a).collect();
    assert_eq!(named, [Algorithm::Md5, Algorithm::MerkleSha256]);
}
