//! `imghash sum` and `check` on inputs md5sum handles and imghash got wrong (issue #11):
//! pseudo-files, fifos, file names that are not UTF-8 or need escaping, and chunk sizes
//! below the floor. Every expected byte comes from running md5sum on the same inputs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};

const IMGHASH: &str = env!("CARGO_BIN_EXE_imghash");

/// Runs `program args` in `dir`, panicking if it cannot start.
fn run(program: &str, args: &[&OsStr], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

#[test]
fn a_proc_file_hashes_like_md5sum() {
    let dir = Path::new("/");
    let name = OsStr::new("/proc/version");
    let ours = run(IMGHASH, &[OsStr::new("sum"), name], dir);
    let theirs = run("md5sum", &[name], dir);
    assert!(ours.status.success(), "{ours:?}");
    assert_eq!(ours.stdout, theirs.stdout);
}

/// File names as bytes: not UTF-8, with a backslash, a newline, a carriage return, and all
/// three at once.
const NAMES: [&[u8]; 5] = [
    b"a\xffb.img",
    b"back\\slash",
    b"new\nline",
    b"cr\rx",
    b"b\\s\nn\rr\xfe",
];

/// Writes a small file under each of [`NAMES`] in `dir`; returns md5sum's arguments for
/// them, untagged and tagged.
fn files_with_every_name(dir: &Path) -> [Vec<&'static OsStr>; 2] {
    let names: Vec<&OsStr> = NAMES.iter().map(|n| OsStr::from_bytes(n)).collect();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(dir.join(name), vec![i as u8 + 1; 1000 * i + 1]).unwrap();
    }
    let tagged = [OsStr::new("--tag")]
        .into_iter()
        .chain(names.clone())
        .collect();
    [names, tagged]
}

#[test]
fn names_that_are_not_utf8_or_need_escaping_print_as_md5sum_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    for args in files_with_every_name(dir.path()) {
        let theirs = run("md5sum", &args, dir.path());
        let ours_args: Vec<&OsStr> = [OsStr::new("sum")]
            .into_iter()
            .chain(args.clone())
            .collect();
        let ours = run(IMGHASH, &ours_args, dir.path());
        assert!(ours.status.success(), "{ours:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
        assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    }
}

#[test]
fn check_reads_lists_naming_files_that_are_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    for args in files_with_every_name(dir.path()) {
        let list = run("md5sum", &args, dir.path()).stdout;
        std::fs::write(dir.path().join("SUMS"), &list).unwrap();
        let sums = OsStr::new("SUMS");
        let theirs = run("md5sum", &[OsStr::new("-c"), sums], dir.path());
        let ours = run(IMGHASH, &[OsStr::new("check"), sums], dir.path());
        assert!(theirs.status.success());
        assert!(ours.status.success(), "{ours:?}");
        assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    }
}

#[test]
fn a_fifo_with_a_writer_is_read_like_md5sum_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("data"), &data).unwrap();
    let fifo = OsStr::new("fifo");
    assert!(run("mkfifo", &[fifo], dir.path()).status.success());
    // Each reader gets its own writer, as `producer > fifo & md5sum fifo` would.
    let with_writer = |program: &str, args: &[&OsStr]| {
        let writer = Command::new("sh")
            .args(["-c", "cat data > fifo"])
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        let out = run(program, args, dir.path());
        wait_for(writer);
        out
    };
    let theirs = with_writer("md5sum", &[fifo]);
    let ours = with_writer(IMGHASH, &[OsStr::new("sum"), fifo]);
    assert!(ours.status.success(), "{ours:?}");
    assert_eq!(ours.stdout, theirs.stdout);
}

fn wait_for(mut child: std::process::Child) {
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_chunk_size_below_the_floor_is_a_usage_error_naming_it_and_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"abc").unwrap();
    for size in ["1B", "512B", "65535B", "64KB"] {
        let args = ["sum", "-a", "merkle-sha256", "--chunk-size", size, "a"].map(OsStr::new);
        let out = run(IMGHASH, &args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{size}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("\"{size}\"")) && err.contains("at least 64KiB"),
            "{size}: {err}"
        );
        assert!(out.stdout.is_empty(), "{size}");
    }
}
