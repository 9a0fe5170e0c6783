//! `imghash sum|check|diff --content` on images made here with qemu-img (issue #14).
//!
//! Expected values come from `qemu-img convert -O raw` followed by md5sum/sha256sum, and
//! from `imghash sum` of that raw file for the other algorithms.

use std::path::Path;
use std::process::{Command, Output};

const IMGHASH: &str = env!("CARGO_BIN_EXE_imghash");

fn run(dir: &Path, tool: &str, args: &[&str]) -> Output {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    out
}

/// Runs a tool that must succeed; returns its stdout.
fn ok(dir: &Path, tool: &str, args: &[&str]) -> String {
    let out = run(dir, tool, args);
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The values of `imghash sum` lines (the last word of tagged lines, the first otherwise).
fn values(output: &str) -> Vec<String> {
    output
        .lines()
        .map(|line| match line.rsplit_once(" = ") {
            Some((_, value)) => value.to_string(),
            None => line.split_whitespace().next().unwrap().to_string(),
        })
        .collect()
}

/// disk.raw (random data and zeros), and disk.qcow2, disk.vmdk and a compressed
/// overlay chain holding the same disk.
fn images(dir: &Path) {
    let raw = dir.join("disk.raw");
    let file = std::fs::File::create(&raw).unwrap();
    file.set_len(3 * 1024 * 1024 + 512).unwrap();
    let noise: Vec<u8> = (0u32..200_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::os::unix::fs::FileExt::write_all_at(&file, &noise, 70_000).unwrap();
    // The overlay adds to its compressed base what is then written to the raw disk.
    let script = "
        qemu-img convert -c -O qcow2 disk.raw base.qcow2
        qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
        qemu-io -f qcow2 -c 'write -P 0x61 1000000 5000' top.qcow2
        qemu-io -f raw -c 'write -P 0x61 1000000 5000' disk.raw
        qemu-img convert -O qcow2 disk.raw disk.qcow2
        qemu-img convert -O vmdk disk.raw disk.vmdk";
    ok(dir, "bash", &["-ec", script]);
}

#[test]
fn sum_content_equals_md5sum_and_sha256sum_of_the_converted_disk() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    images(dir);
    ok(
        dir,
        "qemu-img",
        &["convert", "-O", "raw", "top.qcow2", "converted.raw"],
    );
    for (alg, tool) in [("md5", "md5sum"), ("sha256", "sha256sum")] {
        let expected = ok(dir, tool, &["converted.raw"]).replace("converted.raw", "top.qcow2");
        assert_eq!(
            ok(dir, IMGHASH, &["sum", "--content", "-a", alg, "top.qcow2"]),
            expected
        );
    }
}

#[test]
fn every_algorithm_gives_the_raw_disk_value_for_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    images(dir);
    let all = "md5,sha1,sha256,sha512,xxh64,xxh3,xxh128,blake3,merkle-sha256,merkle-sha512,\
               merkle-xxh128,blkhash-sha256,glacier-sha256,s3-etag,s3-sha256-composite";
    let expected = values(&ok(dir, IMGHASH, &["sum", "-a", all, "disk.raw"]));
    assert_eq!(expected.len(), 15);
    for image in ["disk.qcow2", "disk.vmdk", "top.qcow2", "disk.raw"] {
        let got = values(&ok(dir, IMGHASH, &["sum", "--content", "-a", all, image]));
        assert_eq!(got, expected, "{image}");
    }
    // Without --content the qcow2's file bytes are hashed, as before.
    let file = values(&ok(dir, IMGHASH, &["sum", "disk.qcow2"]));
    assert_eq!(file, values(&ok(dir, "md5sum", &["disk.qcow2"])));
}

#[test]
fn check_content_verifies_images_against_the_raw_disk_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    images(dir);
    let sum = ok(dir, "sha256sum", &["disk.raw"]);
    let list = ["disk.qcow2", "disk.vmdk", "top.qcow2"]
        .map(|image| sum.replace("disk.raw", image))
        .concat();
    std::fs::write(dir.join("SHA256SUMS"), list).unwrap();
    let out = ok(dir, IMGHASH, &["check", "--content", "SHA256SUMS"]);
    assert_eq!(out, "disk.qcow2: OK\ndisk.vmdk: OK\ntop.qcow2: OK\n");
    // The files themselves differ from the disk.
    assert!(!run(dir, IMGHASH, &["check", "SHA256SUMS"]).status.success());
}

#[test]
fn diff_content_locates_the_difference_between_a_qcow2_and_a_raw_disk() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    images(dir);
    let same = run(
        dir,
        IMGHASH,
        &["diff", "--content", "top.qcow2", "disk.raw"],
    );
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert_eq!(same.stdout, b"");
    ok(
        dir,
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x7f 2100000 1", "top.qcow2"],
    );
    let args = [
        "diff",
        "--content",
        "--chunk-size",
        "64KiB",
        "top.qcow2",
        "disk.raw",
    ];
    let differs = run(dir, IMGHASH, &args);
    assert_eq!(differs.status.code(), Some(1));
    // 2100000 lies in the 64 KiB chunk starting at 2097152.
    assert_eq!(
        String::from_utf8(differs.stdout).unwrap(),
        "2097152..2162688 (65536 bytes)\n"
    );
}

#[test]
fn bad_images_fail_with_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ok(
        dir,
        "qemu-img",
        &["create", "-f", "qcow2", "gone.qcow2", "1M"],
    );
    ok(
        dir,
        "qemu-img",
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "gone.qcow2",
            "-F",
            "qcow2",
            "orphan.qcow2",
        ],
    );
    std::fs::remove_file(dir.join("gone.qcow2")).unwrap();
    ok(
        dir,
        "qemu-img",
        &["create", "-f", "qcow2", "good.qcow2", "1M"],
    );
    let out = run(
        dir,
        IMGHASH,
        &["sum", "--content", "orphan.qcow2", "good.qcow2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("imghash: orphan.qcow2: ") && stderr.contains("backing file"),
        "{stderr}"
    );
    // The other image is still hashed: 1 MiB of zeros (value from Python's hashlib).
    let zeros = "b6d81b360a5672d80c27430f39153e2c  good.qcow2\n";
    assert_eq!(String::from_utf8(out.stdout).unwrap(), zeros);
}

#[test]
fn unknown_image_format_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        IMGHASH,
        &["sum", "--content", "--image-format", "vhdx", "x"],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        dir.path(),
        IMGHASH,
        &["sum", "--image-format", "qcow2", "x"],
    );
    assert_eq!(out.status.code(), Some(2), "--image-format needs --content");
}
