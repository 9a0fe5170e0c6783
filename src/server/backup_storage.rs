//! BackupStorageService: Local backup storages (a directory each), and the default one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use imghash_store::{new_uuid, BackupStorage, Condition, Store};
use tonic::{Request, Response, Status};

use super::auth::require_session;
use super::context::{now_ms, Context};
use super::error::ApiError;
use super::{inventory, proto, validate};

/// A directory on the server.
pub const LOCAL: &str = "Local";
/// A pool of RBD images on a Ceph cluster (cargo feature `ceph`).
pub const CEPH: &str = "Ceph";
/// Name of the backup storage created at first start.
pub const DEFAULT_NAME: &str = "default";

/// The BackupStorageService implementation.
pub struct BackupStorageApi {
    pub ctx: Arc<Context>,
}

#[tonic::async_trait]
impl proto::backup_storage_service_server::BackupStorageService for BackupStorageApi {
    async fn add_backup_storage(
        &self,
        request: Request<proto::AddBackupStorageRequest>,
    ) -> Result<Response<proto::AddBackupStorageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let req = request.into_inner();
        validate::required("name", &req.name)?;
        validate::at_most("name", &req.name, validate::MAX_NAME)?;
        validate::at_most("description", &req.description, validate::MAX_DESCRIPTION)?;
        validate::required("url", &req.url)?;
        if req.r#type == CEPH {
            return Err(ApiError::InvalidArgument(
                "Ceph backup storages are added with AddCephBackupStorage (monUrls, poolName)"
                    .to_string(),
            )
            .into());
        }
        if req.r#type != LOCAL {
            return Err(ApiError::InvalidArgument(format!(
                "Unknown backup storage type '{}'; AddBackupStorage adds only '{LOCAL}' \
                 storages (and AddCephBackupStorage '{CEPH}' ones)",
                req.r#type
            ))
            .into());
        }
        let created = !Path::new(&req.url).exists();
        let dir = local_directory(&req.url)?;
        let bs = local_storage(&req.name, &req.description, &dir);
        let stored = bs.clone();
        let added = self
            .ctx
            .db(move |store| store.add_backup_storage(&stored))
            .await;
        if let Err(err) = added {
            // A refused storage (a duplicate name) must not leave behind the directory this
            // call created; remove_dir only removes it while still empty.
            if created {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(err.into());
        }
        tracing::info!(rpc = "AddBackupStorage", uuid = %bs.uuid, url = %bs.url, "added");
        Ok(Response::new(proto::AddBackupStorageResponse {
            inventory: Some(inventory::backup_storage(bs, None)),
        }))
    }

    async fn add_ceph_backup_storage(
        &self,
        request: Request<proto::AddCephBackupStorageRequest>,
    ) -> Result<Response<proto::AddCephBackupStorageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let inventory = add_ceph(&self.ctx, request.into_inner())
            .await
            .inspect_err(|e| tracing::warn!(rpc = "AddCephBackupStorage", error = %e, "failed"))?;
        Ok(Response::new(proto::AddCephBackupStorageResponse {
            inventory: Some(inventory),
        }))
    }

    async fn query_backup_storage(
        &self,
        request: Request<proto::QueryBackupStorageRequest>,
    ) -> Result<Response<proto::QueryBackupStorageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let req = request.into_inner();
        let conditions = parse_conditions(&req.conditions)?;
        let limit = (req.limit > 0).then_some(req.limit);
        let found = self
            .ctx
            .db(move |store| {
                store
                    .query_backup_storages(&conditions, limit)?
                    .into_iter()
                    .map(|bs| {
                        let ceph = match bs.storage_type.as_str() {
                            CEPH => store.ceph_settings(&bs.uuid)?,
                            _ => None,
                        };
                        Ok(inventory::backup_storage(bs, ceph))
                    })
                    .collect::<imghash_store::Result<Vec<_>>>()
            })
            .await?;
        Ok(Response::new(proto::QueryBackupStorageResponse {
            inventories: found,
        }))
    }

    async fn delete_backup_storage(
        &self,
        request: Request<proto::DeleteBackupStorageRequest>,
    ) -> Result<Response<proto::DeleteBackupStorageResponse>, Status> {
        require_session(&self.ctx, request.metadata()).await?;
        let uuid = request.into_inner().uuid;
        validate::uuid("uuid", &uuid)?;
        // The directory and its files (or the pool and its images) stay: deleting a storage
        // record must never lose data.
        let deleted = uuid.clone();
        self.ctx
            .db(move |store| store.delete_backup_storage(&deleted))
            .await?;
        #[cfg(feature = "ceph")]
        self.ctx.ceph.forget(&uuid);
        Ok(Response::new(proto::DeleteBackupStorageResponse {
            success: true,
        }))
    }
}

#[cfg(feature = "ceph")]
async fn add_ceph(
    ctx: &Context,
    req: proto::AddCephBackupStorageRequest,
) -> Result<proto::BackupStorageInventory, ApiError> {
    super::ceph::storage::add(ctx, req).await
}

/// Without librados there is no way to reach a cluster; say so rather than pretend.
#[cfg(not(feature = "ceph"))]
async fn add_ceph(
    _ctx: &Context,
    _req: proto::AddCephBackupStorageRequest,
) -> Result<proto::BackupStorageInventory, ApiError> {
    Err(super::error::without_ceph())
}

/// ZStack query conditions; SYS.1007 for a malformed one.
pub fn parse_conditions(conditions: &[String]) -> Result<Vec<Condition>, ApiError> {
    conditions
        .iter()
        .map(|c| Condition::parse(c).map_err(ApiError::from))
        .collect()
}

/// A Local storage's directory: absolute, created if missing, and a directory.
fn local_directory(url: &str) -> Result<PathBuf, ApiError> {
    let path = Path::new(url);
    if !path.is_absolute() {
        return Err(ApiError::InvalidArgument(format!(
            "The url of a Local backup storage must be an absolute directory, not '{url}'"
        )));
    }
    if path.exists() && !path.is_dir() {
        return Err(ApiError::InvalidArgument(format!(
            "'{url}' is not a directory"
        )));
    }
    std::fs::create_dir_all(path).map_err(|e| {
        ApiError::InvalidArgument(format!("Cannot create the directory '{url}': {e}"))
    })?;
    // Canonical, so that "is this file inside the storage" is a plain prefix test.
    path.canonicalize()
        .map_err(|e| ApiError::InvalidArgument(format!("Cannot use the directory '{url}': {e}")))
}

fn local_storage(name: &str, description: &str, dir: &Path) -> BackupStorage {
    let now = now_ms();
    BackupStorage {
        uuid: new_uuid(),
        name: name.to_string(),
        description: description.to_string(),
        storage_type: LOCAL.to_string(),
        url: dir.to_string_lossy().into_owned(),
        state: "Enabled".to_string(),
        status: "Connected".to_string(),
        total_capacity: 0,
        available_capacity: 0,
        create_date: now,
        last_op_date: now,
    }
}

/// Creates the "default" Local storage at `dir` unless a storage of that name exists.
pub fn ensure_default(store: &Store, dir: &Path) -> anyhow::Result<()> {
    let named_default = Condition::parse(&format!("name={DEFAULT_NAME}"))?;
    if !store
        .query_backup_storages(&[named_default], Some(1))?
        .is_empty()
    {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let bs = local_storage(DEFAULT_NAME, "created by imghash at first start", &dir);
    store.add_backup_storage(&bs)?;
    tracing::info!(uuid = %bs.uuid, url = %bs.url, "created the default backup storage");
    Ok(())
}
