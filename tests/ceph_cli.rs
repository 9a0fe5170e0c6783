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
