//! `imghash sum ceph://POOL/IMAGE` against `rbd export … | md5sum` on a real cluster
//! (cargo feature `ceph`; `CEPH_CONF` must name a running test cluster's ceph.conf, as
//! `scripts/test` sets up). The library's own tests (crates/ceph) cover every algorithm
//! and image layout; these check the command line around it.
#![cfg(feature = "ceph")]

use std::process::{Command, Output, Stdio};

const IMGHASH: &str = env!("CARGO_BIN_EXE_imghash");

fn ceph_conf() -> String {
    std::env::var("CEPH_CONF").expect("CEPH_CONF must name a running test cluster's ceph.conf")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(program)
        .args(args)
        .env("CEPH_CONF", ceph_conf())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sum_prints_the_md5sum_line_of_the_exported_image() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    let data: Vec<u8> = (0..3_000_017u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, data).unwrap();
    let image = format!("zs-images/cli-{}", std::process::id());
    let imported = run(
        "rbd",
        &["import", "--no-progress", file.to_str().unwrap(), &image],
    );
    assert!(imported.status.success(), "{}", text(&imported.stderr));

    let address = format!("ceph://{image}");
    let ours = run(IMGHASH, &["sum", "--ceph-conf", &ceph_conf(), &address]);
    let export = Command::new("sh")
        .args([
            "-c",
            &format!("timeout 120 rbd export --no-progress {image} - | md5sum"),
        ])
        .env("CEPH_CONF", ceph_conf())
        .output()
        .unwrap();
    let reference = text(&export.stdout);
    let hex = reference.split_whitespace().next().unwrap();
    assert_eq!(text(&ours.stdout), format!("{hex}  {address}\n"));

    // An image that is gone: one line naming it, exit status 1, nothing on stdout.
    run("rbd", &["rm", "--no-progress", &image]);
    let gone = run(IMGHASH, &["sum", &address]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(gone.stdout.is_empty());
    assert!(
        text(&gone.stderr).contains(&format!(
            "RBD image \"cli-{}\" does not exist",
            std::process::id()
        )),
        "{}",
        text(&gone.stderr)
    );
}

#[test]
fn malformed_address_and_missing_pool_are_named() {
    let bad = run(IMGHASH, &["sum", "ceph://zs-images"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("invalid RBD address \"ceph://zs-images\""));
    let pool = run(IMGHASH, &["sum", "ceph://no-such-pool/disk"]);
    assert_eq!(pool.status.code(), Some(1));
    assert!(text(&pool.stderr).contains("Ceph pool \"no-such-pool\" does not exist"));
}

/// Runs `tool args…` on local files; panics with its stderr if it fails.
fn local(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().expect(tool);
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// An RBD image imported from `file` under a name of its own; removed when dropped.
struct Imported(String);

impl Imported {
    fn new(file: &std::path::Path, tag: &str) -> Imported {
        let image = format!("zs-images/cli-{tag}-{}", std::process::id());
        let imported = run(
            "rbd",
            &["import", "--no-progress", file.to_str().unwrap(), &image],
        );
        assert!(imported.status.success(), "{}", text(&imported.stderr));
        Imported(image)
    }

    fn address(&self) -> String {
        format!("ceph://{}", self.0)
    }
}

impl Drop for Imported {
    fn drop(&mut self) {
        run("rbd", &["rm", "--no-progress", &self.0]);
    }
}

/// `sum --content` of a qcow2 stored in RBD (`rbd import` of the file) equals md5sum and
/// sha256sum of `qemu-img convert -O raw` of the file; `--image-format raw` hashes the
/// bytes, as `rbd export | md5sum` does; a qcow2 naming a backing file is refused.
#[test]
fn content_of_a_qcow2_in_rbd_equals_its_converted_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (qcow2, disk) = (path("disk.qcow2"), path("disk.raw"));
    local("qemu-img", &["create", "-q", "-f", "qcow2", &qcow2, "20M"]);
    for command in [
        "write -q -P 0x61 1536 3M",
        "write -q -z 8M 1M",
        "write -q -P 7 19M 4k",
    ] {
        local("qemu-io", &["-f", "qcow2", "-c", command, &qcow2]);
    }
    local(
        "qemu-img",
        &["convert", "-f", "qcow2", "-O", "raw", &qcow2, &disk],
    );
    let image = Imported::new(std::path::Path::new(&qcow2), "content");
    let address = image.address();

    let ours = run(IMGHASH, &["sum", "--content", "-a", "md5,sha256", &address]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let first = |line: String| line.split_whitespace().next().unwrap().to_string();
    let md5 = first(local("md5sum", &[&disk]));
    let sha256 = first(local("sha256sum", &[&disk]));
    assert_eq!(
        text(&ours.stdout),
        format!("MD5 ({address}) = {md5}\nSHA256 ({address}) = {sha256}\n")
    );
    let as_raw = run(
        IMGHASH,
        &["sum", "--content", "--image-format", "raw", &address],
    );
    let file_md5 = first(local("md5sum", &[&qcow2]));
    assert_eq!(text(&as_raw.stdout), format!("{file_md5}  {address}\n"));

    let top = path("top.qcow2");
    local(
        "qemu-img",
        &[
            "create", "-q", "-f", "qcow2", "-b", &qcow2, "-F", "qcow2", &top,
        ],
    );
    let layered = Imported::new(std::path::Path::new(&top), "layered");
    let refused = run(IMGHASH, &["sum", "--content", &layered.address()]);
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(message.contains("backing file"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}
