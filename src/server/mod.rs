//! The gRPC front: ZStack's `CalculateImageHash` and the surface around it (accounts,
//! backup storages, images), on top of the hashing engine and the SQLite inventory.
//!
//! # Design
//!
//! - [`run`] is the whole server as a library function (mini-redis style): it takes a bound
//!   listener and a shutdown future, so tests start it on `127.0.0.1:0`; `imghash serve`
//!   ([`serve`]) is thin glue around it.
//! - Every failure is an [`ApiError`], turned into a `tonic::Status` in exactly one place
//!   (`impl From<ApiError> for tonic::Status`) that puts the ZStack `ErrorCode` in the details.
//! - Hashing never runs on tokio's threads: [`jobs`] owns a dedicated rayon pool, bounds how
//!   many jobs run and wait, shares identical concurrent requests, and cancels a job once no
//!   request waits for it any more.
//! - Store calls are synchronous and short; they run on tokio's blocking threads.
//! - Backup storages are "Local" (a directory) or, with the cargo feature `ceph`, "Ceph"
//!   (a pool of RBD images hashed in place, module `ceph`). The contract is the same
//!   either way; a build without the feature answers Ceph calls with SYS.1006 UNIMPLEMENTED.
//! - Logins back off per account after repeated failures ([`LoginLimits`]); TLS (rustls) is
//!   served when [`ServerConfig::tls`] holds a certificate and key.

mod accounts;
mod auth;
mod backup_storage;
mod calculate;
#[cfg(feature = "ceph")]
mod ceph;
mod ceph_mons;
mod config;
mod context;
mod error;
mod images;
mod import;
mod inventory;
mod jobs;
mod login_limit;
pub mod proto;
mod run;
pub mod serve;
mod validate;

pub use config::{LoginLimits, ServerConfig, TlsIdentity, DEFAULT_CEPH_TIMEOUT};
pub use error::ApiError;
pub use run::run;
