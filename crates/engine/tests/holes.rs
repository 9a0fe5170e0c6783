//! Holes hashed in bulk: runs of zero chunks are aggregated without per-chunk work
//! (precomputed zero subtrees for the trees, large slices for blkhash and S3), and a
//! stretch of hole units is claimed as one in the parallel mode. The values must stay those
//! of the constructions' definitions, which `tests/data/chunked_reference.py` computes
//! with Python's hashlib alone, on a chunk count that is not a power of two, with holes
//! that span many units and data at unaligned offsets.

use std::path::{Path, PathBuf};
use std::process::Command;

use imghash_engine::tuning::ReadStrategy;
use imghash_engine::{
    Algorithm, ChunkDigest, ContentSource, HashJob, Report, SinkError, Source, KIB, MIB,
};

const SELECTABLE: [Algorithm; 5] = [
    Algorithm::MerkleSha256,
    Algorithm::MerkleSha512,
    Algorithm::BlkhashSha256,
    Algorithm::S3Etag,
    Algorithm::S3Sha256Composite,
];

/// 300 MiB + 12345 bytes: 4801 chunks of 64 KiB, 76 of 4 MiB, 301 of 1 MiB.
const LEN: u64 = 300 * MIB + 12345;

/// Deterministic non-zero bytes, different for each seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8 | 1
        })
        .collect()
}

/// A sparse file: data at the start, inside chunks, across unit edges and at the end;
/// holes of tens of MiB (many 4 MiB units) between.
fn sparse_image(dir: &Path) -> PathBuf {
    use std::os::unix::fs::FileExt;
    let islands = [
        (0, 100_000),
        (37 * MIB + 5, MIB as usize),
        (199 * MIB - 3, 3 * MIB as usize + 17),
        (LEN - 20_000, 20_000),
    ];
    let path = dir.join("sparse.raw");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(LEN).unwrap();
    for (i, &(offset, size)) in islands.iter().enumerate() {
        file.write_all_at(&noise(size, i as u64), offset).unwrap();
    }
    path
}

/// The reference values of `algorithms` in `chunk`-byte chunks, by name.
fn reference(path: &Path, chunk: u64, algorithms: &[Algorithm]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chunked_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(path)
        .arg(chunk.to_string())
        .args(algorithms.iter().map(|a| a.name()))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let values: Vec<String> = text
        .lines()
        .map(|line| line.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(values.len(), algorithms.len());
    values
}

fn values(report: Report) -> Vec<String> {
    report.digests.iter().map(|d| d.value()).collect()
}

fn job(algorithms: &[Algorithm], chunk: Option<u64>, strategy: ReadStrategy) -> HashJob {
    let mut builder = HashJob::builder(algorithms.iter().copied())
        .threads(3)
        .read_strategy(strategy);
    if let Some(chunk) = chunk {
        builder = builder.chunk_size(chunk);
    }
    builder.build().unwrap()
}

#[test]
fn holes_hash_to_the_reference_values_whatever_the_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let path = sparse_image(dir.path());
    let small = reference(&path, 64 * KIB, &SELECTABLE);
    let fixed = [Algorithm::GlacierSha256, Algorithm::MerkleSha256];
    let default_sizes = reference(&path, 4 * MIB, &fixed);
    let strategies = [
        ReadStrategy::Auto,
        ReadStrategy::Parallel,
        ReadStrategy::Inline,
        ReadStrategy::Handoff,
        ReadStrategy::SplitRead,
    ];
    for strategy in strategies {
        let report = job(&SELECTABLE, Some(64 * KIB), strategy).hash_file(&path);
        assert_eq!(values(report.unwrap()), small, "{strategy:?}");
        let report = job(&fixed, None, strategy).hash_file(&path);
        assert_eq!(values(report.unwrap()), default_sizes, "{strategy:?}");
    }
}

/// QEMU rounds a disk up to whole sectors: the reference is taken of the disk that
/// `qemu-img convert -O raw` writes back out of the qcow2.
#[test]
fn a_qcow2_of_the_same_disk_hashes_to_the_same_reference_values() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sparse_image(dir.path());
    let qcow2 = dir.path().join("sparse.qcow2");
    let disk = dir.path().join("disk.raw");
    qemu_img_convert(&raw, "raw", &qcow2, "qcow2");
    qemu_img_convert(&qcow2, "qcow2", &disk, "raw");
    let expected = reference(&disk, 64 * KIB, &SELECTABLE);
    let source = ContentSource::open(&qcow2, None).unwrap();
    let report = job(&SELECTABLE, Some(64 * KIB), ReadStrategy::Auto).hash_source(&source);
    assert_eq!(values(report.unwrap()), expected);
}

fn qemu_img_convert(from: &Path, from_format: &str, to: &Path, to_format: &str) {
    let status = Command::new("qemu-img")
        .args(["convert", "-f", from_format, "-O", to_format])
        .args([from, to])
        .status()
        .expect("qemu-img");
    assert!(status.success());
}

/// A sink still receives every chunk of a hole, in order, each with the digest of its
/// zeros (SHA-256 of 64 KiB of zeros for blkhash, as `sha256sum` gives it).
#[test]
fn a_sink_receives_each_chunk_of_a_hole_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("holes.raw");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(LEN).unwrap();
    let zeros = dir.path().join("zeros");
    std::fs::write(&zeros, vec![0; 64 * KIB as usize]).unwrap();
    let zero_digest = first_word(Command::new("sha256sum").arg(&zeros));
    let mut seen = Vec::new();
    let mut sink = |_: Algorithm, chunk: &ChunkDigest| -> Result<(), SinkError> {
        seen.push((chunk.offset, chunk.len, imghash_hex(&chunk.digest)));
        Ok(())
    };
    let job = job(&[Algorithm::BlkhashSha256], None, ReadStrategy::Parallel);
    let source = imghash_engine::FileSource::open(&path).unwrap();
    assert_eq!(source.len(), LEN);
    job.hash_source_with(&source, &mut sink).unwrap();
    assert_eq!(seen.len() as u64, LEN.div_ceil(64 * KIB));
    for (i, (offset, len, digest)) in seen.iter().enumerate() {
        assert_eq!(*offset, i as u64 * 64 * KIB);
        if *len == 64 * KIB {
            assert_eq!(digest, &zero_digest, "chunk {i}");
        }
    }
}

fn first_word(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

fn imghash_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
