//! A hash job: which digests, how many threads, and the run that reads once for all of them.
//!
//! This module holds the job, its entry points and its results; [`builder`] checks its
//! settings. How a job is carried out is split
//! by concern: [`strategy`] chooses how to read and hash an input, [`run`] prepares and
//! finishes a run, and each strategy's body has a module of its own ([`inline`],
//! [`handoff`], [`split_read`], [`parallel`]).

mod builder;
mod feed;
mod handoff;
mod inline;
mod mapped;
mod parallel;
mod probe;
mod run;
mod split_read;
mod strategy;
mod units;

pub use builder::HashJobBuilder;
pub(crate) use strategy::too_close_to_call;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rayon::ThreadPool;

use crate::chunked::{base_algorithm, render};
use crate::control::{CancelToken, Progress};
use crate::error::Result;
use crate::reader::Input;
use crate::sink::{wanted_by, with_sink, ChunkRoute, ChunkSink};
use crate::size::KIB;
use crate::source::{FileInput, SliceSource, Source};
use crate::tuning::{Choice, ReadStrategy};
use crate::Algorithm;

/// Read size: small enough that a buffer stays in L1/L2 between the copy and the hash,
/// large enough that system calls cost little. (An earlier measurement of 128 KiB reads
/// being 3-4x slower came from unaligned buffers, not from the size; with 64-byte aligned
/// buffers 64, 128 and 256 KiB measured within noise of each other.)
pub const DEFAULT_BLOCK_SIZE: usize = 64 * KIB as usize;

/// A finished checksum.
///
/// Fields are public to read; the type is `#[non_exhaustive]`, so that fields can be added
/// without breaking callers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
///
/// Fields are public to read; the type is `#[non_exhaustive]`, so that fields can be added
/// without breaking callers: only the engine makes one.
///
/// ```compile_fail
/// let report = imghash_engine::Report {
///     digests: Vec::new(),
///     bytes: 0,
///     elapsed: std::time::Duration::ZERO,
/// };
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// One digest per requested algorithm, in request order.
    pub digests: Vec<Digest>,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time of the job.
    pub elapsed: Duration,
    /// How the input was read: the strategy forced or chosen (for [`ReadStrategy::Mapped`]
    /// chosen by the engine, [`ReadStrategy::Inline`] if the probe found reading faster).
    pub strategy: ReadStrategy,
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
/// let job = HashJob::builder([Algorithm::Md5, Algorithm::MerkleSha256])
///     .threads(2)
///     .build()?;
/// let report = job.hash_reader(&mut &b"abc"[..])?;
/// assert_eq!(report.digests[0].value(), "900150983cd24fb0d6963f7d28e17f72");
/// # Ok::<(), imghash_engine::Error>(())
/// ```
///
/// A job is made by [`HashJob::new`] or [`HashJob::builder`], which check every setting;
/// it is cheap to clone, and its clones share the thread pool it builds on first need.
/// Runs are blocking (`hash_*`) or in the background ([`start_file`](HashJob::start_file)
/// and its siblings, which return a [`JobHandle`](crate::JobHandle)).
#[derive(Clone)]
pub struct HashJob {
    algorithms: Vec<Algorithm>,
    chunk_size: Option<u64>,
    threads: Threads,
    block_size: Option<usize>,
    detect_holes: bool,
    strategy: ReadStrategy,
    progress: Progress,
    /// True once [`progress`](Self::progress) was called: background runs then count on
    /// that counter rather than on one of their own.
    progress_given: bool,
    cancel: CancelToken,
    /// Set only on the job of one run with a sink (see `run_with`).
    chunks: Option<ChunkRoute>,
}

