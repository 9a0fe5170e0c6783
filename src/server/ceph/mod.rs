//! Ceph backup storages (cargo feature `ceph`): RBD images in one pool of a cluster,
//! registered in place and hashed where they live through `imghash-ceph`.
//!
//! - [`settings`]: AddCephBackupStorage's fields checked into the stored
//!   [`CephSettings`](imghash_store::CephSettings), and those into a librados configuration.
//! - [`Clusters`]: one cached connection per storage, dropped after any failure that may
//!   mean it is dead, so the next request connects afresh.
//! - [`storage`]: AddCephBackupStorage: connect, check the pool, then record.
//! - [`rbd`]: AddImage's `ceph://` urls, and the job input CalculateImageHash hashes.
//!
//! Every librados call here blocks for at most the server's `--ceph-timeout` (monitors and
//! OSDs that do not answer fail instead of hanging), and runs on tokio's blocking threads
//! or inside a hash job, never on the runtime's workers.

mod clusters;
pub mod rbd;
pub mod settings;
pub mod storage;

pub use clusters::Clusters;
