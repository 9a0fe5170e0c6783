//! A hash job: which digests, how many threads, and the run that reads once for all of them.
//!
//! This module holds the job's settings and its results. How a job is carried out is split
//! by concern: [`strategy`] chooses how to read and hash an input, [`run`] prepares and
//! finishes a run, and each strategy's body has a module of its own ([`inline`],
//! [`handoff`], [`split_read`], [`parallel`]).

mod feed;
mod handoff;
mod inline;
mod parallel;
mod run;
mod split_read;
mod strategy;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rayon::ThreadPool;

use crate::chunked::{base_algorithm, render};
use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::reader::Input;
use crate::size::KIB;
use crate::source::{FileInput, Source};
use crate::tuning::{Choice, ReadStrategy};
use crate::Algorithm;

/// Read size: small enough that a buffer stays in L1/L2 between the copy and the hash,
/// large enough that system calls cost little. (An earlier measurement of 128 KiB reads
/// being 3-4x slower came from unaligned buffers, not from the size; with 64-byte aligned
/// buffers 64, 128 and 256 KiB measured within noise of each other.)
pub const DEFAULT_BLOCK_SIZE: usize = 64 * KIB as usize;

/// The digest of one chunk, for manifests: where it lies and its digest bytes (the leaf
/// value the construction aggregates, e.g. `H(0x00 ‖ chunk)` for Merkle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkDigest {
    /// Byte offset of the chunk.
    pub offset: u64,
    /// Chunk length (the last chunk may be shorter).
    pub len: u64,
    /// The chunk's digest.
    pub digest: Vec<u8>,
}

/// Called with every chunk digest of every chunked algorithm, in chunk order per algorithm.
pub type ChunkCallback = Arc<dyn Fn(Algorithm, &ChunkDigest) + Send + Sync>;

/// A finished checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// What was computed.
    pub algorithm: Algorithm,
    /// The chunk (part) size used, for chunked constructions.
    pub chunk_size: Option<u64>,
    /// The raw digest bytes.
    pub bytes: Vec<u8>,
    /// The number of parts, for the S3 constructions' `-N` suffix.
    pub parts: Option<u64>,
}

impl Digest {
    /// The value as the reference tool prints it (hex; `hex-N` or `base64-N` for S3).
    pub fn value(&self) -> String {
        render(self.algorithm, &self.bytes, self.parts)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value())
    }
}

/// What a job produced.
#[derive(Clone, Debug)]
pub struct Report {
    /// One digest per requested algorithm, in request order.
    pub digests: Vec<Digest>,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time of the job.
    pub elapsed: Duration,
}

impl Report {
    /// The digest for `algorithm`, if it was requested.
    pub fn get(&self, algorithm: Algorithm) -> Option<&Digest> {
        self.digests.iter().find(|d| d.algorithm == algorithm)
    }
}

/// Where the hashing threads come from.
#[derive(Clone)]
enum Threads {
    /// A pool of this many threads, built when a run first needs one (most never do: only
    /// BLAKE3 and the parallel mode use it, and starting idle workers measured ~4 ms of
    /// CPU) and then shared by the job's clones, so a run over many files builds one.
    Count(usize, Arc<OnceLock<Arc<ThreadPool>>>),
    /// The caller's pool.
    Pool(Arc<ThreadPool>),
}

/// Computes any number of checksums of one input in one read.
///
/// Sequential digests (MD5, SHA-*, XXH*) each run on their own thread, except a lone fast
/// one (XXH*): two threads then share the reading and one of them hashes every block in
/// order while it is in cache. BLAKE3 and the
/// chunked constructions of a file are hashed in parallel on a rayon pool that the caller
/// provides or sizes — the engine never uses rayon's global pool. With MD5 in the set, the
/// job takes about as long as MD5 alone (≈0.7 GB/s a core): the others run alongside it.
///
/// ```
/// use imghash_engine::{Algorithm, HashJob};
/// let report = HashJob::new([Algorithm::Md5, Algorithm::MerkleSha256])
///     .threads(2)
///     .hash_reader(&mut &b"abc"[..])
///     .unwrap();
/// assert_eq!(report.digests[0].value(), "900150983cd24fb0d6963f7d28e17f72");
/// ```
#[derive(Clone)]
pub struct HashJob {
    algorithms: Vec<Algorithm>,
    chunk_size: Option<u64>,
    threads: Threads,
    block_size: Option<usize>,
    detect_holes: bool,
    strategy: ReadStrategy,
    progress: Progress,
    cancel: CancelToken,
    on_chunk: Option<ChunkCallback>,
}

impl HashJob {
    /// A job computing `algorithms` (duplicates are ignored), on as many threads as the
    /// machine has cores, with each construction's default chunk size.
    pub fn new(algorithms: impl IntoIterator<Item = Algorithm>) -> HashJob {
        let mut unique = Vec::new();
        for alg in algorithms {
            if !unique.contains(&alg) {
                unique.push(alg);
            }
        }
        HashJob {
            algorithms: unique,
            chunk_size: None,
            threads: Threads::Count(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                Arc::default(),
            ),
            block_size: None,
            detect_holes: true,
            strategy: ReadStrategy::Auto,
            progress: Progress::new(),
            cancel: CancelToken::new(),
            on_chunk: None,
        }
    }

    /// The chunk (part) size for every chunked construction that lets the caller choose
    /// (see [`parse_chunk_size`](crate::parse_chunk_size)). Glacier's is fixed at 1 MiB:
    /// asking it for another size is an error when the job runs.
    pub fn chunk_size(mut self, size: u64) -> HashJob {
        self.chunk_size = Some(size);
        self
    }

