//! Helpers shared by the integration tests: expected values from the reference tools.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The digest `tool` (`md5sum`, `sha256sum`, `b3sum`…) prints for the file at `path`.
#[allow(dead_code)] // Not every test file uses both helpers.
pub fn tool_digest_of_file(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().expect(tool);
    assert!(out.status.success(), "{tool} failed");
    first_word(&out.stdout)
}

/// The digest `tool` prints for `data` given on its standard input.
#[allow(dead_code)]
pub fn tool_digest_of_bytes(tool: &str, data: &[u8]) -> String {
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect(tool);
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{tool} failed");
    first_word(&out.stdout)
}

fn first_word(output: &[u8]) -> String {
    let text = String::from_utf8(output.to_vec()).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}
