//! AddCephBackupStorage: check the fields, reach the cluster and the pool, measure it.

use imghash_ceph::{CephError, Cluster, ErrorKind};
use imghash_store::{BackupStorage, CephSettings};

use super::{settings, Clusters};
use crate::app::backup_storages::{new_storage, AddCephBackupStorage};
use crate::app::blocking;
use crate::app::error::{capitalise, ApiError};
use crate::app::vocabulary::StorageType;

/// The storage record and settings once the cluster answered and the pool exists; the
/// caller records them.
pub async fn probe_storage(
    clusters: &Clusters,
    req: &AddCephBackupStorage,
) -> Result<(BackupStorage, CephSettings), ApiError> {
    let ceph = settings::from_request(req)?;
    let config = settings::cluster_config(&ceph, clusters.timeout());
    let pool = ceph.pool_name.clone();
    let probed = blocking("Ceph connection", move || {
        Ok((|| {
            let cluster = Cluster::connect(&config)?;
            cluster.pool(&pool)?;
            cluster.capacity()
        })())
    })
    .await?;
    let (total, available) = probed.map_err(|e| unusable(&req.name, &ceph, &e))?;
    let url = format!("{}{}", imghash_ceph::SCHEME, ceph.pool_name);
    let mut storage = new_storage(&req.name, &req.description, StorageType::Ceph, url);
    storage.total_capacity = i64::try_from(total).unwrap_or(i64::MAX);
    storage.available_capacity = i64::try_from(available).unwrap_or(i64::MAX);
    tracing::info!(pool = %ceph.pool_name, cluster = %settings::describe_cluster(&ceph),
        "reached the Ceph cluster");
    Ok((storage, ceph))
}

/// A cluster that cannot be reached or used, as a sentence naming the storage, its
/// monitors and its pool: SYS.1006, except for a malformed value (SYS.1007).
fn unusable(name: &str, ceph: &CephSettings, error: &CephError) -> ApiError {
    let sentence = format!(
        "Cannot use Ceph backup storage '{name}' (pool '{}', {}): {}",
        ceph.pool_name,
        settings::describe_cluster(ceph),
        capitalise(&error.to_string())
    );
    match error.kind() {
        ErrorKind::InvalidRequest => ApiError::InvalidArgument(sentence),
        _ => ApiError::FailedPrecondition(sentence),
    }
}
