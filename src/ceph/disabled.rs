//! The Ceph facade of a build without the `ceph` feature: no librados, so every call says
//! so rather than pretend.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use imghash_engine::{ChunkSink, HashJob, ImageFormat, Report};
use imghash_store::{BackupStorage, CephSettings};

use super::Measured;
use crate::app::backup_storages::AddCephBackupStorage;
use crate::app::ApiError;

/// Why a Ceph backup storage cannot be used by this build.
fn without_ceph() -> ApiError {
    ApiError::Unsupported(
        "This imghash server was built without Ceph support, so it cannot use Ceph backup \
         storages; rebuild it with `cargo build --release --features ceph` (needs librados-dev)"
            .to_string(),
    )
}

/// No connections: there is nothing to connect with.
pub struct Clusters;

impl Clusters {
    /// No connection cache.
    pub fn new(_timeout: Duration) -> Clusters {
        Clusters
    }

    /// Nothing to forget.
    pub fn forget(&self, _storage_uuid: &str) {}
}

/// AddCephBackupStorage cannot reach a cluster.
pub async fn probe_storage(
    _clusters: &Clusters,
    _req: &AddCephBackupStorage,
) -> Result<(BackupStorage, CephSettings), ApiError> {
    Err(without_ceph())
}

/// AddImage of a `ceph://` url cannot read the image.
pub async fn measure(
    _clusters: &Arc<Clusters>,
    _url: &str,
    _targets: Vec<(String, CephSettings)>,
) -> Result<Measured, ApiError> {
    Err(without_ceph())
}

/// An RBD image to hash: none can exist in this build.
pub enum RbdInput {}

impl RbdInput {
    /// Unreachable: no `RbdInput` can be made.
    pub fn hash(&self, _job: &HashJob, _content: bool) -> Result<Report, ApiError> {
        match *self {}
    }
}

/// CalculateImageHash on a Ceph storage cannot read the image.
pub fn rbd_input(
    _clusters: &Arc<Clusters>,
    _storage_uuid: &str,
    _settings: CephSettings,
    _install_path: &str,
    _expected_len: u64,
) -> Result<RbdInput, ApiError> {
    Err(without_ceph())
}

/// `imghash sum ceph://…` cannot read the image.
pub fn hash_address(
    _job: &HashJob,
    address: &str,
    _conf: Option<PathBuf>,
    _client_id: &str,
    _timeout: Duration,
    _content: Option<Option<ImageFormat>>,
    _sink: &mut dyn ChunkSink,
) -> anyhow::Result<Report> {
    anyhow::bail!(
        "{address}: this imghash was built without Ceph support \
         (rebuild with `cargo build --release --features ceph`)"
    )
}
