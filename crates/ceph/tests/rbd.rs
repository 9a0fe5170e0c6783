//! RBD images on a real Ceph cluster, hashed in place and compared with `rbd export` of
//! the same image run through the reference tools (md5sum, sha*sum, b3sum, xxhsum) and,
//! for the chunked constructions, through the engine's own file source.
//!
//! Needs a running cluster: `CEPH_CONF` must point at its ceph.conf (the client.admin
//! keyring and a pool `zs-images`), as `scripts/test` sets up with `start-ceph.sh`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imghash_ceph::{CephError, Cluster, ClusterConfig, ErrorKind, RbdSource, RbdSpec};
use imghash_engine::{Algorithm, HashJob, MIB};

const POOL: &str = "zs-images";

fn ceph_conf() -> String {
    std::env::var("CEPH_CONF").expect(
        "CEPH_CONF must name the ceph.conf of a running test cluster \
         (scripts/test starts one with start-ceph.sh)",
    )
}

fn cluster() -> Arc<Cluster> {
    let config = ClusterConfig {
        conf_path: Some(ceph_conf().into()),
        ..ClusterConfig::default()
    };
    Cluster::connect(&config).expect("test cluster reachable")
}

/// Runs a Ceph command-line tool, bounded in time (they block forever when an OSD is down).
fn ceph_tool(args: &[&str]) -> Vec<u8> {
    let out = Command::new("timeout")
        .arg("120")
        .args(args)
        .env("CEPH_CONF", ceph_conf())
        .stdin(Stdio::null())
        .output()
        .expect("timeout and the ceph tools are installed");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An RBD image that is removed (with its snapshots) when the test ends.
struct TestImage {
    name: String,
}

impl TestImage {
    /// Imports `file` as a new image, with extra `rbd import` options.
    fn import(label: &str, file: &Path, options: &[&str]) -> TestImage {
        let name = format!("{label}-{}-{}", std::process::id(), random_u32());
        let target = format!("{POOL}/{name}");
        let mut args = vec!["rbd", "import", "--no-progress"];
        args.extend_from_slice(options);
        args.extend([file.to_str().unwrap(), target.as_str()]);
        ceph_tool(&args);
        TestImage { name }
    }

    fn path(&self) -> String {
        format!("{POOL}/{}", self.name)
    }

    fn spec(&self, snapshot: Option<&str>) -> RbdSpec {
        RbdSpec {
            pool: POOL.into(),
            image: self.name.clone(),
            snapshot: snapshot.map(str::to_string),
        }
    }

    /// `rbd export` of the image (or snapshot) into `dir`.
    fn export(&self, snapshot: Option<&str>, dir: &Path) -> std::path::PathBuf {
        let mut source = self.path();
        if let Some(snap) = snapshot {
            source = format!("{source}@{snap}");
        }
        let out = dir.join(format!("{}.export", snapshot.unwrap_or("head")));
        ceph_tool(&[
            "rbd",
            "export",
            "--no-progress",
            &source,
            out.to_str().unwrap(),
        ]);
        out
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let path = self.path();
        let _ = Command::new("timeout")
            .args(["60", "rbd", "snap", "purge", "--no-progress", &path])
            .env("CEPH_CONF", ceph_conf())
            .output();
        let _ = Command::new("timeout")
            .args(["60", "rbd", "rm", "--no-progress", &path])
            .env("CEPH_CONF", ceph_conf())
            .output();
    }
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    u32::from_le_bytes(bytes)
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    data
}

/// A sparse file of `len` bytes with random data at each `(offset, length)`.
fn sparse_file(path: &Path, len: u64, pieces: &[(u64, usize)]) {
    let mut file = File::create(path).unwrap();
    file.set_len(len).unwrap();
    for &(offset, length) in pieces {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&random_bytes(length)).unwrap();
    }
}

/// The digest printed by a reference tool for `path`.
fn tool_digest(tool: &[&str], path: &Path) -> String {
    let out = Command::new(tool[0])
        .args(&tool[1..])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{tool:?}: {e}"));
    assert!(out.status.success(), "{tool:?} failed");
    let text = String::from_utf8(out.stdout).unwrap();
    // GNU style `HEX  NAME`, or BSD style `XXH3 (NAME) = HEX` (xxhsum -H3).
    match text.trim_end().rsplit_once(" = ") {
        Some((_, hex)) => hex.to_string(),
        None => text.split_whitespace().next().unwrap().to_string(),
    }
}

/// The standard algorithms and the tools that define them.
const REFERENCE_TOOLS: &[(Algorithm, &[&str])] = &[
    (Algorithm::Md5, &["md5sum"]),
    (Algorithm::Sha1, &["sha1sum"]),
    (Algorithm::Sha256, &["sha256sum"]),
    (Algorithm::Sha512, &["sha512sum"]),
    (Algorithm::Blake3, &["b3sum"]),
    (Algorithm::Xxh64, &["xxhsum", "-H1"]),
    (Algorithm::Xxh3, &["xxhsum", "-H3"]),
    (Algorithm::Xxh128, &["xxhsum", "-H2"]),
];

