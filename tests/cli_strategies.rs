//! `imghash sum --read-strategy`: every way of reading gives the reference tools' lines, on
//! a file of an odd size, a sparse file and standard input; a way an input cannot take is
//! refused in one line. Expected lines come from md5sum, sha256sum and xxhsum.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use imghash_engine::tuning::PatternSource;
use imghash_engine::Source as _;

const IMGHASH: &str = env!("CARGO_BIN_EXE_imghash");

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (apt-get install xxhash)"))
}

/// `len` varied bytes (the engine's in-memory pattern from `offset`): the expected values
/// come from the reference tools, so the bytes only need to differ.
fn noise(len: usize, offset: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    let source = PatternSource::new(offset + len as u64);
    assert_eq!(source.read_at(&mut bytes, offset).unwrap(), len);
    bytes
}

/// An odd-sized file, and a sparse one whose data straddles mapping windows (4 MiB).
fn inputs(dir: &Path) {
    std::fs::write(dir.join("odd.img"), noise(9 * 1024 * 1024 + 4099, 3)).unwrap();
    let sparse = File::create(dir.join("sparse.img")).unwrap();
    sparse.set_len(13 * 1024 * 1024 + 1).unwrap();
    for (i, offset) in [0, 4 * 1024 * 1024 - 5000, 11 * 1024 * 1024 + 77]
        .iter()
        .enumerate()
    {
        sparse
            .write_all_at(&noise(70_000, i as u64), *offset)
            .unwrap();
    }
}

/// The hex value of a line as md5sum (`hex  name`) or xxhsum (`XXH3 (name) = hex`) prints it.
fn value(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout.clone()).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        [_, _, "=", hex] => hex.to_string(),
        _ => words[0].to_string(),
    }
}

const TOOLS: [(&str, &[&str]); 3] = [
    ("md5", &["md5sum"]),
    ("sha256", &["sha256sum"]),
    ("xxh3", &["xxhsum", "-H3"]),
];

#[test]
fn every_read_strategy_prints_the_reference_lines_for_files() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    for (algorithm, tool) in TOOLS {
        for name in ["odd.img", "sparse.img"] {
            let expected = run(Command::new(tool[0])
                .args(&tool[1..])
                .arg(name)
                .current_dir(&dir));
            for strategy in ["auto", "inline", "handoff", "split-read", "mapped"] {
                let ours = run(Command::new(IMGHASH)
                    .args(["sum", "-a", algorithm, "--read-strategy", strategy, name])
                    .current_dir(&dir));
                assert_eq!(
                    value(&ours),
                    value(&expected),
                    "{algorithm} {strategy} {name}"
                );
            }
        }
    }
}

#[test]
fn streaming_strategies_print_the_reference_line_for_stdin_and_the_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let odd = dir.path().join("odd.img");
    let expected = run(Command::new("md5sum").stdin(File::open(&odd).unwrap()));
    for strategy in ["auto", "inline", "handoff"] {
        let ours = run(Command::new(IMGHASH)
            .args(["sum", "--read-strategy", strategy])
            .stdin(File::open(&odd).unwrap()));
        assert_eq!(ours.stdout, expected.stdout, "{strategy}");
    }
    for (strategy, why) in [("split-read", "stream"), ("mapped", "local file")] {
        let ours = run(Command::new(IMGHASH)
            .args(["sum", "--read-strategy", strategy])
            .stdin(File::open(&odd).unwrap())
            .stderr(Stdio::piped()));
        assert_eq!(ours.status.code(), Some(1), "{strategy}");
        let err = String::from_utf8(ours.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn an_unknown_read_strategy_exits_2_naming_the_choices() {
    let out = run(Command::new(IMGHASH).args(["sum", "--read-strategy", "fast", "x"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("\"fast\"") && err.contains("split-read"),
        "{err}"
    );
}