    /// Hash on a new pool of `n` threads (at least 1), built when first needed and shared
    /// by this job's clones.
    pub fn threads(mut self, n: usize) -> HashJob {
        self.threads = Threads::Count(n.max(1), Arc::default());
        self
    }

    /// Hash on the caller's rayon pool (e.g. a server's dedicated hashing pool).
    pub fn pool(mut self, pool: Arc<ThreadPool>) -> HashJob {
        self.threads = Threads::Pool(pool);
        self
    }

    /// The read size (default 256 KiB). Results never depend on it.
    pub fn block_size(mut self, bytes: usize) -> HashJob {
        self.block_size = Some(bytes.max(1));
        self
    }

    /// Whether to ask the source where its holes are and skip reading them (default on).
    /// Results never depend on it.
    pub fn detect_holes(mut self, on: bool) -> HashJob {
        self.detect_holes = on;
        self
    }

    /// How to read the input and feed the digests (default [`ReadStrategy::Auto`]: what
    /// the engine measured fastest on this machine, see [`tuning`](crate::tuning)).
    /// Results never depend on it; a strategy that cannot apply to a job's algorithms or
    /// input (e.g. [`ReadStrategy::SplitRead`] on a stream) makes the run fail with
    /// [`Error::InvalidRequest`].
    pub fn read_strategy(mut self, strategy: ReadStrategy) -> HashJob {
        self.strategy = strategy;
        self
    }

    /// What this job would do with an input of `len` bytes (`None` for a stream): the read
    /// strategy and each algorithm's digest core. Measures the machine first if no job
    /// has yet (a few milliseconds, once per process).
    ///
    /// ```
    /// use imghash_engine::{tuning::ReadStrategy, Algorithm, HashJob};
    /// let job = HashJob::new([Algorithm::Md5]).read_strategy(ReadStrategy::Inline);
    /// assert_eq!(job.choice(Some(1 << 30))?.strategy, ReadStrategy::Inline);
    /// # Ok::<(), imghash_engine::Error>(())
    /// ```
    pub fn choice(&self, len: Option<u64>) -> Result<Choice> {
        self.validate()?;
        let read_size = self.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
        let strategy = strategy::choose(self, len, read_size, crate::calibrate::strategy_times)?;
        let core_of = |a: Algorithm| {
            let digest = if a.is_chunked() { base_algorithm(a) } else { a };
            crate::calibrate::fastest_core(digest)
        };
        let cores = self.algorithms.iter().map(|&a| (a, core_of(a))).collect();
        Ok(Choice {
            strategy: strategy.public(),
            cores,
        })
    }

    /// Report progress through this counter.
    pub fn progress(mut self, progress: &Progress) -> HashJob {
        self.progress = progress.clone();
        self
    }

    /// Stop when this token is cancelled.
    pub fn cancel(mut self, token: &CancelToken) -> HashJob {
        self.cancel = token.clone();
        self
    }

    /// Receive every chunk digest (to write a manifest).
    pub fn on_chunk(mut self, callback: ChunkCallback) -> HashJob {
        self.on_chunk = Some(callback);
        self
    }

    /// Hashes the file at `path` as `md5sum` would: regular files and block devices
    /// positionally, skipping holes; fifos, character devices and kernel pseudo-files
    /// (whose size is not their length) as streams to their end (`/dev/zero` ends only
    /// when cancelled).
    pub fn hash_file(&self, path: impl AsRef<Path>) -> Result<Report> {
        match FileInput::open(path.as_ref())? {
            FileInput::Positional(source) if !source.is_empty() => self.hash_source(&source),
            input => {
                let mut stream = input.into_stream();
                let report = self.hash_reader(&mut stream.file);
                report.map_err(|e| stream.name_read_error(e))
            }
        }
    }

    /// Hashes any [`Source`].
    pub fn hash_source(&self, source: &dyn Source) -> Result<Report> {
        self.run(Input::Source(source))
    }

    /// Hashes a stream to its end (stdin, a pipe). Holes cannot be detected in a stream.
    pub fn hash_reader(&self, reader: &mut dyn Read) -> Result<Report> {
        self.run(Input::Stream(reader))
    }

    /// The chunk size `algorithm` uses in this job; `None` for standard digests.
    pub fn chunk_size_of(&self, algorithm: Algorithm) -> Option<u64> {
        match self.chunk_size {
            Some(size) if algorithm.has_selectable_chunk_size() => Some(size),
            _ => algorithm.default_chunk_size(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.algorithms.is_empty() {
            return Err(Error::InvalidRequest("no algorithm requested".to_string()));
        }
        if let Some(size) = self.chunk_size {
            let default = Algorithm::GlacierSha256.default_chunk_size();
            if self.algorithms.contains(&Algorithm::GlacierSha256) && Some(size) != default {
                return Err(Error::InvalidRequest(format!(
                    "glacier-sha256 always uses 1MiB chunks; chunk size {} cannot apply",
                    crate::format_size(size)
                )));
            }
            if !self.algorithms.iter().any(|a| a.is_chunked()) {
                return Err(Error::InvalidRequest(format!(
                    "chunk size {} given, but none of {} is chunked",
                    crate::format_size(size),
                    self.algorithms
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Threads the job may use for hashing.
    fn thread_count(&self) -> usize {
        match &self.threads {
            Threads::Count(n, _) => *n,
            Threads::Pool(pool) => pool.current_num_threads(),
        }
    }
}
