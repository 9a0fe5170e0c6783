//! `imghash sum` and `imghash check` against the reference tools, on files made here.
//!
//! Every expected line comes from running md5sum, sha1sum, sha256sum, sha512sum, b3sum or
//! xxhsum on the same file. Those tools must be installed (`.ci/run` installs xxhash and
//! b3sum); a missing one fails the test with the command that installs it.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const IMGHASH: &str = env!("CARGO_BIN_EXE_imghash");

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn imghash(args: &[&str], dir: &Path) -> Output {
    run(Command::new(IMGHASH).args(args).current_dir(dir))
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The reference tool's output on `file` (run in `dir` so names print the same).
fn reference(tool: &[&str], file: &str, dir: &Path) -> String {
    let out = Command::new(tool[0])
        .args(&tool[1..])
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} is needed by this test ({e}); install it: apt-get install xxhash / cargo install b3sum",
                tool[0]
            )
        });
    assert!(out.status.success(), "{tool:?} failed");
    stdout(&out)
}

/// Pseudo-random bytes, different per seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// Sizes around the 64 KiB read size and the 4 MiB chunk/subtree size.
const SIZES: [usize; 9] = [
    0,
    1,
    1023,
    65_535,
    65_536,
    65_537,
    4 << 20,
    (4 << 20) + 1,
    9_000_001,
];

#[test]
fn sum_lines_are_byte_identical_to_coreutils_and_b3sum() {
    let dir = tempfile::tempdir().unwrap();
    for (i, size) in SIZES.into_iter().enumerate() {
        let name = format!("file-{size}.img");
        write(dir.path(), &name, &noise(size, i as u64 + 1));
        for (alg, tool) in [
            ("md5", "md5sum"),
            ("sha1", "sha1sum"),
            ("sha256", "sha256sum"),
            ("sha512", "sha512sum"),
            ("blake3", "b3sum"),
        ] {
            let ours = imghash(&["sum", "-a", alg, &name], dir.path());
            assert!(ours.status.success());
            assert_eq!(
                stdout(&ours),
                reference(&[tool], &name, dir.path()),
                "{alg} of {size} bytes"
            );
        }
    }
}

#[test]
fn sum_xxh_values_equal_xxhsum() {
    let dir = tempfile::tempdir().unwrap();
    for (i, size) in SIZES.into_iter().enumerate() {
        let name = format!("x{size}");
        write(dir.path(), &name, &noise(size, i as u64 + 100));
        for (alg, flag) in [("xxh64", "-H1"), ("xxh128", "-H2"), ("xxh3", "-H3")] {
            let ours = stdout(&imghash(&["sum", "-a", alg, &name], dir.path()));
            let theirs = reference(&["xxhsum", flag], &name, dir.path());
            // xxhsum 0.8 prints XXH3 in the tagged form; compare the hex digest.
            let their_hex = theirs.split_whitespace().last().unwrap().to_string();
            let their_hex = if flag == "-H3" {
                their_hex
            } else {
                theirs.split_whitespace().next().unwrap().to_string()
            };
            assert_eq!(
                ours,
                format!("{their_hex}  {name}\n"),
                "{alg} of {size} bytes"
            );
        }
    }
}

#[test]
fn sparse_files_match_reference_tools() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.raw");
    let file = File::create(&path).unwrap();
    file.set_len(40 << 20).unwrap();
    file.write_all_at(&noise(100_000, 9), (4 << 20) - 50_000)
        .unwrap();
    file.write_all_at(b"end", (40 << 20) - 3).unwrap();
    for (alg, tool) in [
        ("md5", "md5sum"),
        ("sha256", "sha256sum"),
        ("blake3", "b3sum"),
    ] {
        let ours = stdout(&imghash(&["sum", "-a", alg, "sparse.raw"], dir.path()));
        assert_eq!(ours, reference(&[tool], "sparse.raw", dir.path()), "{alg}");
    }
    // XXH64 reads with two threads taking alternate blocks, holes included.
    let ours = stdout(&imghash(&["sum", "-a", "xxh64", "sparse.raw"], dir.path()));
    let theirs = reference(&["xxhsum", "-H1"], "sparse.raw", dir.path());
    assert_eq!(ours, theirs);
}

#[test]
fn qcow2_images_are_hashed_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "disk.qcow2", "1G"])
        .current_dir(dir.path())
        .status()
        .expect("qemu-img is needed by this test (apt-get install qemu-utils)");
    assert!(status.success());
    let ours = stdout(&imghash(&["sum", "disk.qcow2"], dir.path()));
    assert_eq!(ours, reference(&["md5sum"], "disk.qcow2", dir.path()));
}

