//! Images: AddImage ([`add`], step by step), QueryImage, GetImage, DeleteImage, and the
//! cleanup at startup of images a crash left half-copied.

mod add;
mod copies;
mod copy;
mod copy_job;
mod file_url;
mod import;

use std::path::{Path, PathBuf};

use imghash_store::{Image, ImageRef, Store};

use super::error::ApiError;
use super::queries::Query;
use super::vocabulary::{ImageStatus, StorageType};
use super::{blocking, validate, App, Origin};

pub use add::AddImage;
pub use copies::Copies;

/// An image with its refs on backup storages, as every image call answers.
#[derive(Clone, Debug)]
pub struct ImageView {
    /// The image.
    pub image: Image,
    /// Where it is: one ref per backup storage.
    pub refs: Vec<ImageRef>,
}

impl App {
    /// The images matching the query, with their refs.
    pub async fn query_images(&self, query: Query) -> Result<Vec<ImageView>, ApiError> {
        let (conditions, limit) = query.parse()?;
        self.db(move |store| {
            store
                .query_images(&conditions, limit)?
                .into_iter()
                .map(|image| {
                    let refs = store.image_refs(&image.uuid)?;
                    Ok(ImageView { image, refs })
                })
                .collect()
        })
        .await
    }

    /// One image; SYS.1003 if it does not exist.
    pub async fn get_image(&self, uuid: String) -> Result<ImageView, ApiError> {
        validate::uuid("uuid", &uuid)?;
        self.image_view(uuid).await
    }

    /// The image as it is now, with its refs.
    async fn image_view(&self, uuid: String) -> Result<ImageView, ApiError> {
        let lookup = uuid.clone();
        let (image, refs) = self
            .db(move |store| Ok((store.get_image(&lookup)?, store.image_refs(&lookup)?)))
            .await?;
        let image = image.ok_or_else(|| {
            ApiError::NotFound(format!(
                "Cannot find image[uuid:{uuid}], it may have been deleted"
            ))
        })?;
        Ok(ImageView { image, refs })
    }

    /// Deletes the image and the files imghash copied for it; a file registered in place
    /// is the user's and stays, as does an RBD image. An image still being copied has its
    /// copy stopped, which removes the row and the partial file itself.
    ///
    /// The files are on the nodes holding the storages: a call about an image on a Local
    /// storage of another node is forwarded there, and a node removes only its own files.
    pub async fn delete_image(&self, uuid: String, origin: Origin) -> Result<(), ApiError> {
        validate::uuid("uuid", &uuid)?;
        let lookup = uuid.clone();
        let storages = self
            .db(move |store| {
                let refs = store.image_refs(&lookup)?;
                Ok(refs
                    .into_iter()
                    .map(|r| r.backup_storage_uuid)
                    .collect::<Vec<_>>())
            })
            .await?;
        if let Some(forward) = self.forward_for(&storages, &origin).await? {
            return forward.delete_image(&origin, uuid).await;
        }
        if let Some(copy) = self.copies.get(&uuid) {
            copy.stop();
            copy.ended().await;
            let lookup = uuid.clone();
            // The copy may have finished just before the stop: then delete as usual.
            if self
                .db(move |store| store.get_image(&lookup))
                .await?
                .is_none()
            {
                return Ok(());
            }
        }
        let (target, me) = (uuid.clone(), self.cluster.name.clone());
        let files = self
            .db(move |store| {
                let mut files = Vec::new();
                for (path, dir, storage_uuid) in local_files(store, &target)? {
                    match store.backup_storage_node(&storage_uuid)? {
                        Some(owner) if owner != me => tracing::warn!(image = %target,
                            storage = %storage_uuid, node = %owner,
                            "the image's file on another node's storage stays; that node did not delete it"),
                        _ => files.push((path, dir)),
                    }
                }
                store.delete_image(&target)?;
                Ok(files)
            })
            .await?;
        blocking("image file removal", move || {
            for (install_path, storage_dir) in files {
                let storage_dir = storage_dir.canonicalize().unwrap_or(storage_dir);
                import::remove_copied_file(&install_path, &storage_dir, &uuid);
            }
            Ok(())
        })
        .await
    }
}

/// The image's refs on Local storages, as (install path, storage directory, storage uuid):
/// the only refs that can name files of ours (a Ceph ref's RBD image is always the user's).
fn local_files(
    store: &Store,
    image_uuid: &str,
) -> imghash_store::Result<Vec<(PathBuf, PathBuf, String)>> {
    let mut files = Vec::new();
    for image_ref in store.image_refs(image_uuid)? {
        if let Some(storage) = store.get_backup_storage(&image_ref.backup_storage_uuid)? {
            if storage.storage_type.parse() == Ok(StorageType::Local) {
                files.push((
                    PathBuf::from(image_ref.install_path),
                    PathBuf::from(storage.url),
                    storage.uuid,
                ));
            }
        }
    }
    Ok(files)
}

/// At startup: images left "Downloading" by a crash of this node are removed with their
/// files, and any temp file of a copy (`.<uuid>.tmp`) left in one of its Local storage
/// directories is removed. Only this node's storages (and those of no node): a copy into
/// another node's storage may be running there now.
pub fn remove_unfinished(store: &Store, node: &str) -> imghash_store::Result<usize> {
    let ours = |storage_uuid: &str| -> imghash_store::Result<bool> {
        Ok(store
            .backup_storage_node(storage_uuid)?
            .is_none_or(|owner| owner == node))
    };
    let mut removed = 0;
    for image in store.images_with_status(ImageStatus::Downloading.as_str())? {
        let files = local_files(store, &image.uuid)?;
        let mut all_ours = true;
        for (_, _, storage_uuid) in &files {
            all_ours &= ours(storage_uuid)?;
        }
        if !all_ours {
            continue;
        }
        for (install_path, storage_dir, _) in files {
            let storage_dir = storage_dir.canonicalize().unwrap_or(storage_dir);
            import::remove_copied_file(&install_path, &storage_dir, &image.uuid);
        }
        store.delete_image(&image.uuid)?;
        removed += 1;
        tracing::warn!(image = %image.uuid, "removed an image whose copy a crash interrupted");
    }
    for storage in store.query_backup_storages(&[], None)? {
        if storage.storage_type.parse() == Ok(StorageType::Local) && ours(&storage.uuid)? {
            remove_temp_files(Path::new(&storage.url));
        }
    }
    Ok(removed)
}

/// Removes the temp files of copies in `storage_dir` (no copy runs at startup).
fn remove_temp_files(storage_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(storage_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(import::is_temp_name) {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(path = %path.display(), "removed the temp file of an interrupted copy")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a temp file")
                }
            }
        }
    }
}
