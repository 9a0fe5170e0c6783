//! What a CalculateImageHash job hashes: the inventory look-up that finds the image's
//! copy, and the copy itself (a Local storage's file or a Ceph storage's RBD image), as
//! its bytes or as the disk it holds.

use std::path::{Path, PathBuf};

use imghash_engine::{ContentSource, FileSource, HashJob, Report};
use imghash_store::{BackupStorage, CephSettings, Image, ImageRef, Node};

use super::{not_found, HashKey, HashMode};
use crate::app::error::{from_engine, ApiError};
use crate::app::vocabulary::{ImageStatus, State, StorageType};
use crate::app::App;
use crate::ceph::{self, RbdInput};

/// The bytes a job hashes: a Local storage's file, or a Ceph storage's RBD image, and
/// whether as bytes or as the disk they hold.
pub(super) enum Input {
    File {
        path: PathBuf,
        expected_len: i64,
        mode: HashMode,
    },
    Rbd(RbdInput, HashMode),
    /// A Local storage another node holds: the call goes there.
    Remote(Owner),
}

/// The node holding a Local storage, as registered (`node`: `None` if it is not).
pub(crate) struct Owner {
    pub name: String,
    pub node: Option<Node>,
}

impl App {
    /// Looks up image, storage and ref in one inventory round trip and says what to hash,
    /// or which node to forward to (never for a call that was `forwarded` here).
    pub(super) async fn hash_input(
        &self,
        key: &HashKey,
        forwarded: bool,
    ) -> Result<Input, ApiError> {
        let lookup = key.clone();
        let me = self.cluster.name.clone();
        let (image, storage, image_ref, ceph, owner) = self
            .db(move |store| {
                let image = store.get_image(&lookup.image_uuid)?;
                let storage = store.get_backup_storage(&lookup.backup_storage_uuid)?;
                let image_ref =
                    store.get_image_ref(&lookup.image_uuid, &lookup.backup_storage_uuid)?;
                let ceph = store.ceph_settings(&lookup.backup_storage_uuid)?;
                let owner = match store.backup_storage_node(&lookup.backup_storage_uuid)? {
                    Some(name) if name != me && !forwarded => {
                        let node = store.node(&name)?;
                        Some(Owner { name, node })
                    }
                    _ => None,
                };
                Ok((image, storage, image_ref, ceph, owner))
            })
            .await?;
        let image = image.ok_or_else(|| not_found("image", &key.image_uuid))?;
        let storage =
            storage.ok_or_else(|| not_found("backup storage", &key.backup_storage_uuid))?;
        let image_ref = usable(&image, &storage, image_ref)?;
        if let Some(owner) = owner {
            return Ok(Input::Remote(owner));
        }
        match storage.storage_type.parse() {
            Ok(StorageType::Local) => Ok(Input::File {
                path: PathBuf::from(&image_ref.install_path),
                expected_len: image.actual_size,
                mode: key.mode,
            }),
            Ok(StorageType::Ceph) => Ok(Input::Rbd(
                rbd_input(self, &storage, ceph, &image_ref, &image)?,
                key.mode,
            )),
            Err(_) => Err(ApiError::FailedPrecondition(format!(
                "Backup storage[uuid:{}] has type '{}', which imghash cannot read",
                storage.uuid, storage.storage_type
            ))),
        }
    }
}

/// The image's ref on the storage, if the image is Ready there and the storage Enabled.
fn usable(
    image: &Image,
    storage: &BackupStorage,
    image_ref: Option<ImageRef>,
) -> Result<ImageRef, ApiError> {
    let image_ref = image_ref.ok_or_else(|| {
        ApiError::FailedPrecondition(format!(
            "Image[uuid:{}] is not on backup storage[uuid:{}]",
            image.uuid, storage.uuid
        ))
    })?;
    if image.status.parse() != Ok(ImageStatus::Ready) {
        return Err(ApiError::FailedPrecondition(format!(
            "Image[uuid:{}] is {}, not {}",
            image.uuid,
            image.status,
            ImageStatus::Ready
        )));
    }
    if storage.state.parse() != Ok(State::Enabled) {
        return Err(ApiError::FailedPrecondition(format!(
            "Backup storage[uuid:{}] is {}",
            storage.uuid, storage.state
        )));
    }
    Ok(image_ref)
}

fn rbd_input(
    app: &App,
    storage: &BackupStorage,
    ceph: Option<CephSettings>,
    image_ref: &ImageRef,
    image: &Image,
) -> Result<RbdInput, ApiError> {
    let settings = ceph.ok_or_else(|| {
        ApiError::Internal(format!(
            "Backup storage[uuid:{}] is a Ceph storage without Ceph settings",
            storage.uuid
        ))
    })?;
    let expected_len = u64::try_from(image.actual_size).unwrap_or(0);
    ceph::rbd_input(
        &app.ceph,
        &storage.uuid,
        settings,
        &image_ref.install_path,
        expected_len,
    )
}

impl Input {
    /// Checks the input is still what was added, and hashes it (in content mode, the disk
    /// the image holds). Blocks.
    pub(super) fn hash(&self, job: &HashJob) -> Result<Report, ApiError> {
        match self {
            Input::File {
                path,
                expected_len,
                mode,
            } => {
                check_file(path, *expected_len)?;
                match mode {
                    HashMode::File => job.hash_file(path).map_err(from_engine),
                    HashMode::Content => hash_content(job, path),
                }
            }
            Input::Rbd(rbd, mode) => rbd.hash(job, *mode == HashMode::Content),
            Input::Remote(owner) => Err(ApiError::Internal(format!(
                "a call for node '{}' was about to be computed here",
                owner.name
            ))),
        }
    }
}

/// The disk a local image holds. The image stands alone: a backing file or an external
/// data file is refused, never looked up, so that no image can make the server read
/// another file of the host (as QEMU's probing of untrusted images could).
fn hash_content(job: &HashJob, path: &Path) -> Result<Report, ApiError> {
    let file = FileSource::open(path).map_err(from_engine)?;
    let disk = ContentSource::from_source(Box::new(file), None).map_err(from_engine)?;
    job.hash_source(&disk).map_err(from_engine)
}

/// A missing file is UNAVAILABLE; one whose length differs from the recorded size is
/// DATA_LOSS (truncated or replaced), never a silently different digest.
fn check_file(path: &Path, expected_len: i64) -> Result<(), ApiError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let sentence = format!("Cannot read the image file {}: {e}", path.display());
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::FileUnavailable(sentence)
        } else {
            ApiError::DataLoss(sentence)
        }
    })?;
    if !meta.is_file() {
        return Err(ApiError::DataLoss(format!(
            "The image file {} is no longer a regular file",
            path.display()
        )));
    }
    let len = i64::try_from(meta.len()).unwrap_or(i64::MAX);
    if len != expected_len {
        return Err(ApiError::DataLoss(format!(
            "The image file {} is {len} bytes but was {expected_len} bytes when added; \
             it was truncated or replaced",
            path.display()
        )));
    }
    Ok(())
}
