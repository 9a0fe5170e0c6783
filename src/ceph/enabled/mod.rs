//! The Ceph facade with the `ceph` feature: RBD images in one pool of a cluster, registered
//! in place and hashed where they live through `imghash-ceph`.
//!
//! - [`settings`]: AddCephBackupStorage's fields checked into the stored
//!   [`CephSettings`](imghash_store::CephSettings), and those into a librados configuration.
//! - [`Clusters`]: one cached connection per storage, dropped after any failure that may
//!   mean it is dead, so the next request connects afresh.
//! - [`storage`]: AddCephBackupStorage: connect, check the pool, measure the capacity.
//! - [`rbd`]: AddImage's `ceph://` urls, and the input CalculateImageHash hashes.
//!
//! Every librados call here blocks for at most the server's `--ceph-timeout` (monitors and
//! OSDs that do not answer fail instead of hanging), and runs on tokio's blocking threads
//! or inside a hash job, never on the runtime's workers.

mod clusters;
mod rbd;
mod settings;
mod storage;

use std::path::PathBuf;
use std::time::Duration;

use imghash_ceph::{Cluster, ClusterConfig, RbdSource, RbdSpec};
use imghash_engine::{ChunkSink, ContentSource, HashJob, ImageFormat, Report};

pub use clusters::Clusters;
pub use rbd::{measure, rbd_input, RbdInput};
pub use storage::probe_storage;

use crate::app::error::capitalise;
use crate::app::ApiError;

/// Maps a failure of the Ceph cluster or of opening an RBD image (the image and pool are
/// named in the sentence):
/// - the cluster unreachable, a request timed out, the pool missing, or an image layout
///   that cannot be hashed in place: SYS.1006 FAILED_PRECONDITION (the storage is unusable);
/// - the image or snapshot missing: SYS.1003 NOT_FOUND;
/// - a malformed `ceph://` address: SYS.1007;
/// - any other failed request to the cluster: SYS.1016 UNAVAILABLE (a network storage's
///   failures are usually transient, unlike a local file's).
fn from_ceph(err: &imghash_ceph::CephError) -> ApiError {
    use imghash_ceph::ErrorKind;
    let sentence = capitalise(&err.to_string());
    match err.kind() {
        ErrorKind::InvalidRequest => ApiError::InvalidArgument(sentence),
        ErrorKind::StorageUnusable | ErrorKind::Unsupported => {
            ApiError::FailedPrecondition(sentence)
        }
        ErrorKind::NotFound => ApiError::NotFound(sentence),
        ErrorKind::Io => ApiError::FileUnavailable(sentence),
    }
}

/// Hashes the RBD image `address` for `imghash sum`/`check`/`diff`, its chunk digests
/// going to `sink`: its bytes, or with `content` the disk it holds (a qcow2 stored in
/// RBD), of `content`'s format or, with `Some(None)`, the one its first bytes show.
pub fn hash_address(
    job: &HashJob,
    address: &str,
    conf: Option<PathBuf>,
    client_id: &str,
    timeout: Duration,
    content: Option<Option<ImageFormat>>,
    sink: &mut dyn ChunkSink,
) -> anyhow::Result<Report> {
    let spec: RbdSpec = address.parse()?;
    let config = ClusterConfig {
        conf_path: conf,
        client_id: client_id.to_string(),
        timeout,
        ..ClusterConfig::default()
    };
    let cluster = Cluster::connect(&config)?;
    let source = RbdSource::open(&cluster, &spec)?;
    let Some(format) = content else {
        return Ok(job.hash_source_with(&source, sink)?);
    };
    let disk = ContentSource::from_source(Box::new(source), format)?;
    Ok(job.hash_source_with(&disk, sink)?)
}
