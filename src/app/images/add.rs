//! AddImage, in its steps: check the fields ([`new_image`]), resolve the backup storages
//! ([`App::resolve_storages`]), put the image in place (an RBD image or a file inside the
//! storage is registered where it is; any other file is copied in with its MD5 computed in
//! the same pass), then finish it "Ready" or roll back.

use imghash_store::{new_uuid, BackupStorage, CephSettings, Image, ImageRef};

use super::copies::StopOnDrop;
use super::copy_job::CopyJob;
use super::import::{self, Placement};
use super::ImageView;
use crate::app::confine::OpenedFile;
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
    /// Who asked, for forwarding the call to the node holding a Local storage.
    pub origin: crate::app::Origin,
}

/// A backup storage the image goes to, with its Ceph settings if it is a Ceph one.
type Target = (BackupStorage, Option<CephSettings>);

impl App {
    /// Adds the image; on any failure nothing is left of it (no row, no file).
    pub async fn add_image(&self, req: AddImage) -> Result<ImageView, ApiError> {
        let image = new_image(&req)?;
        // The source and the directory are on the node holding the storage: it adds.
        if let Some(forward) = self
            .forward_for(&req.backup_storage_uuids, &req.origin)
            .await?
        {
            let message = crate::grpc::forwarding::add_image(&req);
            let uuid = forward.add_image(&req.origin, message).await?;
            return self.image_view(uuid).await;
        }
        let rbd = ceph::is_rbd_address(&req.url);
        let source = match rbd {
            true => None,
            false => {
                let (url, roots) = (req.url.clone(), self.import_roots.clone());
                Some(blocking("image source", move || import::open_source(&url, &roots)).await?)
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

    /// Puts the file in place on every storage: registered where it is if it is inside
    /// the storage, copied in otherwise (as a job: see [`CopyJob`]). The image is
    /// "Downloading" with its refs until the copy ends, then "Ready"; a failed or
    /// cancelled copy leaves no row and no file.
    async fn import_file(
        &self,
        mut image: Image,
        source: OpenedFile,
        targets: Vec<Target>,
    ) -> Result<(), ApiError> {
        let (uuid, format) = (image.uuid.clone(), image.format.clone());
        let (source, placements) = blocking("image placement", move || {
            let placements = targets
                .iter()
                .map(|(storage, _)| import::place(&source.canonical, storage, &uuid, &format))
                .collect::<Result<Vec<Placement>, ApiError>>()?;
            for placement in placements.iter().filter(|p| p.copy) {
                import::check_space(&source, placement)?;
            }
            Ok((source, placements))
        })
        .await?;
        if placements.iter().all(|p| !p.copy) {
            let measured = source.canonical.clone();
            let imported = blocking("image size", move || import::measure(&measured)).await?;
            image.status = ImageStatus::Ready.as_str().to_string();
            image.size = imported.size;
            image.actual_size = imported.actual_size;
            let refs = new_refs(&image, &placements);
            return self.db(move |store| store.add_image(&image, &refs)).await;
        }
        let uuid = image.uuid.clone();
        let admission = self
            .jobs
            .admit(&format!("the copy of image[uuid:{uuid}]"))?;
        let refs = new_refs(&image, &placements);
        // Registered before the row exists, so that a DeleteImage finding the row also
        // finds the copy to stop.
        let (control, ending) = self.copies.register(&uuid);
        if let Err(err) = self.db(move |store| store.add_image(&image, &refs)).await {
            self.copies.forget(&uuid);
            return Err(err);
        }
        let outcome = CopyJob {
            store: self.store.clone(),
            jobs: self.jobs.clone(),
            copies: self.copies.clone(),
            pool: self.jobs.pool().clone(),
            image_uuid: uuid,
            source,
            placements,
            control: control.clone(),
            ending,
            admission,
        }
        .spawn();
        // Until the copy ends, this request dropped (client gone, deadline) stops it.
        let mut stop_on_drop = StopOnDrop(Some(control));
        let result = outcome
            .await
            .unwrap_or_else(|_| Err(ApiError::Internal("the copy task vanished".to_string())));
        stop_on_drop.0 = None;
        result
    }
}

/// The refs of an image on its placements, with the image's status.
fn new_refs(image: &Image, placements: &[Placement]) -> Vec<ImageRef> {
    placements
        .iter()
        .map(|p| new_ref(image, &p.storage_uuid, path_text(&p.install_path)))
        .collect()
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

/// The image's ref on a storage, at `install_path`, with the image's status.
fn new_ref(image: &Image, storage_uuid: &str, install_path: String) -> ImageRef {
    ImageRef {
        image_uuid: image.uuid.clone(),
        backup_storage_uuid: storage_uuid.to_string(),
        install_path,
        export_url: None,
        export_md5_sum: None,
        status: image.status.clone(),
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