#[test]
fn stdin_is_read_for_dash_and_for_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = noise(300_000, 5);
    let path = write(dir.path(), "in.bin", &data);
    let expected = reference(&["sha256sum"], "in.bin", dir.path()).replace("in.bin", "-");
    for args in [
        vec!["sum", "-a", "sha256", "-"],
        vec!["sum", "-a", "sha256"],
    ] {
        let out = run(Command::new(IMGHASH)
            .args(&args)
            .stdin(File::open(&path).unwrap()));
        assert_eq!(stdout(&out), expected);
    }
}

#[test]
fn tagged_output_matches_bsd_style_tools() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.img", &noise(70_000, 3));
    let ours = stdout(&imghash(
        &["sum", "--tag", "-a", "sha256", "a.img"],
        dir.path(),
    ));
    assert_eq!(
        ours,
        reference(&["sha256sum", "--tag"], "a.img", dir.path())
    );
    let ours = stdout(&imghash(
        &["sum", "-a", "md5", "-a", "xxh64", "a.img"],
        dir.path(),
    ));
    let expected = reference(&["md5sum", "--tag"], "a.img", dir.path())
        + &reference(&["xxhsum", "--tag", "-H1"], "a.img", dir.path());
    assert_eq!(ours, expected);
}

#[test]
fn names_with_newlines_are_escaped_like_coreutils() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "new\nline", b"x");
    let ours = stdout(&imghash(&["sum", "new\nline"], dir.path()));
    assert_eq!(ours, reference(&["md5sum"], "new\nline", dir.path()));
}

#[test]
fn unknown_algorithm_and_bad_chunk_size_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a", b"a");
    for (args, needle) in [
        (vec!["sum", "-a", "md4", "a"], "unknown algorithm \"md4\""),
        (
            vec!["sum", "-a", "merkle-sha256", "--chunk-size", "4096", "a"],
            "invalid chunk size \"4096\"",
        ),
        (
            vec!["sum", "-a", "merkle-sha256", "--chunk-size", "0MiB", "a"],
            "invalid chunk size \"0MiB\"",
        ),
        (
            vec!["sum", "-a", "merkle-sha256", "--chunk-size", "2GiB", "a"],
            "invalid chunk size \"2GiB\"",
        ),
        (
            vec!["sum", "-a", "glacier-sha256", "--chunk-size", "4MiB", "a"],
            "glacier-sha256",
        ),
        (
            vec!["sum", "-a", "md5", "--chunk-size", "4MiB", "a"],
            "none of md5 is chunked",
        ),
    ] {
        let out = imghash(&args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_missing_file_is_reported_and_the_others_still_hashed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.img", b"fine");
    let out = imghash(&["sum", "missing.img", "ok.img"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), reference(&["md5sum"], "ok.img", dir.path()));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("missing.img") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t.img", &noise((9 << 20) + 77, 11));
    let all = [
        "md5",
        "sha256",
        "blake3",
        "merkle-sha256",
        "blkhash-sha256",
        "glacier-sha256",
        "s3-etag",
    ];
    let mut outputs = Vec::new();
    for threads in ["1", "2", "4"] {
        let mut args = vec!["sum", "--threads", threads];
        for alg in all {
            args.extend(["-a", alg]);
        }
        args.push("t.img");
        outputs.push(stdout(&imghash(&args, dir.path())));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    assert!(outputs[0].contains(&format!(
        "MD5 (t.img) = {}",
        reference(&["md5sum"], "t.img", dir.path())
            .split(' ')
            .next()
            .unwrap()
    )));
}

#[test]
fn check_accepts_lists_written_by_the_reference_tools() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        write(
            dir.path(),
            &format!("f{i}.img"),
            &noise(100_000 * i + 1, i as u64 + 20),
        );
    }
    let files = ["f0.img", "f1.img", "f2.img"];
    for tool in [
        vec!["md5sum"],
        vec!["sha1sum"],
        vec!["sha256sum"],
        vec!["sha512sum"],
        vec!["b3sum"],
        vec!["sha256sum", "--tag"],
        vec!["md5sum", "--tag"],
        vec!["xxhsum", "-H1"],
        vec!["xxhsum", "-H2"],
        vec!["xxhsum", "-H3"],
        vec!["xxhsum", "--tag", "-H1"],
    ] {
        let list: String = files
            .iter()
            .map(|f| reference(&tool, f, dir.path()))
            .collect();
        write(dir.path(), "SUMS", list.as_bytes());
        let out = imghash(&["check", "SUMS"], dir.path());
        assert_eq!(
            stdout(&out),
            "f0.img: OK\nf1.img: OK\nf2.img: OK\n",
            "{tool:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{tool:?}");
    }
}

