//! ImageService: AddImage, QueryImage, GetImage, DeleteImage, and the CalculateImageHash
//! RPCs (the work of which is in [`calculate`](super::calculate)).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imghash_store::{new_uuid, BackupStorage, Image, ImageRef};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::require_session;
use super::backup_storage::{parse_conditions, CEPH, LOCAL};
use super::calculate::{self, HashRequest};
use super::context::{now_ms, Context};
use super::error::ApiError;
use super::import::{self, Placement};
use super::{inventory, proto, validate};

/// How often the streaming RPC reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// The ImageService implementation.
pub struct ImageApi {
    pub ctx: Arc<Context>,
}

type EventStream =
    Pin<Box<dyn Stream<Item = Result<proto::CalculateImageHashEvent, Status>> + Send>>;

#[tonic::async_trait]
impl proto::image_service_server::ImageService for ImageApi {
    async fn add_image(
        &self,
        request: Request<proto::AddImageRequest>,
    ) -> Result<Response<proto::AddImageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let started = Instant::now();
        let image = self.add(request.into_inner()).await.inspect_err(|e| {
            tracing::warn!(rpc = "AddImage", error = %e, "failed");
        })?;
        tracing::info!(rpc = "AddImage", image = %image.uuid, md5 = ?image.md5_sum,
            duration_ms = started.elapsed().as_millis() as u64, "added");
        Ok(Response::new(proto::AddImageResponse {
            inventory: Some(image),
        }))
    }

    async fn query_image(
        &self,
        request: Request<proto::QueryImageRequest>,
    ) -> Result<Response<proto::QueryImageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let req = request.into_inner();
        let conditions = parse_conditions(&req.conditions)?;
        let limit = (req.limit > 0).then_some(req.limit);
        let found = self
            .ctx
            .db(move |store| {
                store
                    .query_images(&conditions, limit)?
                    .into_iter()
                    .map(|image| {
                        let refs = store.image_refs(&image.uuid)?;
                        Ok(inventory::image(image, refs))
                    })
                    .collect::<imghash_store::Result<Vec<_>>>()
            })
            .await?;
        Ok(Response::new(proto::QueryImageResponse {
            inventories: found,
        }))
    }

    async fn get_image(
        &self,
        request: Request<proto::GetImageRequest>,
    ) -> Result<Response<proto::GetImageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let uuid = request.into_inner().uuid;
        validate::uuid("uuid", &uuid)?;
        let image = self.inventory_of(uuid).await?;
        Ok(Response::new(proto::GetImageResponse {
            inventory: Some(image),
        }))
    }

    async fn delete_image(
        &self,
        request: Request<proto::DeleteImageRequest>,
    ) -> Result<Response<proto::DeleteImageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let uuid = request.into_inner().uuid;
        validate::uuid("uuid", &uuid)?;
        let target = uuid.clone();
        let files = self
            .ctx
            .db(move |store| {
                let refs = store.image_refs(&target)?;
                let mut files = Vec::new();
                for r in refs {
                    // Only a Local storage's files can be ours; an RBD image is always the
                    // user's, registered in place.
                    if let Some(bs) = store.get_backup_storage(&r.backup_storage_uuid)? {
                        if bs.storage_type == LOCAL {
                            files.push((PathBuf::from(r.install_path), PathBuf::from(bs.url)));
                        }
                    }
                }
                store.delete_image(&target)?;
                Ok(files)
            })
            .await?;
        for (file, storage_dir) in files {
            let storage_dir = storage_dir.canonicalize().unwrap_or(storage_dir);
            import::remove_copied_file(&file, &storage_dir, &uuid);
        }
        tracing::info!(rpc = "DeleteImage", image = %uuid, "deleted");
        Ok(Response::new(proto::DeleteImageResponse { success: true }))
    }

    async fn calculate_image_hash(
        &self,
        request: Request<proto::CalculateImageHashRequest>,
    ) -> Result<Response<proto::CalculateImageHashResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let deadline = calculate::deadline(request.metadata());
        let started = Instant::now();
        let req = request.into_inner();
        let result = async {
            let parsed = HashRequest::parse(&req)?;
            let handle = calculate::start(&self.ctx, &parsed).await?;
            let report = calculate::wait(&handle, deadline).await?;
            calculate::finish(&self.ctx, &parsed, report).await
        }
        .await;
        log_hash("CalculateImageHash", &req, started, &result);
        Ok(Response::new(result?))
    }

    type CalculateImageHashStreamStream = EventStream;

    async fn calculate_image_hash_stream(
        &self,
        request: Request<proto::CalculateImageHashRequest>,
    ) -> Result<Response<EventStream>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let deadline = calculate::deadline(request.metadata());
        let req = request.into_inner();
        // Bad requests fail the call itself, before any event.
        let parsed = HashRequest::parse(&req)?;
        let handle = calculate::start(&self.ctx, &parsed).await?;
        let (tx, rx) = mpsc::channel(4);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = stream_events(&ctx, &parsed, handle, deadline, &tx).await;
            log_hash("CalculateImageHashStream", &req, started, &result);
            let last = result.map(|response| proto::CalculateImageHashEvent {
                event: Some(proto::calculate_image_hash_event::Event::Result(response)),
            });
            // The client may be gone; then there is nobody to tell.
            let _ = tx.send(last.map_err(Status::from)).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Sends progress every [`PROGRESS_INTERVAL`] until the job ends; returns the final response.
