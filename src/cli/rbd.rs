//! `ceph://POOL/IMAGE[@SNAP]` inputs: RBD images hashed in place (cargo feature `ceph`).

use imghash_engine::{ChunkSink, HashJob, Report};

use super::HashOptions;

/// How to reach the Ceph cluster for `ceph://` inputs.
#[derive(clap::Args, Clone)]
pub struct CephOptions {
    /// ceph.conf for ceph:// inputs (default: librados's search, e.g. /etc/ceph/ceph.conf).
    #[arg(long, value_name = "PATH", env = "CEPH_CONF")]
    pub ceph_conf: Option<std::path::PathBuf>,
    /// Ceph client id for ceph:// inputs (`admin` means client.admin).
    #[arg(long, value_name = "ID", default_value = "admin")]
    pub ceph_id: String,
    /// Seconds to wait for Ceph monitors and OSDs before failing.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub ceph_timeout: u64,
}

/// Hashes the RBD image `address` with `job` (with `--content`, the disk it holds), its
/// chunk digests going to `sink` (through the Ceph facade, which says so if this build has
/// no Ceph support).
pub fn hash(
    job: &HashJob,
    address: &str,
    options: &HashOptions,
    sink: &mut dyn ChunkSink,
) -> anyhow::Result<Report> {
    let ceph = &options.ceph;
    crate::ceph::hash_address(
        job,
        address,
        ceph.ceph_conf.clone(),
        &ceph.ceph_id,
        std::time::Duration::from_secs(ceph.ceph_timeout),
        options.content.then_some(options.image_format),
        sink,
    )
}
