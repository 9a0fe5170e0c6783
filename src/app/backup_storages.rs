//! Backup storages: AddBackupStorage (Local: a directory), AddCephBackupStorage (through the
//! `crate::ceph` facade), Query, Delete, and the "default" storage of a fresh server.

use std::path::{Path, PathBuf};

use imghash_store::{new_uuid, BackupStorage, CephSettings, Condition, Store};

use super::confine::Roots;
use super::error::ApiError;
use super::queries::Query;
use super::vocabulary::{State, StorageStatus, StorageType};
use super::{blocking, now_ms, private_fs, validate, App};

/// Name of the backup storage created at first start.
pub const DEFAULT_NAME: &str = "default";

/// AddBackupStorage: a Local storage in the directory `url` (created if missing).
#[derive(Clone, Debug, Default)]
pub struct AddBackupStorage {
    /// Unique among storages.
    pub name: String,
    /// Free text.
    pub description: String,
    /// REST `type`: only "Local" here ("Ceph" has its own call).
    pub storage_type: String,
    /// The absolute directory.
    pub url: String,
}

/// AddCephBackupStorage: a pool of a Ceph cluster, and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct AddCephBackupStorage {
    /// Unique among storages.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Monitor addresses (or ZStack's `user:password@host/?monPort=N`).
    pub mon_urls: Vec<String>,
    /// The RADOS pool.
    pub pool_name: String,
    /// A ceph.conf on the server (optional).
    pub ceph_conf: String,
    /// The Ceph client id (default "admin").
    pub client_id: String,
    /// A keyring on the server (optional).
    pub keyring: String,
}

/// A backup storage as the API shows it: with its Ceph settings if it is a Ceph one.
#[derive(Clone, Debug)]
pub struct StorageView {
    /// The storage.
    pub storage: BackupStorage,
    /// Pool and monitors of a Ceph storage.
    pub ceph: Option<CephSettings>,
}

impl App {
    /// Adds a Local storage; a directory this call created is removed again if the storage
    /// is refused (a duplicate name).
    pub async fn add_backup_storage(&self, req: AddBackupStorage) -> Result<StorageView, ApiError> {
        check_name(&req.name, &req.description)?;
        validate::required("url", &req.url)?;
        match req.storage_type.parse::<StorageType>() {
            Ok(StorageType::Local) => {}
            Ok(StorageType::Ceph) => {
                return Err(ApiError::InvalidArgument(
                    "Ceph backup storages are added with AddCephBackupStorage (monUrls, poolName)"
                        .to_string(),
                ))
            }
            Err(_) => {
                return Err(ApiError::InvalidArgument(format!(
                    "Unknown backup storage type '{}'; AddBackupStorage adds only '{}' \
                     storages (and AddCephBackupStorage '{}' ones)",
                    req.storage_type,
                    StorageType::Local,
                    StorageType::Ceph
                )))
            }
        }
        let (url, roots) = (req.url.clone(), self.storage_roots.clone());
        let (dir, created) =
            blocking("storage directory", move || local_directory(&url, &roots)).await?;
        let bs = local_storage(&req.name, &req.description, &dir);
        let (stored, me) = (bs.clone(), self.cluster.name.clone());
        // The directory is on this node: calls about the storage come here.
        let added = self.db(move |store| {
            store.add_backup_storage(&stored)?;
            store.set_backup_storage_node(&stored.uuid, &me)
        });
        if let Err(err) = added.await {
            // remove_dir only removes it while still empty.
            if created {
                let _ = blocking("storage directory", move || Ok(std::fs::remove_dir(&dir))).await;
            }
            return Err(err);
        }
        tracing::info!(uuid = %bs.uuid, url = %bs.url, "added a backup storage");
        Ok(StorageView {
            storage: bs,
            ceph: None,
        })
    }