/// If the client goes away, returning drops the handle, which cancels the job.
async fn stream_events(
    ctx: &Context,
    parsed: &HashRequest,
    handle: super::jobs::JobHandle,
    deadline: Option<tokio::time::Instant>,
    tx: &mpsc::Sender<Result<proto::CalculateImageHashEvent, Status>>,
) -> Result<proto::CalculateImageHashResponse, ApiError> {
    let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
    ticks.tick().await;
    let wait = calculate::wait(&handle, deadline);
    tokio::pin!(wait);
    let report = loop {
        tokio::select! {
            report = &mut wait => break report?,
            _ = ticks.tick() => {
                let progress = handle.progress();
                let event = proto::CalculateImageHashEvent {
                    event: Some(proto::calculate_image_hash_event::Event::Progress(
                        proto::HashProgress {
                            bytes_done: progress.done(),
                            bytes_total: progress.total().unwrap_or(0),
                        },
                    )),
                };
                if tx.send(Ok(event)).await.is_err() {
                    return Err(ApiError::Cancelled("The client went away".to_string()));
                }
            }
        }
    };
    calculate::finish(ctx, parsed, report).await
}

fn log_hash(
    rpc: &'static str,
    req: &proto::CalculateImageHashRequest,
    started: Instant,
    result: &Result<proto::CalculateImageHashResponse, ApiError>,
) {
    let params = req.calculate_image_hash.clone().unwrap_or_default();
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(response) => tracing::info!(rpc, image = %req.uuid,
            backup_storage = %params.backup_storage_uuid,
            algorithm = %response.hash.as_ref().map_or("", |h| h.algorithm.as_str()),
            duration_ms, "hash computed"),
        Err(err) => tracing::warn!(rpc, image = %req.uuid,
            backup_storage = %params.backup_storage_uuid, algorithm = %params.algorithm,
            duration_ms, error = %err, "hash failed"),
    }
}

/// The scheme of AddImage urls that name an RBD image (`ceph://POOL/IMAGE[@SNAP]`).
const RBD_SCHEME: &str = "ceph://";

/// Whether `storage` can hold an image from `url` (an RBD image's if `rbd`): SYS.1007 for
/// the wrong kind of url, SYS.1006 for a disabled storage.
fn storage_takes_url(storage: &BackupStorage, url: &str, rbd: bool) -> Result<(), ApiError> {
    let uuid = &storage.uuid;
    match (storage.storage_type.as_str(), rbd) {
        (CEPH, false) => {
            return Err(ApiError::InvalidArgument(format!(
                "Backup storage[uuid:{uuid}] is a Ceph storage: it registers RBD images from \
                 ceph://POOL/IMAGE urls, not '{url}'"
            )))
        }
        (CEPH, true) | (LOCAL, false) => {}
        (kind, true) => {
            return Err(ApiError::InvalidArgument(format!(
                "The url '{url}' names an RBD image, which only a Ceph backup storage can \
                 hold; backup storage[uuid:{uuid}] is a {kind} storage"
            )))
        }
        (kind, false) => {
            return Err(ApiError::FailedPrecondition(format!(
                "Backup storage[uuid:{uuid}] has type '{kind}', which imghash cannot write to"
            )))
        }
    }
    if storage.state != "Enabled" {
        return Err(ApiError::FailedPrecondition(format!(
            "Backup storage[uuid:{uuid}] is {}, not Enabled",
            storage.state
        )));
    }
    Ok(())
}

impl ImageApi {
    /// Registers the RBD image of `image.url` in place on Ceph storages: never copied, so
    /// the image is "Ready" (with its sizes) in the same write that records it.
    #[cfg(feature = "ceph")]
    async fn add_rbd(
        &self,
        mut image: Image,
        storages: &[BackupStorage],
    ) -> Result<proto::ImageInventory, ApiError> {
        let measured = super::ceph::rbd::measure(&self.ctx, &image.url, storages).await?;
        image.status = "Ready".to_string();
        image.size = measured.size;
        image.actual_size = measured.actual_size;
        let refs: Vec<ImageRef> = storages
            .iter()
            .map(|storage| ImageRef {
                image_uuid: image.uuid.clone(),
                backup_storage_uuid: storage.uuid.clone(),
                install_path: measured.install_path.clone(),
                export_url: None,
                export_md5_sum: None,
                status: "Ready".to_string(),
                create_date: image.create_date,
                last_op_date: image.create_date,
            })
            .collect();
        let uuid = image.uuid.clone();
        self.ctx
            .db(move |store| store.add_image(&image, &refs))
            .await?;
        self.inventory_of(uuid).await
    }

    /// Without librados an RBD image can be neither checked nor hashed.
    #[cfg(not(feature = "ceph"))]
    async fn add_rbd(
        &self,
        _image: Image,
        _storages: &[BackupStorage],
    ) -> Result<proto::ImageInventory, ApiError> {
        Err(super::error::without_ceph())
    }

