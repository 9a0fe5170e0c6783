//! Files whose size is not their length (issue #11, failure 6): kernel pseudo-files, whose
//! stat size says 0 (procfs) or 4096 (sysfs), character devices and fifos are read to
//! their end as streams, as `md5sum` reads them, and never hashed as empty. Expected
//! values come from `md5sum` and `sha256sum` on the same paths.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use imghash_engine::{Algorithm, FileSource, HashJob};

mod common;
use common::tool_digest_of_file as reference;

fn md5_and_sha256(path: &Path) -> Vec<String> {
    HashJob::new([Algorithm::Md5, Algorithm::Sha256])
        .unwrap()
        .hash_file(path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .digests
        .iter()
        .map(|d| d.value())
        .collect()
}

/// Pseudo-files whose content does not change between two reads.
const PSEUDO_FILES: [&str; 3] = [
    "/proc/version",
    "/proc/sys/kernel/ostype",
    "/sys/kernel/mm/transparent_hugepage/enabled",
];

#[test]
fn pseudo_files_hash_like_md5sum_not_like_empty_files() {
    let empty = "d41d8cd98f00b204e9800998ecf8427e";
    let mut checked = 0;
    for name in PSEUDO_FILES {
        let path = Path::new(name);
        if !path.exists() {
            continue; // sysfs is not mounted in every container
        }
        let expected = vec![reference("md5sum", path), reference("sha256sum", path)];
        assert_ne!(expected[0], empty, "{name} should not be empty");
        assert_eq!(md5_and_sha256(path), expected, "{name}");
        checked += 1;
    }
    assert!(checked >= 2, "procfs is needed by this test");
}

#[test]
fn character_devices_are_streams() {
    let null = Path::new("/dev/null");
    let expected = vec![reference("md5sum", null), reference("sha256sum", null)];
    assert_eq!(md5_and_sha256(null), expected);
}

#[test]
fn a_fifo_is_read_until_its_writer_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    // The same bytes in a regular file give md5sum's answer.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, &data).unwrap();
    let expected = vec![reference("md5sum", &plain), reference("sha256sum", &plain)];
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            // Opening for writing waits for the reader, as with `producer > fifo`.
            let mut pipe = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            for piece in data.chunks(70_000) {
                pipe.write_all(piece).unwrap();
            }
        })
    };
    assert_eq!(md5_and_sha256(&fifo), expected);
    writer.join().unwrap();
}

#[test]
fn a_file_source_refuses_inputs_without_a_fixed_length() {
    for name in ["/proc/version", "/dev/zero"] {
        let err = FileSource::open(name).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("no fixed length"),
            "{err}"
        );
    }
}
