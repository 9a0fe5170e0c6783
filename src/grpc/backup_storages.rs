//! BackupStorageService: Add (Local and Ceph), Query, Delete.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::metadata::session;
use super::{decode, inventory, observe, proto};
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
        let mut line = observe::start("AddBackupStorage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let req = decode::add_backup_storage(request.into_inner());
            let added = self.app.add_backup_storage(req).await?;
            Ok(proto::AddBackupStorageResponse {
                inventory: Some(inventory::backup_storage(added)),
            })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn add_ceph_backup_storage(
        &self,
        request: Request<proto::AddCephBackupStorageRequest>,
    ) -> Result<Response<proto::AddCephBackupStorageResponse>, Status> {
        let mut line = observe::start("AddCephBackupStorage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let req = decode::add_ceph_backup_storage(request.into_inner());
            let added = self.app.add_ceph_backup_storage(req).await?;
            Ok(proto::AddCephBackupStorageResponse {
                inventory: Some(inventory::backup_storage(added)),
            })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn query_backup_storage(
        &self,
        request: Request<proto::QueryBackupStorageRequest>,
    ) -> Result<Response<proto::QueryBackupStorageResponse>, Status> {
        let mut line = observe::start("QueryBackupStorage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let req = request.into_inner();
            let found = self
                .app
                .query_backup_storages(decode::query(req.conditions, req.limit))
                .await?;
            Ok(proto::QueryBackupStorageResponse {
                inventories: found.into_iter().map(inventory::backup_storage).collect(),
            })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn delete_backup_storage(
        &self,
        request: Request<proto::DeleteBackupStorageRequest>,
    ) -> Result<Response<proto::DeleteBackupStorageResponse>, Status> {
        let mut line = observe::start("DeleteBackupStorage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            self.app
                .delete_backup_storage(request.into_inner().uuid)
                .await?;
            Ok(proto::DeleteBackupStorageResponse { success: true })
        }
        .await;
        observe::answer(&self.app, line, result)
    }
}
