//! `imghash speed`: the shape of its report (never its numbers, which depend on the
//! machine and its load).

use std::path::Path;
use std::process::{Command, Output};

const IMGHASH: &str = env!("CARGO_BIN_EXE_imghash");

fn speed(args: &[&str], dir: &Path) -> Output {
    Command::new(IMGHASH)
        .arg("speed")
        .args(args)
        .env("TMPDIR", dir)
        .output()
        .expect("run imghash speed")
}

#[test]
fn json_names_the_cpu_and_for_each_algorithm_both_rates_a_strategy_and_a_core() {
    let dir = tempfile::tempdir().unwrap();
    let out = speed(
        &[
            "--size",
            "1MiB",
            "-a",
            "md5,xxh3",
            "-a",
            "merkle-sha256",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!report["cpu"].as_str().unwrap().is_empty());
    assert!(report["cores"].as_u64().unwrap() >= 1);
    assert_eq!(report["file"]["bytes"], 1 << 20);
    assert_eq!(report["file"]["temporary"], true);
    let rows = report["algorithms"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["md5", "xxh3", "merkle-sha256"]);
    for row in rows {
        assert!(row["memory_mb_per_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["file_mb_per_s"].as_f64().unwrap() > 0.0, "{row}");
        let strategy = row["strategy"].as_str().unwrap();
        assert!(
            ["inline", "handoff", "split-read", "parallel", "mapped"].contains(&strategy),
            "{row}"
        );
        assert!(
            ["openssl", "rust"].contains(&row["core"].as_str().unwrap()),
            "{row}"
        );
    }
    // The temporary file is gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_table_has_a_line_per_algorithm_and_measures_a_given_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let out = speed(
        &[
            "--size",
            "64KiB",
            "-a",
            "sha1",
            "--file",
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("cpu: "), "{text}");
    assert!(text.contains("(300000 bytes, given)"), "{text}");
    let header = text.lines().find(|l| l.starts_with("algorithm")).unwrap();
    assert!(
        header.contains("memory MB/s") && header.contains("strategy"),
        "{text}"
    );
    let sha1: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("sha1 "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(sha1.len(), 5, "{text}");
}

#[test]
fn a_bad_size_or_missing_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = speed(&["--size", "12"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size 12"));
    let out = speed(
        &[
            "--size",
            "64KiB",
            "-a",
            "md5",
            "--file",
            "/nonexistent/x.img",
        ],
        dir.path(),
    );
    // A file that cannot be read is a failure (1), not bad usage (2).
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.img"));
}