    /// Adds a Ceph storage once its cluster answered and its pool exists.
    pub async fn add_ceph_backup_storage(
        &self,
        req: AddCephBackupStorage,
    ) -> Result<StorageView, ApiError> {
        check_name(&req.name, &req.description)?;
        let (storage, ceph) = crate::ceph::probe_storage(&self.ceph, &req).await?;
        let (stored, stored_ceph) = (storage.clone(), ceph.clone());
        self.db(move |store| store.add_ceph_backup_storage(&stored, &stored_ceph))
            .await?;
        tracing::info!(uuid = %storage.uuid, pool = %ceph.pool_name, "added a Ceph backup storage");
        Ok(StorageView {
            storage,
            ceph: Some(ceph),
        })
    }

    /// The storages matching the query, with their Ceph settings.
    pub async fn query_backup_storages(&self, query: Query) -> Result<Vec<StorageView>, ApiError> {
        let (conditions, limit) = query.parse()?;
        self.db(move |store| {
            store
                .query_backup_storages(&conditions, limit)?
                .into_iter()
                .map(|storage| {
                    let ceph = match storage.storage_type.parse() {
                        Ok(StorageType::Ceph) => store.ceph_settings(&storage.uuid)?,
                        _ => None,
                    };
                    Ok(StorageView { storage, ceph })
                })
                .collect()
        })
        .await
    }

    /// Deletes a storage that holds no image. The directory and its files (or the pool and
    /// its images) stay: deleting a storage record must never lose data.
    pub async fn delete_backup_storage(&self, uuid: String) -> Result<(), ApiError> {
        validate::uuid("uuid", &uuid)?;
        let deleted = uuid.clone();
        self.db(move |store| store.delete_backup_storage(&deleted))
            .await?;
        self.ceph.forget(&uuid);
        Ok(())
    }
}

/// The name and description every Add call takes.
fn check_name(name: &str, description: &str) -> Result<(), ApiError> {
    validate::required("name", name)?;
    validate::at_most("name", name, validate::MAX_NAME)?;
    validate::at_most("description", description, validate::MAX_DESCRIPTION)
}

/// A Local storage's directory: absolute, inside a storage root (resolved beneath it, so
/// neither `..` nor a symlink leads out), created if missing (0700), canonical (so that "is
/// this file inside the storage" is a plain prefix test). Also says whether this call
/// created it.
fn local_directory(url: &str, roots: &Roots) -> Result<(PathBuf, bool), ApiError> {
    let path = Path::new(url);
    if !path.is_absolute() {
        return Err(ApiError::InvalidArgument(format!(
            "The url of a Local backup storage must be an absolute directory, not '{url}'"
        )));
    }
    let opened = roots.open_dir(path).map_err(|reason| {
        tracing::info!(url, reason, "refused a storage directory");
        ApiError::InvalidArgument(format!(
            "The directory '{url}' cannot be used: a Local backup storage must be a directory \
             inside a storage root (see --storage-root)"
        ))
    })?;
    Ok((opened.canonical, opened.created))
}

/// A new storage record of any type, Enabled and Connected.
pub fn new_storage(name: &str, description: &str, kind: StorageType, url: String) -> BackupStorage {
    let now = now_ms();
    BackupStorage {
        uuid: new_uuid(),
        name: name.to_string(),
        description: description.to_string(),
        storage_type: kind.as_str().to_string(),
        url,
        state: State::Enabled.as_str().to_string(),
        status: StorageStatus::Connected.as_str().to_string(),
        total_capacity: 0,
        available_capacity: 0,
        create_date: now,
        last_op_date: now,
    }
}

fn local_storage(name: &str, description: &str, dir: &Path) -> BackupStorage {
    let url = dir.to_string_lossy().into_owned();
    new_storage(name, description, StorageType::Local, url)
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
    private_fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let bs = local_storage(DEFAULT_NAME, "created by imghash at first start", &dir);
    store.add_backup_storage(&bs)?;
    tracing::info!(uuid = %bs.uuid, url = %bs.url, "created the default backup storage");
    Ok(())
}
