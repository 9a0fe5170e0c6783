//! Confinement: the directories AddImage may read `file://` sources from (import roots)
//! and the directories Local backup storages may be in (storage roots).
//!
//! A path is resolved by the kernel with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//! from the open root (the `rustix` crate's binding), so neither `..` nor a symlink, absolute
//! or relative, can lead out of the root, and checking and opening are one step: nothing
//! can swap a component between them. Roots are canonical, so a requested path is matched
//! against them component by component before the kernel resolves the rest.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use rustix::fs::{Mode, OFlags, ResolveFlags};

/// How every lookup under a root resolves: never above the root, never through
/// `/proc/PID/fd`-style links.
const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// A set of directories that paths must resolve inside.
#[derive(Clone, Debug)]
pub struct Roots {
    dirs: Vec<PathBuf>,
}

/// A regular file opened under a root.
#[derive(Debug)]
pub struct OpenedFile {
    /// Opened read-only and non-blocking (so a read that would block can be polled).
    pub file: File,
    /// Where it really is (no symlink left), for "is it inside a storage" tests.
    pub canonical: PathBuf,
}

/// A directory opened (and created where missing) under a root.
#[derive(Debug)]
pub struct OpenedDir {
    /// Where it really is.
    pub canonical: PathBuf,
    /// True if this call created the last component.
    pub created: bool,
}

impl Roots {
    /// The roots, canonicalised; each must exist and be a directory.
    pub fn new(dirs: &[PathBuf]) -> anyhow::Result<Roots> {
        let dirs = dirs
            .iter()
            .map(|dir| {
                let canonical = dir
                    .canonicalize()
                    .with_context(|| format!("cannot use the root directory {}", dir.display()))?;
                anyhow::ensure!(canonical.is_dir(), "{} is not a directory", dir.display());
                Ok(canonical)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Roots { dirs })
    }

    /// The roots, for messages.
    pub fn describe(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        dirs.join(", ")
    }

    /// Opens the regular file at the absolute `path` if it resolves inside a root. The error
    /// is the real reason, for the server's log only: callers answer one sentence whatever
    /// it is, so that a refusal tells nothing about files outside the roots.
    ///
    /// RESOLVE_BENEATH refuses every absolute symlink, even one that points inside the
    /// root; such a path is tried again as its canonical form. That form only proposes a
    /// path: the kernel still resolves it beneath a root, so a symlink swapped in between
    /// cannot lead out either.
    pub fn open_file(&self, path: &Path) -> Result<OpenedFile, String> {
        let mut reason = format!("{} is under no root ({})", path.display(), self.describe());
        let canonical = path.canonicalize().ok().filter(|c| c != path);
        for path in std::iter::once(path).chain(canonical.as_deref()) {
            for (root, relative) in self.candidates(path) {
                match open_beneath(root, relative) {
                    Ok(opened) => return Ok(opened),
                    Err(e) => {
                        reason = format!("{} under root {}: {e}", path.display(), root.display())
                    }
                }
            }
        }
        Err(reason)
    }

    /// Opens the directory at the absolute `path` inside a root, creating missing
    /// components (mode 0700) one by one from the root, each resolved beneath it.
    pub fn open_dir(&self, path: &Path) -> Result<OpenedDir, String> {
        let mut reason = format!("{} is under no root ({})", path.display(), self.describe());
        for (root, relative) in self.candidates(path) {
            match make_dirs_beneath(root, relative) {
                Ok(opened) => return Ok(opened),
                Err(e) => reason = format!("{} under root {}: {e}", path.display(), root.display()),
            }
        }
        Err(reason)
    }

    /// Each root that is a prefix of `path`, with the rest of the path.
    fn candidates<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = (&'a Path, &'a Path)> {
        self.dirs.iter().filter_map(move |root| {
            path.strip_prefix(root)
                .ok()
                .map(|relative| (root.as_path(), relative))
        })
    }
}

fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(root, flags, Mode::empty())?)
}

/// Opens `relative` beneath `root`: a regular file, read-only, non-blocking.
fn open_beneath(root: &Path, relative: &Path) -> std::io::Result<OpenedFile> {
    if relative.as_os_str().is_empty() {
        return Err(std::io::Error::other("the root itself is not a file"));
    }
    let dir = open_root(root)?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat2(&dir, relative, flags, Mode::empty(), BENEATH)?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let canonical = fd_path(&file)?;
    Ok(OpenedFile { file, canonical })
}

/// Opens (creating where missing) each component of `relative` beneath `root`.
fn make_dirs_beneath(root: &Path, relative: &Path) -> std::io::Result<OpenedDir> {
    let mut dir = open_root(root)?;
    let mut created = false;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    for component in relative.components() {
        let name = match component {
            Component::Normal(name) => name,
            Component::CurDir => continue,
            _ => return Err(std::io::Error::other("'..' leaves the root")),
        };
        created = false;
        let next = match rustix::fs::openat2(&dir, name, flags, Mode::empty(), BENEATH) {
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700))?;
                created = true;
                rustix::fs::openat2(&dir, name, flags, Mode::empty(), BENEATH)?
            }
            other => other?,
        };
        dir = next;
    }
    let canonical = fd_path(&dir)?;
    Ok(OpenedDir { canonical, created })
}

/// The path the kernel has for an open file: no symlink, no `..`.
fn fd_path(fd: &impl AsRawFd) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_symlinks_cannot_leave_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::fs::write(root.join("ok"), b"o").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("ok", root.join("in")).unwrap();
        let roots = Roots::new(std::slice::from_ref(&root)).unwrap();
        let root = root.canonicalize().unwrap();
        assert!(roots.open_file(&root.join("ok")).is_ok());
        assert_eq!(
            roots.open_file(&root.join("in")).unwrap().canonical,
            root.join("ok")
        );
        assert!(roots.open_file(&root.join("out")).is_err());
        assert!(roots.open_file(&root.join("../secret")).is_err());
        assert!(roots.open_dir(&root.join("a/../../x")).is_err());
        let made = roots.open_dir(&root.join("a/b")).unwrap();
        assert!(made.created && made.canonical == root.join("a/b"));
    }
}