impl HashJob {
    /// What this job would do with an input of `len` bytes (`None` for a stream) that is
    /// not a local file: the read strategy and each algorithm's digest core. Measures the
    /// machine first if no job has yet (a few milliseconds, once per process). A local
    /// file may be read another way ([`ReadStrategy::Mapped`]): [`Report::strategy`] says
    /// what a run did.
    ///
    /// ```
    /// use imghash_engine::{tuning::ReadStrategy, Algorithm, HashJob};
    /// let job = HashJob::builder([Algorithm::Md5])
    ///     .read_strategy(ReadStrategy::Inline)
    ///     .build()?;
    /// assert_eq!(job.choice(Some(1 << 30))?.strategy, ReadStrategy::Inline);
    /// # Ok::<(), imghash_engine::Error>(())
    /// ```
    pub fn choice(&self, len: Option<u64>) -> Result<Choice> {
        let read_size = self.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
        let input = strategy::InputKind {
            len,
            mappable: false,
        };
        let strategy = strategy::choose(self, input, read_size, crate::calibrate::strategy_times)?;
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

    /// Report progress through this counter (each run restarts it; concurrent runs of one
    /// job would share it: a [`JobHandle`](crate::JobHandle) has one of its own).
    pub fn progress(mut self, progress: &Progress) -> HashJob {
        self.progress = progress.clone();
        self.progress_given = true;
        self
    }

    /// Stop every run of this job (and of its clones) when `token` is cancelled.
    ///
    /// A token stays cancelled: once it is, every run returns [`Error::Cancelled`] at
    /// once. To stop a single run and keep the job, run it with [`start_file`] and
    /// cancel its handle, or give the job a fresh token.
    ///
    /// [`start_file`]: HashJob::start_file
    /// [`Error::Cancelled`]: crate::Error::Cancelled
    pub fn cancel(mut self, token: &CancelToken) -> HashJob {
        self.cancel = token.clone();
        self
    }

    /// Hashes the file at `path` as `md5sum` would: regular files and block devices
    /// positionally, skipping holes; fifos, character devices and kernel pseudo-files
    /// (whose size is not their length) as streams to their end (`/dev/zero` ends only
    /// when cancelled).
    pub fn hash_file(&self, path: impl AsRef<Path>) -> Result<Report> {
        self.hash_file_with(path, &mut ())
    }

    /// Hashes any [`Source`].
    pub fn hash_source(&self, source: &dyn Source) -> Result<Report> {
        self.hash_source_with(source, &mut ())
    }

    /// Hashes a stream to its end (stdin, a pipe). Holes cannot be detected in a stream.
    pub fn hash_reader(&self, reader: &mut dyn Read) -> Result<Report> {
        self.hash_reader_with(reader, &mut ())
    }

    /// Hashes bytes in memory. Like a file, and unlike a stream, a slice is read at any
    /// offset, so its chunked constructions are hashed in parallel.
    ///
    /// ```
    /// use imghash_engine::{Algorithm, HashJob};
    /// let report = HashJob::new([Algorithm::Md5])?.hash_slice(b"abc")?;
    /// assert_eq!(report.digests[0].value(), "900150983cd24fb0d6963f7d28e17f72");
    /// # Ok::<(), imghash_engine::Error>(())
    /// ```
    pub fn hash_slice(&self, data: &[u8]) -> Result<Report> {
        self.hash_slice_with(data, &mut ())
    }

    /// [`hash_file`](Self::hash_file), handing every chunk digest to `sink` in order.
    pub fn hash_file_with(
        &self,
        path: impl AsRef<Path>,
        sink: &mut dyn ChunkSink,
    ) -> Result<Report> {
        match FileInput::open(path.as_ref())? {
            FileInput::Positional(source) if !source.is_empty() => {
                self.hash_source_with(&source, sink)
            }
            input => {
                let mut stream = input.into_stream();
                let report = self.hash_reader_with(&mut stream.file, sink);
                report.map_err(|e| stream.name_read_error(e))
            }
        }
    }

    /// [`hash_source`](Self::hash_source), handing every chunk digest to `sink` in order.
    pub fn hash_source_with(
        &self,
        source: &dyn Source,
        sink: &mut dyn ChunkSink,
    ) -> Result<Report> {
        self.run_with(Input::Source(source), sink)
    }

    /// [`hash_reader`](Self::hash_reader), handing every chunk digest to `sink` in order.
    pub fn hash_reader_with(
        &self,
        reader: &mut dyn Read,
        sink: &mut dyn ChunkSink,
    ) -> Result<Report> {
        self.run_with(Input::Stream(reader), sink)
    }

    /// [`hash_slice`](Self::hash_slice), handing every chunk digest to `sink` in order.
    pub fn hash_slice_with(&self, data: &[u8], sink: &mut dyn ChunkSink) -> Result<Report> {
        self.hash_source_with(&SliceSource(data), sink)
    }

    /// The requested algorithms, in request order, without duplicates.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// A run with `sink`: on a job whose clone sends the wanted chunks to the sink's
    /// thread and stops on a token of the run's own, which a failing sink cancels.
    fn run_with(&self, input: Input<'_>, sink: &mut dyn ChunkSink) -> Result<Report> {
        let wanted = wanted_by(sink, &self.algorithms);
        if wanted.is_empty() {
            return self.run(input);
        }
        let stop = self.cancel.child();
        with_sink(sink, wanted, &stop, |chunks| {
            let run = HashJob {
                cancel: stop.clone(),
                chunks: Some(chunks),
                ..self.clone()
            };
            run.run(input)
        })
    }

    /// The job a background run uses: a token of its own under the job's, and a progress
    /// counter of its own unless the job was given one. Returns them too, for the handle.
    pub(crate) fn for_run(&self) -> (HashJob, CancelToken, Progress) {
        let cancel = self.cancel.child();
        let progress = if self.progress_given {
            self.progress.clone()
        } else {
            Progress::new()
        };
        let run = HashJob {
            cancel: cancel.clone(),
            progress: progress.clone(),
            ..self.clone()
        };
        (run, cancel, progress)
    }

    /// The chunk size `algorithm` uses in this job; `None` for standard digests.
    pub fn chunk_size_of(&self, algorithm: Algorithm) -> Option<u64> {
        match self.chunk_size {
            Some(size) if algorithm.has_selectable_chunk_size() => Some(size),
            _ => algorithm.default_chunk_size(),
        }
    }

    /// Threads the job may use for hashing.
    fn thread_count(&self) -> usize {
        match &self.threads {
            Threads::Count(n, _) => *n,
            Threads::Pool(pool) => pool.current_num_threads(),
        }
    }
}
