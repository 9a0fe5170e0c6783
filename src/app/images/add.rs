//! AddImage, in its steps: check the fields ([`new_image`]), resolve the backup storages
//! ([`App::resolve_storages`]), put the image in place (an RBD image or a file inside the
//! storage is registered where it is; any other file is copied in with its MD5 computed in
//! the same pass), then finish it "Ready" or roll back.

use std::path::PathBuf;

use imghash_store::{new_uuid, BackupStorage, CephSettings, Image, ImageRef};

use super::import::{self, Placement};
use super::ImageView;
use crate::app::error::ApiError;
use crate::app::vocabulary::{
    Architecture, ImageFormat, ImageStatus, ImageType, MediaType, Platform, State, StorageType,
};
use crate::app::{blocking, now_ms, validate, App};
use crate::ceph;

/// AddImage: the image's fields, where it comes from (`file:///…` or `ceph://POOL/IMAGE`),
/// and the backup storages to put it on.
#[derive(Clone, Debug, Default)]
pub struct AddImage {
    /// Mandatory.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `file:///absolute/path` or `ceph://POOL/IMAGE[@SNAP]`.
    pub url: String,
    /// Default RootVolumeTemplate.
    pub media_type: String,
    /// Free text.
    pub guest_os_type: String,
    /// Mandatory.
    pub format: String,
    /// Default Linux.
    pub platform: String,
    /// Default x86_64.
    pub architecture: String,
    /// A system image.
    pub system: bool,
    /// Virtio drivers.
    pub virtio: bool,
    /// At least one.
    pub backup_storage_uuids: Vec<String>,
}

/// A backup storage the image goes to, with its Ceph settings if it is a Ceph one.
type Target = (BackupStorage, Option<CephSettings>);

impl App {
    /// Adds the image; on any failure nothing is left of it (no row, no file).
    pub async fn add_image(&self, req: AddImage) -> Result<ImageView, ApiError> {
        let image = new_image(&req)?;
        let rbd = ceph::is_rbd_address(&req.url);
        let source = match rbd {
            true => None,
            false => {
                let url = req.url.clone();
                Some(blocking("image source", move || import::source_path(&url)).await?)
            }
        };
        let targets = self
            .resolve_storages(&req.backup_storage_uuids, &req.url, rbd)
            .await?;
        let uuid = image.uuid.clone();
        match source {
            None => self.register_rbd(image, targets).await?,
            Some(path) => self.import_file(image, path, targets).await?,
        }
        self.image_view(uuid).await
    }

