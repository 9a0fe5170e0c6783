//! imghash: checksums of virtual-machine disk images from the command line, and a server
//! with the request and response shapes of ZStack's `CalculateImageHash`.
//!
//! The hashing itself lives in the `imghash-engine` crate and the inventory in
//! `imghash-store`. This package is four parts (see `docs/architecture.md`):
//! - [`app`]: the application layer, ZStack's workflows with typed requests and results;
//! - [`grpc`]: the gRPC transport over it ([`run`] serves it, and tests start it on
//!   `127.0.0.1:0`);
//! - [`cli`]: the command line (`sum`, `check`, `diff`, `serve`);
//! - `ceph`: the facade over Ceph RBD (cargo feature `ceph`), the one place that feature is
//!   switched.

pub mod app;
mod ceph;
pub mod cli;
mod fronts;
pub mod grpc;
pub mod metrics;
pub mod net;
pub mod request_log;
pub mod rest;

pub use app::{DatabaseUrl, ServerConfig, TlsIdentity};
pub use fronts::{run_fronts, RestFront};
pub use grpc::run;
