//! Backup storages: QueryBackupStorage (`GET /v1/backup-storage[/{uuid}]`), the additions
//! and DeleteBackupStorage (`DELETE /v1/backup-storage/{uuid}`).
//!
//! ZStack has no "Local" backup storage: its storages that are a directory on a host are
//! the ImageStore (`POST /v1/backup-storage/image-store`) and SFTP
//! (`POST /v1/backup-storage/sftp`) ones. Both routes add an imghash Local storage from
//! `params.url` (a directory of this server); their host and SSH fields are ignored.
//! AddCephBackupStorage is ZStack's `POST /v1/backup-storage/ceph`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::query::Queried;
use super::reply::Refused;
use super::{inventory, request, Rest};
use crate::app::backup_storages::{AddBackupStorage, AddCephBackupStorage, StorageView};
use crate::app::vocabulary::StorageType;
use crate::app::{ApiError, App, Query};

/// QueryBackupStorage.
pub struct Storages;

impl Queried for Storages {
    const API: &'static str = "QueryBackupStorage";
    type Item = StorageView;

    async fn find(app: &App, query: Query) -> Result<Vec<StorageView>, ApiError> {
        app.query_backup_storages(query).await
    }

    fn render(view: &StorageView) -> Value {
        inventory::backup_storage(view)
    }

    fn date(view: &StorageView, field: &str) -> Option<i64> {
        match field {
            "createDate" => Some(view.storage.create_date),
            "lastOpDate" => Some(view.storage.last_op_date),
            _ => None,
        }
    }
}

/// AddImageStoreBackupStorage / AddSftpBackupStorage as a Local storage (asynchronous).
pub async fn add_local(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    rest.submit_create(
        "AddBackupStorage",
        &headers,
        &body,
        |app, params| async move {
            let params = params?;
            let req = AddBackupStorage {
                name: request::string(&params, "name")?,
                description: request::string(&params, "description")?,
                storage_type: StorageType::Local.to_string(),
                url: request::string(&params, "url")?,
            };
            let added = app.add_backup_storage(req).await?;
            Ok(json!({ "inventory": inventory::backup_storage(&added) }))
        },
    )
    .await
}

/// AddCephBackupStorage (asynchronous).
pub async fn add_ceph(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    rest.submit_create(
        "AddCephBackupStorage",
        &headers,
        &body,
        |app, p| async move {
            let p = p?;
            let req = AddCephBackupStorage {
                name: request::string(&p, "name")?,
                description: request::string(&p, "description")?,
                mon_urls: request::strings(&p, "monUrls")?,
                pool_name: request::string(&p, "poolName")?,
                ceph_conf: request::string(&p, "cephConf")?,
                client_id: request::string(&p, "clientId")?,
                keyring: request::string(&p, "keyring")?,
            };
            let added = app.add_ceph_backup_storage(req).await?;
            Ok(json!({ "inventory": inventory::backup_storage(&added) }))
        },
    )
    .await
}

/// DeleteBackupStorage (asynchronous): `{}`.
pub async fn delete(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Result<Response, Refused> {
    rest.submit("DeleteBackupStorage", &headers, None, |app| async move {
        app.delete_backup_storage(uuid).await?;
        Ok(json!({}))
    })
    .await
}
