//! Files and directories only the server's user can read: image copies may hold secrets
//! and the inventory holds live session ids, so nothing the server creates is readable
//! by other local users (files 0600, directories 0700).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `path` and its missing parents with mode 0700 (existing ones keep theirs).
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates (or truncates) a file with mode 0600 for writing.
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