    async fn inventory_of(&self, uuid: String) -> Result<proto::ImageInventory, ApiError> {
        let lookup = uuid.clone();
        let (image, refs) = self
            .ctx
            .db(move |store| Ok((store.get_image(&lookup)?, store.image_refs(&lookup)?)))
            .await?;
        let image = image.ok_or_else(|| {
            ApiError::NotFound(format!(
                "Cannot find image[uuid:{uuid}], it may have been deleted"
            ))
        })?;
        Ok(inventory::image(image, refs))
    }

    /// Registers the image "Downloading", puts the file in place (copy + MD5), then marks
    /// it "Ready"; on failure the row and any temp file are removed.
    async fn add(&self, req: proto::AddImageRequest) -> Result<proto::ImageInventory, ApiError> {
        validate::required("name", &req.name)?;
        validate::at_most("name", &req.name, validate::MAX_NAME)?;
        validate::at_most("description", &req.description, validate::MAX_DESCRIPTION)?;
        validate::at_most("guestOsType", &req.guest_os_type, validate::MAX_NAME)?;
        validate::required("url", &req.url)?;
        let format = validate::one_of("format", &req.format, validate::FORMATS, "")?;
        if format.is_empty() {
            return Err(ApiError::missing("format"));
        }
        let media_type = validate::one_of(
            "mediaType",
            &req.media_type,
            validate::MEDIA_TYPES,
            "RootVolumeTemplate",
        )?;
        let platform = validate::one_of("platform", &req.platform, validate::PLATFORMS, "Linux")?;
        let architecture = validate::one_of(
            "architecture",
            &req.architecture,
            validate::ARCHITECTURES,
            "x86_64",
        )?;
        if req.backup_storage_uuids.is_empty() {
            return Err(ApiError::missing("backupStorageUuids"));
        }
        for uuid in &req.backup_storage_uuids {
            validate::uuid("backupStorageUuids", uuid)?;
        }
        let rbd = req.url.starts_with(RBD_SCHEME);
        let source = match rbd {
            true => None,
            false => Some(import::source_path(&req.url)?),
        };

        let image_uuid = new_uuid();
        let wanted = req.backup_storage_uuids.clone();
        let storages = self
            .ctx
            .db(move |store| {
                wanted
                    .iter()
                    .map(|uuid| Ok((uuid.clone(), store.get_backup_storage(uuid)?)))
                    .collect::<imghash_store::Result<Vec<_>>>()
            })
            .await?;
        let storages = storages
            .into_iter()
            .map(|(uuid, storage)| {
                let storage = storage.ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "Cannot find backup storage[uuid:{uuid}], it may have been deleted"
                    ))
                })?;
                storage_takes_url(&storage, &req.url, rbd)?;
                Ok(storage)
            })
            .collect::<Result<Vec<_>, ApiError>>()?;

        let now = now_ms();
        let image = Image {
            uuid: image_uuid.clone(),
            name: req.name,
            description: req.description,
            state: "Enabled".to_string(),
            status: "Downloading".to_string(),
            size: 0,
            actual_size: 0,
            md5_sum: None,
            url: req.url,
            media_type,
            guest_os_type: req.guest_os_type,
            image_type: "zstack".to_string(),
            platform,
            architecture,
            format,
            virtio: req.virtio,
            system: req.system,
            create_date: now,
            last_op_date: now,
        };
        let Some(source) = source else {
            return self.add_rbd(image, &storages).await;
        };
        let placements = storages
            .iter()
            .map(|storage| import::place(&source, storage, &image_uuid, &image.format))
            .collect::<Result<Vec<Placement>, ApiError>>()?;
        let refs: Vec<ImageRef> = placements
            .iter()
            .map(|p| ImageRef {
                image_uuid: image_uuid.clone(),
                backup_storage_uuid: p.storage_uuid.clone(),
                install_path: p.install_path.to_string_lossy().into_owned(),
                export_url: None,
                export_md5_sum: None,
                status: "Ready".to_string(),
                create_date: now,
                last_op_date: now,
            })
            .collect();
        self.ctx
            .db(move |store| store.add_image(&image, &refs))
            .await?;

        let pool = self.ctx.jobs.pool().clone();
        let copy_uuid = image_uuid.clone();
        let copied = tokio::task::spawn_blocking(move || {
            import::materialise(&source, &copy_uuid, &placements, &pool)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("copy task failed: {e}")))
        .and_then(|r| r);
        let finished_uuid = image_uuid.clone();
        match copied {
            Ok(imported) => {
                self.ctx
                    .db(move |store| {
                        store.finish_image(
                            &finished_uuid,
                            imported.size,
                            imported.actual_size,
                            imported.md5.as_deref(),
                            now_ms(),
                        )
                    })
                    .await?;
                self.inventory_of(image_uuid).await
            }
            Err(err) => {
                let _ = self
                    .ctx
                    .db(move |store| store.delete_image(&finished_uuid))
                    .await;
                Err(err)
            }
        }
    }
}
