//! imghash: checksums of virtual-machine disk images, served over gRPC with the request and
//! response shapes of ZStack's `CalculateImageHash`.
//!
//! The hashing itself lives in the `imghash-engine` crate and the inventory in `imghash-store`;
//! this library is the gRPC front ([`server`]), which `imghash serve` runs and integration
//! tests start on `127.0.0.1:0`.

pub mod server;
