//! Integration tests of the REST front: a real server (gRPC and REST over one application)
//! on 127.0.0.1:0 per test, driven with a real HTTP client (reqwest) and with `curl`.
//! Expected digests come from md5sum/sha256sum; images are random raw files and sparse files.

mod async_jobs;
mod bad_input;
mod curl;
#[allow(dead_code)]
#[path = "../server/harness.rs"]
mod grpc_harness;
mod harness;
#[allow(dead_code)]
#[path = "../server/inventory.rs"]
mod inventory;
mod restart;
mod routes;
mod sharing;
mod tls;
mod webhooks;
