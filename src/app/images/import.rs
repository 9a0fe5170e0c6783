//! AddImage's file work: registering a file in place, or copying it into a backup storage
//! with its MD5 computed in the same pass; and cleaning up after a crash.
//!
//! A copy goes to `.<imageUuid>.tmp` in the storage directory and is renamed to
//! `<imageUuid>.<format>` only once complete and fsynced, so a crash never leaves a file that
//! looks finished. The image row is "Downloading" meanwhile; startup removes such rows and
//! their temp files (`images::remove_unfinished`).
//!
//! Everything here blocks (file-system calls): callers run it through `app::blocking`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imghash_engine::{Algorithm, FileSource, HashJob, ImageFormat};
use imghash_store::BackupStorage;
use rayon::ThreadPool;

use crate::app::error::{capitalise, ApiError};
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

/// The local file a `file:///abs/path` url names, canonicalised (symlinks resolved).
pub fn source_path(url: &str) -> Result<PathBuf, ApiError> {
    let path = url.strip_prefix("file://").ok_or_else(|| {
        ApiError::InvalidArgument(format!(
            "Unsupported url '{url}': imghash adds images from file:///absolute/path"
        ))
    })?;
    if !path.starts_with('/') {
        return Err(ApiError::InvalidArgument(format!(
            "The url '{url}' must name an absolute path (file:///…)"
        )));
    }
    let canonical = Path::new(path).canonicalize().map_err(|e| {
        ApiError::InvalidArgument(format!("Cannot read the file of url '{url}': {e}"))
    })?;
    if !canonical.is_file() {
        return Err(ApiError::InvalidArgument(format!(
            "The url '{url}' does not name a regular file"
        )));
    }
    Ok(canonical)
}

/// Decides, per storage, whether the file is already inside it (after canonicalising both,
/// so a symlink cannot point out of the storage) or must be copied as `<uuid>.<format>`.
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

/// The temp name of a copy in progress.
pub fn temp_path(storage_dir: &Path, image_uuid: &str) -> PathBuf {
    storage_dir.join(format!(".{image_uuid}.tmp"))
}

/// Copies where needed (hashing MD5 on the way) and measures the file. On failure, every
/// temp file is removed; files already renamed are removed too.
pub fn materialise(
    source: &Path,
    image_uuid: &str,
    placements: &[Placement],
    pool: &Arc<ThreadPool>,
) -> Result<Imported, ApiError> {
    let mut md5 = None;
    let mut done: Vec<&Path> = Vec::new();
    for placement in placements.iter().filter(|p| p.copy) {
        let temp = temp_path(&placement.storage_dir, image_uuid);
        match copy_with_md5(source, &temp, &placement.install_path, pool) {
            Ok(sum) => {
                md5 = Some(sum);
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
        .first()
        .map_or(source, |p| p.install_path.as_path());
    let actual_size = std::fs::metadata(measured)
        .map_err(|e| io_error(measured, e))?
        .len();
    let size = FileSource::open(measured)
        .ok()
        .and_then(|file| ImageFormat::qcow2_guest_size(&file))
        .unwrap_or(actual_size);
    Ok(Imported {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        actual_size: i64::try_from(actual_size).unwrap_or(i64::MAX),
        md5,
    })
}

/// Copies `source` to `temp` while MD5 reads the same bytes, fsyncs, then renames to
/// `dest`. Returns the MD5 hex.
fn copy_with_md5(
    source: &Path,
    temp: &Path,
    dest: &Path,
    pool: &Arc<ThreadPool>,
) -> Result<String, ApiError> {
    let input = File::open(source).map_err(|e| io_error(source, e))?;
    let output = private_fs::create_file(temp).map_err(|e| io_error(temp, e))?;
    let mut tee = Tee {
        reader: input,
        writer: io::BufWriter::with_capacity(1 << 20, output),
    };
    let report = HashJob::builder([Algorithm::Md5])
        .pool(pool.clone())
        .build()
        .and_then(|job| job.hash_reader(&mut tee))
        .map_err(|e| ApiError::DataLoss(capitalise(&e.to_string())))?;
    let output = tee
        .writer
        .into_inner()
        .map_err(|e| io_error(temp, e.into_error()))?;
    output.sync_all().map_err(|e| io_error(temp, e))?;
    std::fs::rename(temp, dest).map_err(|e| io_error(dest, e))?;
    // Make the rename itself durable.
    if let Some(dir) = dest.parent() {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    let digest = report
        .get(Algorithm::Md5)
        .ok_or_else(|| ApiError::Internal("the engine returned no MD5".to_string()))?;
    Ok(digest.value())
}

/// A reader that writes everything it reads to `writer`, so one pass both hashes and copies.
struct Tee<R, W> {
    reader: R,
    writer: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.writer.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn io_error(path: &Path, err: io::Error) -> ApiError {
    ApiError::DataLoss(format!("I/O error on {}: {err}", path.display()))
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
        if let Err(e) = std::fs::remove_file(install_path) {
            tracing::warn!(path = %install_path.display(), error = %e, "cannot remove image file");
        }
    }
}
