//! BackupStorageService: Add (Local and Ceph), Query, Delete.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::metadata::session;
use super::{decode, inventory, proto};
use crate::app::App;

/// The BackupStorageService over the application.
pub struct BackupStorageService {
    pub app: Arc<App>,
}

#[tonic::async_trait]
impl proto::backup_storage_service_server::BackupStorageService for BackupStorageService {
    async fn add_backup_storage(
        &self,
        request: Request<proto::AddBackupStorageRequest>,
    ) -> Result<Response<proto::AddBackupStorageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let req = decode::add_backup_storage(request.into_inner());
        let added = self.app.add_backup_storage(req).await?;
        Ok(Response::new(proto::AddBackupStorageResponse {
            inventory: Some(inventory::backup_storage(added)),
        }))
    }

    async fn add_ceph_backup_storage(
        &self,
        request: Request<proto::AddCephBackupStorageRequest>,
    ) -> Result<Response<proto::AddCephBackupStorageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let req = decode::add_ceph_backup_storage(request.into_inner());
        let added = self
            .app
            .add_ceph_backup_storage(req)
            .await
            .inspect_err(|e| {
                tracing::warn!(rpc = "AddCephBackupStorage", error = %e, "failed");
            })?;
        Ok(Response::new(proto::AddCephBackupStorageResponse {
            inventory: Some(inventory::backup_storage(added)),
        }))
    }

    async fn query_backup_storage(
        &self,
        request: Request<proto::QueryBackupStorageRequest>,
    ) -> Result<Response<proto::QueryBackupStorageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let req = request.into_inner();
        let found = self
            .app
            .query_backup_storages(decode::query(req.conditions, req.limit))
            .await?;
        Ok(Response::new(proto::QueryBackupStorageResponse {
            inventories: found.into_iter().map(inventory::backup_storage).collect(),
        }))
    }

    async fn delete_backup_storage(
        &self,
        request: Request<proto::DeleteBackupStorageRequest>,
    ) -> Result<Response<proto::DeleteBackupStorageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        self.app
            .delete_backup_storage(request.into_inner().uuid)
            .await?;
        Ok(Response::new(proto::DeleteBackupStorageResponse {
            success: true,
        }))
    }
}
