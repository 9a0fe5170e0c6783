//! RBD images of Ceph backup storages: measuring one for AddImage, and hashing one in a
//! CalculateImageHash job.

use std::sync::Arc;

use imghash_ceph::{CephError, ErrorKind, RbdSource, RbdSpec};
use imghash_engine::{ContentSource, HashJob, ImageFormat, Report, Source};
use imghash_store::CephSettings;

use super::{from_ceph, Clusters};
use crate::app::blocking;
use crate::app::error::{capitalise, from_engine, ApiError};
use crate::ceph::Measured;

/// Checks that `url` names an existing RBD image in the pool of every storage of
/// `storages` (all Ceph storages), and measures it. Reads the image's header and its
/// first bytes, nothing more.
pub async fn measure(
    clusters: &Arc<Clusters>,
    url: &str,
    targets: Vec<(String, CephSettings)>,
) -> Result<Measured, ApiError> {
    let spec: RbdSpec = url.parse().map_err(|e| from_ceph(&e))?;
    for (uuid, settings) in &targets {
        if settings.pool_name != spec.pool {
            return Err(ApiError::InvalidArgument(format!(
                "The url '{url}' names pool '{}', but backup storage[uuid:{uuid}] holds the \
                 images of pool '{}'",
                spec.pool, settings.pool_name
            )));
        }
    }
    let clusters = clusters.clone();
    let (url, spec_for_task) = (url.to_string(), spec.clone());
    let lengths = blocking("Ceph", move || {
        Ok(targets
            .iter()
            .map(|(uuid, settings)| open_and_measure(&clusters, uuid, settings, &spec_for_task))
            .collect::<Result<Vec<_>, CephError>>())
    })
    .await?
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
    let size = ImageFormat::qcow2_guest_size(&source).unwrap_or(len);
    Ok((size, len))
}

/// The RBD image at a Ceph ref's install path, to hash in a job. Connecting and opening it
/// happen in the job, so that identical requests share them and they wait for a run slot
/// like any job.
pub fn rbd_input(
    clusters: &Arc<Clusters>,
    storage_uuid: &str,
    settings: CephSettings,
    install_path: &str,
    expected_len: u64,
) -> Result<RbdInput, ApiError> {
    let spec: RbdSpec = install_path.parse().map_err(|e| from_ceph(&e))?;
    Ok(RbdInput {
        clusters: clusters.clone(),
        storage_uuid: storage_uuid.to_string(),
        settings,
        spec,
        expected_len,
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
    /// Connects (or reuses the connection), opens the image and hashes it with `job`: its
    /// bytes, or with `content` the disk it holds (a qcow2 stored in RBD; a backing file
    /// cannot be followed from there and is refused). Blocks: runs on a blocking thread,
    /// bounded by the cluster time-out per request.
    pub fn hash(&self, job: &HashJob, content: bool) -> Result<Report, ApiError> {
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
        let hashed = if content {
            ContentSource::from_source(Box::new(source), None)
                .and_then(|disk| job.hash_source(&disk))
        } else {
            job.hash_source(&source)
        };
        hashed.map_err(|e| {
            if matches!(e, imghash_engine::Error::Read { .. }) {
                // A failed read may be a dead connection: reconnect next time.
                self.clusters.forget(&self.storage_uuid);
            }
            from_engine(e)
        })
    }
}