/// Every algorithm hashed from the image must equal the digest of its `rbd export`:
/// the reference tools' for the standard ones, the file source's for the chunked ones.
fn assert_matches_export(image: &TestImage, snapshot: Option<&str>, job: &HashJob) {
    let dir = tempfile::tempdir().unwrap();
    let exported = image.export(snapshot, dir.path());
    let source = RbdSource::open(&cluster(), &image.spec(snapshot)).unwrap();
    let from_rbd = job.hash_source(&source).unwrap();
    let from_file = job.hash_file(&exported).unwrap();
    assert_eq!(from_rbd.bytes, std::fs::metadata(&exported).unwrap().len());
    for digest in &from_rbd.digests {
        let expected = match REFERENCE_TOOLS.iter().find(|(a, _)| *a == digest.algorithm) {
            Some((_, tool)) => tool_digest(tool, &exported),
            None => from_file.get(digest.algorithm).unwrap().value(),
        };
        assert_eq!(
            digest.value(),
            expected,
            "{} of {}{}",
            digest.algorithm,
            image.name,
            snapshot.map(|s| format!("@{s}")).unwrap_or_default()
        );
    }
}

fn every_algorithm() -> HashJob {
    HashJob::new(Algorithm::ALL.iter().copied()).unwrap()
}

#[test]
fn random_image_of_a_size_that_is_not_a_whole_number_of_objects() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("random.img");
    std::fs::write(&file, random_bytes(10_000_000)).unwrap();
    let image = TestImage::import("random", &file, &[]);
    assert_matches_export(&image, None, &every_algorithm());
}

#[test]
fn sparse_image_with_data_inside_and_across_objects() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sparse.img");
    // 4 MiB objects: data at the start, straddling the boundary of objects 9 and 10,
    // inside object 30, and in the last, partial object; everything else absent.
    let len = 150 * MIB + 12345;
    let pieces = [
        (0, 100_000),
        (40 * MIB - 7000, 20_000),
        (122 * MIB + 333, 1_000_000),
        (len - 5000, 5000),
    ];
    sparse_file(&file, len, &pieces);
    let image = TestImage::import("sparse", &file, &[]);
    assert_matches_export(&image, None, &every_algorithm());
}

#[test]
fn qcow2_file_imported_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&file)
        .arg("1G")
        .status()
        .expect("qemu-img is installed");
    assert!(status.success());
    // Some guest data, so the qcow2 has L2 tables and clusters, not just a header.
    let status = Command::new("qemu-io")
        .args(["-c", "write -P 0x5a 0 3M", "-c", "write -P 0xa5 700M 1M"])
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("qemu-io is installed");
    assert!(status.success());
    let image = TestImage::import("qcow2", &file, &[]);
    assert_matches_export(&image, None, &every_algorithm());
}

#[test]
fn non_default_object_size_and_odd_length() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.img");
    sparse_file(&file, 7_777_777, &[(0, 3_000_000), (5_500_000, 2_277_777)]);
    let image = TestImage::import("objsize", &file, &["--object-size", "1M"]);
    let source = RbdSource::open(&cluster(), &image.spec(None)).unwrap();
    assert_eq!(source.layout().object_size, MIB);
    drop(source);
    assert_matches_export(&image, None, &every_algorithm());
}

#[test]
fn snapshot_keeps_its_own_bytes_after_the_image_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("base.img");
    std::fs::write(&file, random_bytes(9 * MIB as usize)).unwrap();
    let image = TestImage::import("snap", &file, &[]);
    ceph_tool(&["rbd", "snap", "create", &format!("{}@before", image.path())]);
    // Writes through librbd (copy-on-write against the snapshot) and a resize.
    ceph_tool(&[
        "rbd",
        "bench",
        "--io-type",
        "write",
        "--io-size",
        "64K",
        "--io-total",
        "2M",
        "--io-pattern",
        "rand",
        &image.path(),
    ]);
    ceph_tool(&[
        "rbd",
        "resize",
        "--no-progress",
        "--size",
        "12M",
        &image.path(),
    ]);
    let job = HashJob::new([Algorithm::Md5, Algorithm::MerkleSha256]).unwrap();
    assert_matches_export(&image, Some("before"), &job);
    assert_matches_export(&image, None, &job);
    let source = RbdSource::open(&cluster(), &image.spec(Some("before"))).unwrap();
    assert_eq!(source.layout().len, 9 * MIB);
}

