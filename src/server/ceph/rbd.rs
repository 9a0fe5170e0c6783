//! RBD images of Ceph backup storages: measuring one for AddImage, and hashing one in a
//! CalculateImageHash job.

use std::sync::Arc;

use imghash_ceph::{CephError, ErrorKind, RbdSource, RbdSpec};
use imghash_engine::{HashJob, Report, Source};
use imghash_store::{BackupStorage, CephSettings};

use super::super::context::Context;
use super::super::error::{capitalise, from_ceph, from_engine, ApiError};
use super::super::import::qcow2_guest_size;
use super::Clusters;

/// An RBD image as AddImage records it.
#[derive(Clone, Debug)]
pub struct Measured {
    /// `ceph://pool/image[@snap]`: the refs' install path, as in ZStack's inventories.
    pub install_path: String,
    /// The guest size of a qcow2 stored in the image, the image's length otherwise.
    pub size: i64,
    /// The image's length.
    pub actual_size: i64,
}

/// Checks that `url` names an existing RBD image in the pool of every storage of
/// `storages` (all Ceph storages), and measures it. Reads the image's header and its
/// first bytes, nothing more.
pub async fn measure(
    ctx: &Context,
    url: &str,
    storages: &[BackupStorage],
) -> Result<Measured, ApiError> {
    let spec: RbdSpec = url.parse().map_err(|e| from_ceph(&e))?;
    let mut targets = Vec::new();
    for storage in storages {
        let settings = settings_of(ctx, storage).await?;
        if settings.pool_name != spec.pool {
            return Err(ApiError::InvalidArgument(format!(
                "The url '{url}' names pool '{}', but backup storage[uuid:{}] holds the \
                 images of pool '{}'",
                spec.pool, storage.uuid, settings.pool_name
            )));
        }
        targets.push((storage.uuid.clone(), settings));
    }
    let clusters = ctx.ceph.clone();
    let (url, spec_for_task) = (url.to_string(), spec.clone());
    let lengths = tokio::task::spawn_blocking(move || {
        targets
            .iter()
            .map(|(uuid, settings)| open_and_measure(&clusters, uuid, settings, &spec_for_task))
            .collect::<Result<Vec<_>, CephError>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("Ceph task failed: {e}")))?
    .map_err(|e| match e.kind() {
        // As for a local file that does not exist: the url is what is wrong.
        ErrorKind::NotFound => ApiError::InvalidArgument(format!(
            "Cannot read the image of url '{url}': {}",
            capitalise(&e.to_string())
        )),
        _ => from_ceph(&e),
    })?;
    let (size, len) = lengths.first().copied().unwrap_or_default();
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(Measured {
        install_path: spec.to_string(),
        size: to_i64(size),
        actual_size: to_i64(len),
    })
}

/// (guest size, length) of the image.
fn open_and_measure(
    clusters: &Clusters,
    storage_uuid: &str,
    settings: &CephSettings,
    spec: &RbdSpec,
) -> Result<(u64, u64), CephError> {
    let opened = clusters
        .get(storage_uuid, settings)
        .and_then(|cluster| RbdSource::open(&cluster, spec));
    let source = opened.inspect_err(|e| clusters.failed(storage_uuid, e))?;
    let len = source.len();
    let mut header = [0u8; 32];
    let read = source.read_at(&mut header, 0).unwrap_or(0);
    let size = qcow2_guest_size(&header[..read]).unwrap_or(len);
    Ok((size, len))
}

/// The stored Ceph settings of a Ceph storage.
pub async fn settings_of(ctx: &Context, storage: &BackupStorage) -> Result<CephSettings, ApiError> {
    let uuid = storage.uuid.clone();
    ctx.db(move |store| store.ceph_settings(&uuid))
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "Backup storage[uuid:{}] is a Ceph storage without Ceph settings",
                storage.uuid
            ))
        })
}

/// An RBD image to hash in a job.
pub struct RbdInput {
    /// The server's cluster connections.
    pub clusters: Arc<Clusters>,
    /// The backup storage whose cluster holds the image.
    pub storage_uuid: String,
    /// How to reach that cluster.
    pub settings: CephSettings,
    /// The image (the ref's install path).
    pub spec: RbdSpec,
    /// The image's length when it was added.
    pub expected_len: u64,
}

impl RbdInput {
    /// Connects (or reuses the connection), opens the image and hashes it with `job`.
    /// Blocks: runs on a blocking thread, bounded by the cluster time-out per request.
    pub fn hash(&self, job: &HashJob) -> Result<Report, ApiError> {
        let opened = self
            .clusters
            .get(&self.storage_uuid, &self.settings)
            .and_then(|cluster| RbdSource::open(&cluster, &self.spec));
        let source = opened.map_err(|e| {
            self.clusters.failed(&self.storage_uuid, &e);
            from_ceph(&e)
        })?;
        if source.len() != self.expected_len {
            return Err(ApiError::DataLoss(format!(
                "The RBD image {} is {} bytes but was {} bytes when added; it was resized or \
                 replaced",
                self.spec,
                source.len(),
                self.expected_len
            )));
        }
        job.hash_source(&source).map_err(|e| {
            if matches!(e, imghash_engine::Error::Read { .. }) {
                // A failed read may be a dead connection: reconnect next time.
                self.clusters.forget(&self.storage_uuid);
            }
            from_engine(e)
        })
    }
}
