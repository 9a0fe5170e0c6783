//! Compiles the gRPC contract in `proto/` with tonic-prost-build.
//!
//! protoc comes from the `protoc-bin-vendored` crate, so a fresh machine needs nothing
//! installed. A file descriptor set is written next to the generated code for gRPC
//! reflection (`grpcurl list` / `describe` without .proto files).

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/zstack/v1/error.proto",
    "proto/zstack/v1/account.proto",
    "proto/zstack/v1/backup_storage.proto",
    "proto/zstack/v1/image.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // tonic-prost-build runs whatever PROTOC names; a build script is single-threaded, so
    // setting it here races with nothing.
    std::env::set_var("PROTOC", protoc);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("zstack_descriptor.bin"))
        .compile_protos(PROTOS, &["proto"])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