#[test]
fn results_do_not_depend_on_threads_chunk_size_or_hole_detection() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.img");
    let len = 100 * MIB + 1;
    sparse_file(
        &file,
        len,
        &[(3 * MIB, 2 * MIB as usize), (70 * MIB - 1, 2)],
    );
    let image = TestImage::import("modes", &file, &[]);
    // Chunks of 64 MiB make each parallel unit 16 objects, further apart than the
    // read-ahead window, so readers fetch objects themselves as well.
    for chunk in [MIB, 4 * MIB, 64 * MIB] {
        for threads in [1, 3] {
            for holes in [true, false] {
                let job = HashJob::builder([Algorithm::MerkleSha256, Algorithm::BlkhashSha256])
                    .chunk_size(chunk)
                    .threads(threads)
                    .detect_holes(holes)
                    .build()
                    .unwrap();
                assert_matches_export(&image, None, &job);
            }
        }
    }
    let streaming = HashJob::builder([Algorithm::Md5])
        .detect_holes(false)
        .build()
        .unwrap();
    assert_matches_export(&image, None, &streaming);
}

#[test]
fn image_in_a_separate_data_pool() {
    ceph_tool(&["ceph", "osd", "pool", "create", "zs-test-data", "8", "8"]);
    ceph_tool(&["rbd", "pool", "init", "zs-test-data"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dp.img");
    std::fs::write(&file, random_bytes(5 * MIB as usize + 17)).unwrap();
    let image = TestImage::import("datapool", &file, &["--data-pool", "zs-test-data"]);
    let source = RbdSource::open(&cluster(), &image.spec(None)).unwrap();
    assert!(source.layout().data_pool_id.is_some());
    drop(source);
    assert_matches_export(&image, None, &HashJob::new([Algorithm::Sha256]).unwrap());
}

fn open_error(spec: &RbdSpec) -> CephError {
    RbdSource::open(&cluster(), spec).expect_err("opening should fail")
}

#[test]
fn missing_image_pool_and_snapshot_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.img");
    std::fs::write(&file, b"small").unwrap();
    let image = TestImage::import("missing", &file, &[]);

    let err = open_error(&"ceph://zs-images/no-such-image".parse().unwrap());
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("\"no-such-image\""), "{err}");

    let err = open_error(&"ceph://no-such-pool/x".parse().unwrap());
    assert_eq!(err.kind(), ErrorKind::StorageUnusable);
    assert!(err.to_string().contains("\"no-such-pool\""), "{err}");

    let err = open_error(&image.spec(Some("nope")));
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("\"nope\""), "{err}");

    // Deleted after it was found: the next open says it is gone.
    let spec = image.spec(None);
    ceph_tool(&["rbd", "rm", "--no-progress", &image.path()]);
    assert_eq!(open_error(&spec).kind(), ErrorKind::NotFound);
}

#[test]
fn layouts_that_are_not_plain_objects_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layout.img");
    std::fs::write(&file, random_bytes(6 * MIB as usize)).unwrap();

    let striped = TestImage::import(
        "striped",
        &file,
        &["--stripe-unit", "1M", "--stripe-count", "4"],
    );
    let err = open_error(&striped.spec(None));
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("stripe count 4"), "{err}");

    let parent = TestImage::import("parent", &file, &[]);
    let snap = format!("{}@base", parent.path());
    ceph_tool(&["rbd", "snap", "create", &snap]);
    ceph_tool(&["rbd", "snap", "protect", &snap]);
    let clone = TestImage {
        name: format!("{}-clone", parent.name),
    };
    ceph_tool(&["rbd", "clone", &snap, &clone.path()]);
    let err = open_error(&clone.spec(None));
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("clone"), "{err}");
    drop(clone);
    ceph_tool(&["rbd", "snap", "unprotect", &snap]);
}

#[test]
fn an_image_resized_while_hashed_is_an_error_not_a_digest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grow.img");
    std::fs::write(&file, random_bytes(MIB as usize)).unwrap();
    let image = TestImage::import("resize", &file, &[]);
    let source = RbdSource::open(&cluster(), &image.spec(None)).unwrap();
    ceph_tool(&[
        "rbd",
        "resize",
        "--no-progress",
        "--size",
        "2M",
        &image.path(),
    ]);
    let err = HashJob::new([Algorithm::Md5])
        .unwrap()
        .hash_source(&source)
        .expect_err("a resized image has no digest");
    assert!(
        matches!(err, imghash_engine::Error::Changed { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("resized from 1048576 to 2097152"),
        "{err}"
    );
}

#[test]
fn an_unreachable_cluster_fails_within_the_timeout() {
    // The same cluster's config and key, but monitors at an address where none listens.
    let dir = tempfile::tempdir().unwrap();
    let conf = std::fs::read_to_string(ceph_conf()).unwrap();
    let dead: String = conf
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("mon host") {
                "mon host = 127.0.0.1:9".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dead_conf = dir.path().join("ceph.conf");
    std::fs::write(&dead_conf, dead).unwrap();
    let config = ClusterConfig {
        conf_path: Some(dead_conf),
        timeout: Duration::from_secs(2),
        ..ClusterConfig::default()
    };
    let started = Instant::now();
    let err = Cluster::connect(&config).expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::StorageUnusable);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let missing = ClusterConfig {
        conf_path: Some(dir.path().join("missing.conf")),
        ..ClusterConfig::default()
    };
    let err = Cluster::connect(&missing).expect_err("no such config");
    assert!(err.to_string().contains("missing.conf"), "{err}");
}
