//! # imghash-engine
//!
//! Checksums of large disk images as fast as the machine allows.
//!
//! One [`HashJob`] reads its input once, through a reader that runs ahead of the hashers
//! with a small pool of reusable buffers (so memory stays a few MiB whatever the
//! image size), and feeds every requested digest from the same buffers:
//!
//! - standard digests ([`Algorithm::Md5`], SHA-*, XXH*) are inherently sequential and each
//!   get a thread of their own, so several of them cost about as much as the slowest;
//! - BLAKE3 and the chunked constructions (Merkle, blkhash, Glacier, S3) hash their
//!   chunks in parallel on a rayon pool that the caller provides or sizes.
//!
//! Inputs are [`Source`]s: anything with a length and positional reads. The local
//! [`FileSource`] skips holes of sparse files (`SEEK_DATA`/`SEEK_HOLE`) and notices a file
//! that changes while it is hashed. Jobs report [`Progress`] and stop on a [`CancelToken`].
//!
//! ```
//! use imghash_engine::{Algorithm, HashJob};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("disk.img");
//! # std::fs::write(&path, b"abc").unwrap();
//! let report = HashJob::new([Algorithm::Md5, Algorithm::Sha256]).hash_file(&path)?;
//! assert_eq!(report.get(Algorithm::Md5).unwrap().value(), "900150983cd24fb0d6963f7d28e17f72");
//! # Ok::<(), imghash_engine::Error>(())
//! ```
#![warn(missing_docs)]

mod algorithm;
mod chunked;
mod consumers;
mod content;
mod control;
mod error;
mod job;
pub mod manifest;
mod parallel;
mod pipeline;
mod size;
mod source;
mod stream;

pub use algorithm::Algorithm;
pub use content::{ContentSource, ImageFormat};
pub use control::{CancelToken, Progress};
pub use error::{Error, Result};
pub use job::{ChunkCallback, ChunkDigest, Digest, HashJob, Report, DEFAULT_BLOCK_SIZE};
pub use size::{format_size, parse_chunk_size, GIB, KIB, MAX_CHUNK_SIZE, MIB};
pub use source::{FileSource, Source};

/// Lower-case hex of `bytes`, as checksum tools print digests.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
