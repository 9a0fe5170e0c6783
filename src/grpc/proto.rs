//! The generated gRPC contract (`proto/zstack/v1`, package `zstack.v1`).

#![allow(
    missing_docs,
    clippy::doc_lazy_continuation,
    clippy::large_enum_variant
)]

tonic::include_proto!("zstack.v1");

/// The encoded `FileDescriptorSet` of every `.proto` file, served by gRPC reflection so that
/// `grpcurl list` / `describe` work with no `.proto` files at hand.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("zstack_descriptor");
