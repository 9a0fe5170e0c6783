//! The gRPC transport: tonic services that mirror ZStack's API (package `zstack.v1`) over
//! the application layer (`crate::app`).
//!
//! A handler decodes the request into the application's typed request ([`decode`]), calls
//! one method of [`App`](crate::app::App), and encodes the result as ZStack's inventories
//! ([`inventory`]); a failure becomes a `tonic::Status` in one place ([`status`]). The
//! session comes from the `authorization` metadata and the deadline from `grpc-timeout`
//! ([`metadata`]). [`run`] serves them, with health and reflection, until shut down.

mod accounts;
mod backup_storages;
mod decode;
pub mod forwarding;
mod images;
mod inventory;
mod metadata;
mod observe;
pub mod proto;
mod server;
mod status;

pub use forwarding::api_error;
pub use server::{run, serve};
pub use status::ERROR_CODE_TYPE_URL;
