//! AddImage's file work: opening the source under an import root, deciding per storage
//! whether to register it in place or copy it, checking the free space, copying with the
//! MD5 in the same pass ([`copy`](super::copy)), and cleaning up after a crash.
//!
//! A copy goes to `.<imageUuid>.tmp` in the storage directory and is renamed to
//! `<imageUuid>.<format>` only once complete and fsynced, so a crash never leaves a file that
//! looks finished. The image row is "Downloading" meanwhile; startup removes such rows, their
//! files and any temp file (`images::remove_unfinished`).
//!
//! Everything here blocks (file-system calls): callers run it on a blocking thread, or on
//! the copy job's own thread.

use std::fs::File;
use std::path::{Path, PathBuf};

use imghash_engine::{Algorithm, CancelToken, FileSource, HashJob, ImageFormat};
use imghash_store::BackupStorage;

use super::copy::{dest_error, CopyReader};
use super::file_url;
use crate::app::confine::{OpenedFile, Roots};
use crate::app::error::{from_engine, ApiError};
use crate::app::private_fs;

/// Where the image's file will be on one storage, and whether it must be copied there.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The backup storage.
    pub storage_uuid: String,
    /// The storage directory.
    pub storage_dir: PathBuf,
    /// The final path (the ref's install path).
    pub install_path: PathBuf,
    /// True if the file is outside the storage and gets copied to `install_path`.
    pub copy: bool,
}

/// The sizes and checksum recorded once the image is in place.
#[derive(Clone, Debug)]
pub struct Imported {
    /// Virtual size (a qcow2's guest size; the file length otherwise).
    pub size: i64,
    /// Length of the file.
    pub actual_size: i64,
    /// MD5 hex, when the file was copied (computed in the same pass).
    pub md5: Option<String>,
}

/// Opens the file a `file:` url names, under an import root. Whether the file is missing,
/// unreadable, not regular or outside every root, the answer is the same sentence (the
/// reason goes to the log), so that it tells nothing about files the caller may not read.
pub fn open_source(url: &str, roots: &Roots) -> Result<OpenedFile, ApiError> {
    let path = file_url::local_path(url)?;
    roots.open_file(&path).map_err(|reason| {
        tracing::info!(url, reason, "refused an image source");
        ApiError::InvalidArgument(format!(
            "The url '{url}' does not name a readable regular file inside an import root \
             (see --import-root)"
        ))
    })
}

/// Decides, per storage, whether the file is already inside it (both paths canonical, so
/// a symlink cannot point out of the storage) or must be copied as `<uuid>.<format>`.
pub fn place(
    source: &Path,
    storage: &BackupStorage,
    image_uuid: &str,
    format: &str,
) -> Result<Placement, ApiError> {
    let storage_dir = Path::new(&storage.url).canonicalize().map_err(|e| {
        ApiError::FailedPrecondition(format!(
            "Backup storage[uuid:{}] directory {} is not usable: {e}",
            storage.uuid, storage.url
        ))
    })?;
    let inside = source.starts_with(&storage_dir);
    Ok(Placement {
        storage_uuid: storage.uuid.clone(),
        install_path: if inside {
            source.to_path_buf()
        } else {
            storage_dir.join(format!("{image_uuid}.{format}"))
        },
        storage_dir,
        copy: !inside,
    })
}

/// Refuses a copy that cannot fit: the source's allocated bytes (holes are not copied)
/// against the space left to unprivileged users in the storage directory (SYS.1006).
pub fn check_space(source: &OpenedFile, placement: &Placement) -> Result<(), ApiError> {
    use std::os::unix::fs::MetadataExt;
    let dir = &placement.storage_dir;
    let meta = source
        .file
        .metadata()
        .map_err(|e| source_error(&source.canonical, e))?;
    let needed = meta.blocks().saturating_mul(512).min(meta.len());
    let vfs = rustix::fs::statvfs(dir).map_err(|e| dest_error(dir, e.into()))?;
    let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
    if needed > free {
        return Err(ApiError::FailedPrecondition(format!(
            "Not enough space in the backup storage directory {}: {free} bytes free, the \
             copy of {} needs {needed} bytes",
            dir.display(),
            source.canonical.display()
        )));
    }
    Ok(())
}

/// The temp name of a copy in progress.
pub fn temp_path(storage_dir: &Path, image_uuid: &str) -> PathBuf {
    storage_dir.join(format!(".{image_uuid}.tmp"))
}

