//! AddCephBackupStorage: check the fields, reach the cluster and the pool, then record.

use imghash_ceph::{CephError, Cluster, ErrorKind};
use imghash_store::{new_uuid, BackupStorage, CephSettings};

use super::super::backup_storage::CEPH;
use super::super::context::{now_ms, Context};
use super::super::error::{capitalise, ApiError};
use super::super::{inventory, proto, validate};
use super::settings;

/// Adds the storage once the cluster answered and the pool exists; on any failure nothing
/// is recorded.
pub async fn add(
    ctx: &Context,
    req: proto::AddCephBackupStorageRequest,
) -> Result<proto::BackupStorageInventory, ApiError> {
    validate::required("name", &req.name)?;
    validate::at_most("name", &req.name, validate::MAX_NAME)?;
    validate::at_most("description", &req.description, validate::MAX_DESCRIPTION)?;
    let ceph = settings::from_request(&req)?;

    let config = settings::cluster_config(&ceph, ctx.ceph.timeout());
    let pool = ceph.pool_name.clone();
    let (total, available) = tokio::task::spawn_blocking(move || {
        let cluster = Cluster::connect(&config)?;
        cluster.pool(&pool)?;
        cluster.capacity()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("Ceph connection task failed: {e}")))?
    .map_err(|e| unusable(&req.name, &ceph, &e))?;

    let now = now_ms();
    let bs = BackupStorage {
        uuid: new_uuid(),
        name: req.name,
        description: req.description,
        storage_type: CEPH.to_string(),
        url: format!("{}{}", imghash_ceph::SCHEME, ceph.pool_name),
        state: "Enabled".to_string(),
        status: "Connected".to_string(),
        total_capacity: i64::try_from(total).unwrap_or(i64::MAX),
        available_capacity: i64::try_from(available).unwrap_or(i64::MAX),
        create_date: now,
        last_op_date: now,
    };
    let (stored, stored_ceph) = (bs.clone(), ceph.clone());
    ctx.db(move |store| store.add_ceph_backup_storage(&stored, &stored_ceph))
        .await?;
    tracing::info!(rpc = "AddCephBackupStorage", uuid = %bs.uuid, pool = %ceph.pool_name,
        cluster = %settings::describe_cluster(&ceph), "added");
    Ok(inventory::backup_storage(bs, Some(ceph)))
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
