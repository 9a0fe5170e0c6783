//! # imghash-ceph
//!
//! Hash Ceph RBD images where they live. [`RbdSource`] reads an image's data objects
//! straight from RADOS (several at once, ahead of the hashers) and reports objects that do
//! not exist as holes, so the engine never reads them; it plugs into
//! [`imghash_engine::HashJob::hash_source`] like a local file.
//!
//! ```no_run
//! use imghash_ceph::{Cluster, ClusterConfig, RbdSource, RbdSpec};
//! use imghash_engine::{Algorithm, HashJob};
//!
//! let cluster = Cluster::connect(&ClusterConfig::default())?;
//! let spec: RbdSpec = "ceph://zs-images/f0b1@base".parse()?;
//! let source = RbdSource::open(&cluster, &spec)?;
//! let report = HashJob::new([Algorithm::Md5])?.hash_source(&source)?;
//! println!("{}", report.get(Algorithm::Md5).unwrap().value());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod cluster;
mod error;
mod header;
mod source;
mod spec;
mod window;

pub use cluster::{Cluster, ClusterConfig, Pool};
pub use error::{CephError, ErrorKind, Result};
pub use header::ImageLayout;
pub use source::RbdSource;
pub use spec::{RbdSpec, SCHEME};