#[test]
fn check_reads_its_own_tagged_chunked_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.img", &noise(3 << 20, 4));
    let list = stdout(&imghash(
        &[
            "sum",
            "-a",
            "merkle-sha256",
            "-a",
            "s3-etag",
            "-a",
            "blkhash-sha256",
            "--chunk-size",
            "1MiB",
            "d.img",
        ],
        dir.path(),
    ));
    assert!(list.contains("MERKLE-SHA256/1MiB (d.img) = "), "{list}");
    write(dir.path(), "SUMS", list.as_bytes());
    let out = imghash(&["check", "SUMS"], dir.path());
    assert_eq!(stdout(&out), "d.img: OK\n".repeat(3));
    assert!(out.status.success());
}

#[test]
fn check_reports_mismatches_and_unreadable_files_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.img", b"good");
    write(dir.path(), "bad.img", b"bad");
    let mut list = reference(&["md5sum"], "good.img", dir.path());
    list += &reference(&["md5sum"], "bad.img", dir.path());
    list += "d41d8cd98f00b204e9800998ecf8427e  gone.img\n";
    list += "this line is not a checksum\n";
    write(dir.path(), "SUMS", list.as_bytes());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("bad.img"))
        .unwrap();
    f.write_all(b"!").unwrap();
    let out = imghash(&["check", "SUMS"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "good.img: OK\nbad.img: FAILED\ngone.img: FAILED open or read\n"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("1 line is improperly formatted"), "{err}");
    assert!(err.contains("1 listed file could not be read"), "{err}");
    assert!(err.contains("1 computed checksum did NOT match"), "{err}");
}

#[test]
fn check_of_stdin_list() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.img", b"stdin list");
    let list = reference(&["sha1sum"], "s.img", dir.path());
    let mut child = Command::new(IMGHASH)
        .args(["check", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "s.img: OK\n");
}

#[test]
fn a_manifest_diff_locates_a_flipped_byte_in_a_sparse_gib_to_its_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let file = File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap();
    file.write_all_at(&noise(3 << 20, 8), 100 << 20).unwrap();
    let out = imghash(
        &[
            "sum",
            "-a",
            "merkle-sha256",
            "--manifest",
            "before.jsonl",
            "disk.raw",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read_to_string(dir.path().join("before.jsonl")).unwrap();
    assert_eq!(
        manifest.lines().count(),
        1 + 256 + 1,
        "header, 256 chunks of 4 MiB, end"
    );
    assert!(manifest.starts_with(
        "{\"imghash_manifest\":1,\"algorithm\":\"merkle-sha256\",\"chunk_size\":4194304}"
    ));
    // The manifest's final value is the one printed.
    let printed = stdout(&out);
    let value = printed.split_whitespace().next().unwrap();
    assert!(manifest.lines().last().unwrap().contains(value));

    let flipped_at: u64 = 700 * 1024 * 1024 + 12_345;
    file.write_all_at(&[0xff], flipped_at).unwrap();
    let chunk_start = flipped_at / (4 << 20) * (4 << 20);
    let expected = format!(
        "{chunk_start}..{} (4194304 bytes)\n",
        chunk_start + (4 << 20)
    );

    let against_file = imghash(&["diff", "before.jsonl", "disk.raw"], dir.path());
    assert_eq!(against_file.status.code(), Some(1));
    assert_eq!(stdout(&against_file), expected);

    assert!(imghash(
        &[
            "sum",
            "-a",
            "merkle-sha256",
            "--manifest",
            "after.jsonl",
            "disk.raw"
        ],
        dir.path()
    )
    .status
    .success());
    let two_manifests = imghash(&["diff", "before.jsonl", "after.jsonl"], dir.path());
    assert_eq!(stdout(&two_manifests), expected);

    let same = imghash(&["diff", "after.jsonl", "disk.raw"], dir.path());
    assert_eq!(same.status.code(), Some(0));
    assert!(same.stdout.is_empty());
}

#[test]
fn diff_of_two_files_reports_a_length_difference() {
    let dir = tempfile::tempdir().unwrap();
    let data = noise(3 << 20, 2);
    write(dir.path(), "a.img", &data);
    write(dir.path(), "b.img", &data[..(2 << 20) + 10]);
    let out = imghash(
        &["diff", "--chunk-size", "1MiB", "a.img", "b.img"],
        dir.path(),
    );
    assert_eq!(
        stdout(&out),
        format!("{}..{} ({} bytes)\n", 2 << 20, 3 << 20, 1 << 20)
    );
}