    /// The storages, each checked to exist and to take this url (one inventory round trip).
    async fn resolve_storages(
        &self,
        uuids: &[String],
        url: &str,
        rbd: bool,
    ) -> Result<Vec<Target>, ApiError> {
        let wanted = uuids.to_vec();
        let found = self
            .db(move |store| {
                let mut found = Vec::new();
                for uuid in wanted {
                    let storage = store.get_backup_storage(&uuid)?;
                    let ceph = match &storage {
                        Some(s) if s.storage_type.parse() == Ok(StorageType::Ceph) => {
                            store.ceph_settings(&s.uuid)?
                        }
                        _ => None,
                    };
                    found.push((uuid, storage, ceph));
                }
                Ok(found)
            })
            .await?;
        found
            .into_iter()
            .map(|(uuid, storage, ceph)| {
                let storage = storage.ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "Cannot find backup storage[uuid:{uuid}], it may have been deleted"
                    ))
                })?;
                storage_takes_url(&storage, url, rbd)?;
                Ok((storage, ceph))
            })
            .collect()
    }

    /// Registers the RBD image of `image.url` in place on Ceph storages: never copied, so
    /// the image is "Ready" (with its sizes) in the same write that records it.
    async fn register_rbd(&self, mut image: Image, targets: Vec<Target>) -> Result<(), ApiError> {
        let settings = targets
            .iter()
            .map(|(storage, ceph)| {
                let ceph = ceph.clone().ok_or_else(|| {
                    ApiError::Internal(format!(
                        "Backup storage[uuid:{}] is a Ceph storage without Ceph settings",
                        storage.uuid
                    ))
                })?;
                Ok((storage.uuid.clone(), ceph))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let measured = ceph::measure(&self.ceph, &image.url, settings).await?;
        image.status = ImageStatus::Ready.as_str().to_string();
        image.size = measured.size;
        image.actual_size = measured.actual_size;
        let refs: Vec<ImageRef> = targets
            .iter()
            .map(|(storage, _)| new_ref(&image, &storage.uuid, measured.install_path.clone()))
            .collect();
        self.db(move |store| store.add_image(&image, &refs)).await
    }

    /// Records the image "Downloading", puts the file in place on every storage (copying
    /// where it is not inside), then marks it "Ready"; on failure the row and any file this
    /// call made are removed.
    async fn import_file(
        &self,
        image: Image,
        source: PathBuf,
        targets: Vec<Target>,
    ) -> Result<(), ApiError> {
        let (uuid, format) = (image.uuid.clone(), image.format.clone());
        let (place_source, place_uuid) = (source.clone(), uuid.clone());
        let placements = blocking("image placement", move || {
            targets
                .iter()
                .map(|(storage, _)| import::place(&place_source, storage, &place_uuid, &format))
                .collect::<Result<Vec<Placement>, ApiError>>()
        })
        .await?;
        let refs: Vec<ImageRef> = placements
            .iter()
            .map(|p| new_ref(&image, &p.storage_uuid, path_text(&p.install_path)))
            .collect();
        self.db(move |store| store.add_image(&image, &refs)).await?;

        let pool = self.jobs.pool().clone();
        let copy_uuid = uuid.clone();
        let copied = blocking("image copy", move || {
            import::materialise(&source, &copy_uuid, &placements, &pool)
        })
        .await;
        let imported = match copied {
            Ok(imported) => imported,
            Err(err) => {
                let _ = self.db(move |store| store.delete_image(&uuid)).await;
                return Err(err);
            }
        };
        self.db(move |store| {
            store.finish_image(
                &uuid,
                ImageStatus::Ready.as_str(),
                imported.size,
                imported.actual_size,
                imported.md5.as_deref(),
                now_ms(),
            )
        })
        .await?;
        Ok(())
    }
}

/// The image record AddImage's fields make, "Downloading", or SYS.1007 naming the bad field.
fn new_image(req: &AddImage) -> Result<Image, ApiError> {
    validate::required("name", &req.name)?;
    validate::at_most("name", &req.name, validate::MAX_NAME)?;
    validate::at_most("description", &req.description, validate::MAX_DESCRIPTION)?;
    validate::at_most("guestOsType", &req.guest_os_type, validate::MAX_NAME)?;
    validate::required("url", &req.url)?;
    let format = validate::word("format", &req.format, ImageFormat::ALL, None)?;
    let media_type = validate::word(
        "mediaType",
        &req.media_type,
        MediaType::ALL,
        Some(MediaType::RootVolumeTemplate),
    )?;
    let platform = validate::word(
        "platform",
        &req.platform,
        Platform::ALL,
        Some(Platform::Linux),
    )?;
    let architecture = validate::word(
        "architecture",
        &req.architecture,
        Architecture::ALL,
        Some(Architecture::X86_64),
    )?;
    if req.backup_storage_uuids.is_empty() {
        return Err(ApiError::missing("backupStorageUuids"));
    }
    for uuid in &req.backup_storage_uuids {
        validate::uuid("backupStorageUuids", uuid)?;
    }
    let now = now_ms();
    Ok(Image {
        uuid: new_uuid(),
        name: req.name.clone(),
        description: req.description.clone(),
        state: State::Enabled.as_str().to_string(),
        status: ImageStatus::Downloading.as_str().to_string(),
        size: 0,
        actual_size: 0,
        md5_sum: None,
        url: req.url.clone(),
        media_type: media_type.as_str().to_string(),
        guest_os_type: req.guest_os_type.clone(),
        image_type: ImageType::Zstack.as_str().to_string(),
        platform: platform.as_str().to_string(),
        architecture: architecture.as_str().to_string(),
        format: format.as_str().to_string(),
        virtio: req.virtio,
        system: req.system,
        create_date: now,
        last_op_date: now,
    })
}

/// The image's ref on a storage, at `install_path`.
fn new_ref(image: &Image, storage_uuid: &str, install_path: String) -> ImageRef {
    ImageRef {
        image_uuid: image.uuid.clone(),
        backup_storage_uuid: storage_uuid.to_string(),
        install_path,
        export_url: None,
        export_md5_sum: None,
        status: ImageStatus::Ready.as_str().to_string(),
        create_date: image.create_date,
        last_op_date: image.create_date,
    }
}

fn path_text(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Whether `storage` can hold an image from `url` (an RBD image's if `rbd`): SYS.1007 for
/// the wrong kind of url, SYS.1006 for a disabled storage.
fn storage_takes_url(storage: &BackupStorage, url: &str, rbd: bool) -> Result<(), ApiError> {
    let uuid = &storage.uuid;
    let kind = &storage.storage_type;
    match (kind.parse::<StorageType>(), rbd) {
        (Ok(StorageType::Ceph), false) => {
            return Err(ApiError::InvalidArgument(format!(
                "Backup storage[uuid:{uuid}] is a Ceph storage: it registers RBD images from \
                 ceph://POOL/IMAGE urls, not '{url}'"
            )))
        }
        (Ok(StorageType::Ceph), true) | (Ok(StorageType::Local), false) => {}
        (_, true) => {
            return Err(ApiError::InvalidArgument(format!(
                "The url '{url}' names an RBD image, which only a Ceph backup storage can \
                 hold; backup storage[uuid:{uuid}] is a {kind} storage"
            )))
        }
        (Err(_), false) => {
            return Err(ApiError::FailedPrecondition(format!(
                "Backup storage[uuid:{uuid}] has type '{kind}', which imghash cannot write to"
            )))
        }
    }
    if storage.state.parse() != Ok(State::Enabled) {
        return Err(ApiError::FailedPrecondition(format!(
            "Backup storage[uuid:{uuid}] is {}, not {}",
            storage.state,
            State::Enabled
        )));
    }
    Ok(())
}
