//! Small file systems for the tests that need a full disk or a read-only one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs mounted at a directory (created), unmounted however the test ends.
/// Mounting needs root, as CI runs.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(status.success(), "this test mounts a tmpfs and needs root");
        Tmpfs(dir.to_path_buf())
    }

    /// Changes the mount's options (`ro`: read-only even for root).
    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .expect("mount");
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
