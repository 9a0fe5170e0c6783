//! The engine's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::Algorithm;

/// Everything that can go wrong while hashing.
///
/// Variants carry the path (or source description) and byte offset where known, so that a
/// caller can report exactly what failed without wrapping.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The algorithm name is not one imghash knows.
    #[error(
        "unknown algorithm \"{name}\"; known algorithms: {}",
        crate::Algorithm::names()
    )]
    UnknownAlgorithm {
        /// The name as given.
        name: String,
    },
    /// A chunk size could not be parsed or is out of range.
    #[error("invalid chunk size \"{value}\": {reason}")]
    InvalidChunkSize {
        /// The text as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A job setting is out of range or does not fit the requested algorithms; reported by
    /// [`HashJobBuilder::build`](crate::HashJobBuilder::build), before anything is read.
    #[error("invalid {setting} {value}: {reason}")]
    InvalidSetting {
        /// Which setting.
        setting: Setting,
        /// The value as given, e.g. `4MiB` or `0`.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The request is inconsistent (e.g. comparing manifests of different constructions).
    #[error("{0}")]
    InvalidRequest(String),
    /// The input could not be opened.
    #[error("cannot open {path}: {error}")]
    Open {
        /// The path as given.
        path: PathBuf,
        /// The underlying error (part of the message, so not also a `source()`).
        error: io::Error,
    },
    /// Reading failed at an offset.
    #[error("read error in {source_name} at offset {offset}: {error}")]
    Read {
        /// The path or description of the source.
        source_name: String,
        /// Byte offset of the failed read.
        offset: u64,
        /// The underlying error (part of the message, so not also a `source()`).
        error: io::Error,
    },
    /// The input changed while it was hashed (size or modification time), so any digest
    /// would describe no real state of it.
    #[error("{source_name} changed while it was hashed: {detail}")]
    Changed {
        /// The path or description of the source.
        source_name: String,
        /// What changed, e.g. "shrank from 100 to 50 bytes".
        detail: String,
    },
    /// An image's guest content cannot be read faithfully: its format is unsupported, it
    /// is encrypted, its backing file is missing, or its metadata is corrupt.
    #[error("{name}: cannot read the disk image: {reason}")]
    Image {
        /// The image file (in a backing chain, the one at fault).
        name: String,
        /// What is wrong, e.g. "the backing chain loops back to base.qcow2".
        reason: String,
    },
    /// The job was cancelled through its [`CancelToken`](crate::CancelToken).
    #[error("cancelled")]
    Cancelled,
    /// The [`ChunkSink`](crate::ChunkSink) returned an error; the job stopped there.
    #[error("chunk sink failed at the {algorithm} chunk at offset {offset}: {error}")]
    Sink {
        /// The construction whose chunk was refused.
        algorithm: Algorithm,
        /// Byte offset of that chunk.
        offset: u64,
        /// The sink's error (part of the message, so not also a `source()`).
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The thread pool could not be built.
    #[error("cannot start hashing threads: {0}")]
    ThreadPool(String),
    /// A chunk manifest could not be read.
    #[error("{name} line {line}: {reason}")]
    InvalidManifest {
        /// The manifest's path.
        name: String,
        /// The line number (from 1).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// A setting of [`HashJobBuilder`](crate::HashJobBuilder), as named in
/// [`Error::InvalidSetting`]; displayed as the builder method's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// The algorithms of the job.
    Algorithms,
    /// [`chunk_size`](crate::HashJobBuilder::chunk_size).
    ChunkSize,
    /// [`threads`](crate::HashJobBuilder::threads).
    Threads,
    /// [`block_size`](crate::HashJobBuilder::block_size).
    BlockSize,
    /// [`read_strategy`](crate::HashJobBuilder::read_strategy).
    ReadStrategy,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Setting::Algorithms => "algorithms",
            Setting::ChunkSize => "chunk_size",
            Setting::Threads => "threads",
            Setting::BlockSize => "block_size",
            Setting::ReadStrategy => "read_strategy",
        })
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
