//! Integration tests of the gRPC front: a real server on 127.0.0.1:0 per test, driven with a
//! tonic client (and with the real `grpcurl` in `grpcurl.rs`). Expected digests come from the
//! md5sum/sha256sum binaries; images are real qcow2 files from qemu-img and random raw files.

mod api;
mod bad_input;
#[cfg(feature = "ceph")]
mod ceph;
#[cfg(feature = "ceph")]
mod ceph_content;
mod confinement;
mod connections;
mod content;
mod copies;
mod database;
mod errors;
mod faults;
mod grpcurl;
mod harness;
mod inventory;
mod jobs;
mod login;
mod multi;
#[cfg(feature = "ceph")]
mod multi_jobs;
mod multi_local;
mod private_files;
mod queries;
mod restart;
mod security;
mod sharing;
mod tmpfs;
