//! Guest-content mode on images made here with `qemu-img` and `qemu-io` (issue #14).
//!
//! The expected value of an image is always computed outside our reader: `qemu-img
//! convert -O raw` writes the disk out, and `md5sum`/`sha256sum` of that file (and the
//! engine's file mode, which the known-answer vectors pin for every algorithm) give the
//! digests the content mode must reproduce.

mod bad;
#[path = "../common/mod.rs"]
mod common;
mod formats;
mod fuzz;

use std::path::PathBuf;
use std::process::Command;

use imghash_engine::{Algorithm, ContentSource, HashJob, Source};

pub(crate) use common::tool_digest_of_file as reference;

/// A temporary directory where images are made; commands run inside it, so relative
/// backing file names work as QEMU resolves them.
pub(crate) struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    pub(crate) fn new() -> Work {
        Work {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `tool args…` in the directory; panics with its stderr if it fails.
    pub(crate) fn run(&self, tool: &str, args: &[&str]) {
        let out = Command::new(tool)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `qemu-img` with the arguments of `line` (split on whitespace).
    pub(crate) fn qemu_img(&self, line: &str) {
        self.run("qemu-img", &line.split_whitespace().collect::<Vec<_>>());
    }

    /// Runs qemu-io commands (e.g. `write -P 0x5a 0 64k`) on `image` of `format`.
    pub(crate) fn qemu_io(&self, image: &str, format: &str, commands: &[&str]) {
        let mut args = vec!["-f", format];
        for command in commands {
            args.extend(["-c", command]);
        }
        args.push(image);
        self.run("qemu-io", &args);
    }

    /// A raw file of `len` bytes holding pseudo-random data at each (offset, len), zeros
    /// (a hole) elsewhere.
    pub(crate) fn noise_file(&self, name: &str, len: u64, islands: &[(u64, usize)]) -> PathBuf {
        use std::os::unix::fs::FileExt;
        let path = self.path(name);
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(len).unwrap();
        for (i, &(offset, size)) in islands.iter().enumerate() {
            file.write_all_at(&noise(size, i as u64 + 1), offset)
                .unwrap();
        }
        path
    }

    /// The disk `image` holds, written out by `qemu-img convert -O raw`.
    pub(crate) fn convert_to_raw(&self, image: &str) -> PathBuf {
        let raw = format!("{image}.converted.raw");
        self.qemu_img(&format!("convert -O raw {image} {raw}"));
        self.path(&raw)
    }
}

/// Deterministic pseudo-random bytes (incompressible), different for each seed.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn values(report: imghash_engine::Report) -> Vec<String> {
    report.digests.iter().map(|d| d.value()).collect()
}

/// Asserts that the guest content of `image` is the disk `qemu-img convert -O raw` writes
/// out: md5sum and sha256sum of that file, and every algorithm of the engine on it, with
/// every reading strategy (all digests at once, chunked ones in parallel, one fast digest).
pub(crate) fn assert_same_disk(work: &Work, image: &str) {
    let raw = work.convert_to_raw(image);
    let content = ContentSource::open(work.path(image), None).unwrap();
    assert_eq!(
        content.len(),
        std::fs::metadata(&raw).unwrap().len(),
        "{image}: size"
    );
    let standard = HashJob::new([Algorithm::Md5, Algorithm::Sha256])
        .unwrap()
        .hash_source(&content)
        .unwrap();
    assert_eq!(
        standard.digests[0].value(),
        reference("md5sum", &raw),
        "{image}: md5"
    );
    assert_eq!(
        standard.digests[1].value(),
        reference("sha256sum", &raw),
        "{image}: sha256"
    );
    let chunked: Vec<Algorithm> = Algorithm::ALL
        .into_iter()
        .filter(|a| a.is_chunked())
        .collect();
    let small_chunks = chunked
        .iter()
        .copied()
        .filter(|&a| a != Algorithm::GlacierSha256);
    let jobs = [
        HashJob::builder(Algorithm::ALL).threads(2),
        HashJob::builder(chunked.clone()).threads(2),
        HashJob::builder(small_chunks)
            .threads(2)
            .chunk_size(64 * 1024),
        HashJob::builder([Algorithm::Xxh3]).threads(2),
    ];
    for job in jobs {
        let job = job.build().unwrap();
        assert_eq!(
            values(job.hash_source(&content).unwrap()),
            values(job.hash_file(&raw).unwrap()),
            "{image}"
        );
    }
}
