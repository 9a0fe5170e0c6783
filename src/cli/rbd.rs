//! `ceph://POOL/IMAGE[@SNAP]` inputs: RBD images hashed in place (cargo feature `ceph`).

use imghash_engine::{HashJob, Report};

use super::ReadMode;

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

/// True if `name` names an RBD image rather than a file.
pub fn is_rbd_address(name: &str) -> bool {
    name.starts_with("ceph://")
}

/// Hashes the RBD image `address` with `job`.
#[cfg(feature = "ceph")]
pub fn hash(
    job: &HashJob,
    address: &str,
    options: &CephOptions,
    mode: ReadMode,
) -> anyhow::Result<Report> {
    use imghash_ceph::{Cluster, ClusterConfig, RbdSource, RbdSpec};
    let spec: RbdSpec = address.parse()?;
    let config = ClusterConfig {
        conf_path: options.ceph_conf.clone(),
        client_id: options.ceph_id.clone(),
        timeout: std::time::Duration::from_secs(options.ceph_timeout),
        ..ClusterConfig::default()
    };
    let cluster = Cluster::connect(&config)?;
    let source = RbdSource::open(&cluster, &spec)?;
    match mode {
        ReadMode::File => Ok(job.hash_source(&source)?),
        // A qcow2 or vmdk stored in RBD: its guest disk (backing files cannot be followed).
        ReadMode::Content(format) => {
            let disk = imghash_engine::ContentSource::from_source(Box::new(source), format)?;
            Ok(job.hash_source(&disk)?)
        }
    }
}

/// Without the `ceph` feature there is no librados to read RBD images with.
#[cfg(not(feature = "ceph"))]
pub fn hash(
    _job: &HashJob,
    address: &str,
    _options: &CephOptions,
    _mode: ReadMode,
) -> anyhow::Result<Report> {
    anyhow::bail!(
        "{address}: this imghash was built without Ceph support \
         (rebuild with `cargo build --release --features ceph`)"
    )
}
