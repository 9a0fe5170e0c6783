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
//! that changes while it is hashed.
//!
//! # Hashing a file
//!
//! ```
//! use imghash_engine::{Algorithm, HashJob};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("disk.img");
//! # std::fs::write(&path, b"abc").unwrap();
//! let job = HashJob::new([Algorithm::Md5, Algorithm::Sha256])?;
//! let report = job.hash_file(&path)?;
//! assert_eq!(report.get(Algorithm::Md5).unwrap().value(), "900150983cd24fb0d6963f7d28e17f72");
//! # Ok::<(), imghash_engine::Error>(())
//! ```
//!
//! Settings go through [`HashJob::builder`] and are checked once, by
//! [`build`](HashJobBuilder::build), with an [`Error::InvalidSetting`] naming the setting.
//!
//! # Jobs in the background
//!
//! [`HashJob::start_file`] (and [`start`](HashJob::start) for any closure) runs a job on
//! a thread of its own and returns a [`JobHandle`]: progress, cancel, cancel on drop, a
//! blocking [`wait`](JobHandle::wait), a non-blocking [`try_wait`](JobHandle::try_wait),
//! and [`Future`](std::future::Future) for any async runtime (the engine depends on none).
//!
//! ```
//! # use imghash_engine::{Algorithm, HashJob};
//! let job = HashJob::new([Algorithm::Sha256])?;
//! let handle = job.start_reader(std::io::repeat(0)); // never ends by itself
//! while handle.progress().done() == 0 {
//!     std::thread::yield_now();
//! }
//! handle.cancel();
//! assert!(matches!(handle.wait(), Err(imghash_engine::Error::Cancelled)));
//! # Ok::<(), imghash_engine::Error>(())
//! ```
//!
//! # Chunk digests as they are made
//!
//! A [`ChunkSink`] receives the chunk digests of the chunked constructions in chunk order
//! while the job runs, and may fail, which stops the job with [`Error::Sink`];
//! [`manifest::ManifestWriter`] is one.
//!
//! # Threads
//!
//! The engine never uses rayon's global pool. Give it yours with
//! [`HashJobBuilder::pool`], built with the [`rayon`] this crate re-exports so that the
//! versions match, or let each job build one of [`HashJobBuilder::threads`].
//!
//! The crate's `examples/` directory has a file hashed with progress, a service running
//! jobs in the background and cancelling one, and a manifest written through the sink.
#![deny(missing_docs)]

mod aggregate;
mod algorithm;
mod buffers;
mod calibrate;
mod chunked;
mod consumers;
mod content;
mod control;
mod error;
mod handle;
mod job;
pub mod manifest;
mod mapping;
mod outer;
mod reader;
mod sink;
mod size;
mod source;
mod stream;
pub mod tuning;

pub use algorithm::Algorithm;
pub use content::{ContentSource, ImageFormat};
pub use control::{CancelToken, Progress};
pub use error::{Error, Result, Setting};
pub use handle::JobHandle;
pub use job::{Digest, HashJob, HashJobBuilder, Report, DEFAULT_BLOCK_SIZE};
pub use sink::{ChunkDigest, ChunkSink, SinkError};
pub use size::{format_size, parse_chunk_size, GIB, KIB, MAX_CHUNK_SIZE, MIB, MIN_CHUNK_SIZE};
pub use source::{FileSource, Source};

/// The rayon this crate is built with, for [`HashJobBuilder::pool`]: a pool built with it
/// always has the type the engine expects, whatever rayon version the caller depends on.
pub use rayon;

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