/// Whether `name` is a temp name [`temp_path`] makes.
pub fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .is_some_and(|uuid| uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Copies where needed (hashing MD5 on the way, with `job`, stopping once `cancel` is)
/// and measures the file. The first copy reads the source; later ones read the first copy,
/// since a stream source cannot be read twice. On failure, every file made is removed.
pub fn materialise(
    source: &OpenedFile,
    image_uuid: &str,
    placements: &[Placement],
    job: &HashJob,
    cancel: &CancelToken,
) -> Result<Imported, ApiError> {
    let mut md5 = None;
    let mut done: Vec<&Path> = Vec::new();
    for placement in placements.iter().filter(|p| p.copy) {
        let temp = temp_path(&placement.storage_dir, image_uuid);
        let copied = match done.first() {
            None => copy_one(
                &source.file,
                &source.canonical,
                &temp,
                placement,
                job,
                cancel,
            ),
            Some(first) => File::open(first)
                .map_err(|e| source_error(first, e))
                .and_then(|f| copy_one(&f, first, &temp, placement, job, cancel)),
        };
        match copied {
            Ok(sum) => {
                md5.get_or_insert(sum);
                done.push(&placement.install_path);
            }
            Err(err) => {
                let _ = std::fs::remove_file(&temp);
                for path in done {
                    let _ = std::fs::remove_file(path);
                }
                return Err(err);
            }
        }
    }
    let measured = placements
        .iter()
        .find(|p| p.copy)
        .or(placements.first())
        .map_or(source.canonical.as_path(), |p| p.install_path.as_path());
    let mut imported = measure(measured)?;
    imported.md5 = md5;
    Ok(imported)
}

/// The sizes of a file in place (no MD5).
pub fn measure(path: &Path) -> Result<Imported, ApiError> {
    let actual_size = std::fs::metadata(path)
        .map_err(|e| source_error(path, e))?
        .len();
    let size = FileSource::open(path)
        .ok()
        .and_then(|file| ImageFormat::qcow2_guest_size(&file))
        .unwrap_or(actual_size);
    Ok(Imported {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        actual_size: i64::try_from(actual_size).unwrap_or(i64::MAX),
        md5: None,
    })
}

/// Copies `source` to `temp` while MD5 reads the same bytes, sets the length (trailing
/// holes), fsyncs, then renames to the install path. Returns the MD5 hex.
fn copy_one(
    source: &File,
    source_name: &Path,
    temp: &Path,
    placement: &Placement,
    job: &HashJob,
    cancel: &CancelToken,
) -> Result<String, ApiError> {
    let output = private_fs::create_file(temp).map_err(|e| dest_error(temp, e))?;
    let mut reader = CopyReader::new(source, source_name, &output, temp, cancel);
    let hashed = job.hash_reader(&mut reader);
    let (copied, failure) = (reader.copied(), reader.failure.take());
    let report = hashed.map_err(|e| match failure {
        Some(failure) => failure,
        None if cancel.is_cancelled() => ApiError::Cancelled("The copy was cancelled".into()),
        None => from_engine(e),
    })?;
    output.set_len(copied).map_err(|e| dest_error(temp, e))?;
    output.sync_all().map_err(|e| dest_error(temp, e))?;
    let dest = &placement.install_path;
    std::fs::rename(temp, dest).map_err(|e| dest_error(dest, e))?;
    // Make the rename itself durable.
    let _ = File::open(&placement.storage_dir).and_then(|d| d.sync_all());
    let digest = report
        .get(Algorithm::Md5)
        .ok_or_else(|| ApiError::Internal("the engine returned no MD5".to_string()))?;
    Ok(digest.value())
}

fn source_error(path: &Path, err: std::io::Error) -> ApiError {
    ApiError::DataLoss(format!("Cannot read {}: {err}", path.display()))
}

/// Deletes the files imghash copied for an image: `<uuid>.*` directly in a storage directory.
/// A file registered in place is the user's and stays.
pub fn remove_copied_file(install_path: &Path, storage_dir: &Path, image_uuid: &str) {
    let ours = install_path.parent() == Some(storage_dir)
        && install_path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{image_uuid}.")));
    if ours {
        match std::fs::remove_file(install_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %install_path.display(), error = %e, "cannot remove image file");
            }
            _ => {}
        }
    }
}
