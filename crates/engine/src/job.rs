//! A hash job: which digests, how many threads, and the run that reads once for all of them.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rayon::ThreadPool;

use crate::chunked::{render, BLAKE3_SUBTREE};
use crate::consumers::{chunked_digest, stream_digest, ChunkedDigest};
use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::parallel::UnitPlan;
use crate::pipeline::{feed_zeros, Block, BufferPool, Input, ReadPlan};
use crate::size::{KIB, MAX_CHUNK_SIZE, MIB};
use crate::source::{FileSource, Source};
use crate::stream::StreamHasher;
use crate::Algorithm;

/// Read size: small enough that a buffer stays in L1/L2 between the copy and the hash,
/// large enough that system calls cost little. (An earlier measurement of 128 KiB reads
/// being 3-4x slower came from unaligned buffers, not from the size; with 64-byte aligned
/// buffers 64, 128 and 256 KiB measured within noise of each other.)
pub const DEFAULT_BLOCK_SIZE: usize = 64 * KIB as usize;

/// Memory the pipeline's read buffers may take: enough blocks for the reader to run
/// ahead, few enough that they stay in cache.
const BUFFER_BUDGET: u64 = MIB;

/// Smallest unit of work in the parallel mode, so that per-unit overhead stays negligible.
const MIN_UNIT: u64 = 4 * MIB;

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

    /// Hashes the file (or block device) at `path`.
    pub fn hash_file(&self, path: impl AsRef<Path>) -> Result<Report> {
        let source = FileSource::open(path)?;
        self.hash_source(&source)
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

    /// The parallel mode's unit for an input of `len` bytes: the least common multiple of
    /// the chunk sizes, scaled up to at least [`MIN_UNIT`]. `None` if some digest must be
    /// streamed in order, or the sizes have no common multiple up to 1 GiB (then the
    /// pipeline hashes each construction on its own thread).
    fn parallel_unit(&self, len: u64) -> Option<u64> {
        let mut unit = 1;
        for &algorithm in &self.algorithms {
            let chunk = match algorithm {
                // A lone subtree would need BLAKE3's root flag: small inputs are streamed.
                Algorithm::Blake3 if len > BLAKE3_SUBTREE => BLAKE3_SUBTREE,
                _ => self.chunk_size_of(algorithm)?,
            };
            unit = unit / gcd(unit, chunk) * chunk;
            if unit > MAX_CHUNK_SIZE {
                return None;
            }
        }
        Some(unit * MIN_UNIT.div_ceil(unit))
    }

    /// The chunk size `algorithm` is hashed in by this run: its construction's, or BLAKE3's
    /// subtree size in the parallel mode; `None` for digests streamed in order.
    fn hashed_in_chunks(&self, algorithm: Algorithm, parallel: bool) -> Option<u64> {
        match algorithm {
            Algorithm::Blake3 if parallel => Some(BLAKE3_SUBTREE),
            _ => self.chunk_size_of(algorithm),
        }
    }

    fn thread_pool(&self) -> Result<Arc<ThreadPool>> {
        match &self.threads {
            Threads::Pool(pool) => Ok(pool.clone()),
            Threads::Count(n, built) => {
                if let Some(pool) = built.get() {
                    return Ok(pool.clone());
                }
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(*n)
                    .thread_name(|i| format!("imghash-hash-{i}"))
                    .build()
                    .map_err(|e| Error::ThreadPool(e.to_string()))?;
                // A clone running at the same time may have won: use its pool.
                Ok(built.get_or_init(|| Arc::new(pool)).clone())
            }
        }
    }

    fn run(&self, input: Input<'_>) -> Result<Report> {
        self.validate()?;
        let started = Instant::now();
        let read_size = self.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
        let unit = match &input {
            Input::Source(source) => self.parallel_unit(source.len()),
            Input::Stream(_) => None,
        };
        // Only the parallel mode and BLAKE3 use the pool, so only they build one; `pool` is
        // therefore `Some` whenever `unit` is.
        let pool = if unit.is_some() || self.algorithms.contains(&Algorithm::Blake3) {
            Some(self.thread_pool()?)
        } else {
            None
        };
        let pool = pool.as_deref();
        let in_chunks = |algorithm| self.hashed_in_chunks(algorithm, unit.is_some());
        let chunked: Vec<ChunkedDigest> = self
            .algorithms
            .iter()
            .filter_map(|&a| Some(ChunkedDigest::new(a, in_chunks(a)?, self.on_chunk.clone())))
            .collect();
        let (bytes, streamed) = match (input, unit, pool) {
            (Input::Source(source), Some(unit), Some(pool)) => {
                let plan = UnitPlan {
                    unit,
                    read_size,
                    detect_holes: self.detect_holes,
                    progress: &self.progress,
                    cancel: &self.cancel,
                };
                (plan.run(source, &chunked, pool), Vec::new())
            }
            (Input::Source(source), ..) if self.splits_reading(source.len(), read_size) => {
                self.run_split_read(source, read_size)
            }
            (input, ..) if self.hashes_inline() => self.run_inline(input, pool, read_size),
            (input, ..) => self.run_pipeline(input, &chunked, pool, read_size),
        };
        let bytes = bytes?;
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut chunked = chunked.into_iter();
        let mut streamed = streamed.into_iter();
        let digests = self
            .algorithms
            .iter()
            .map(|&algorithm| {
                let (bytes, parts) = if in_chunks(algorithm).is_some() {
                    let value = chunked.next().expect("one per chunked algorithm").finish();
                    (value.bytes, value.parts)
                } else {
                    (streamed.next().expect("one per streamed algorithm"), None)
                };
                Digest {
                    algorithm,
                    chunk_size: self.chunk_size_of(algorithm),
                    bytes,
                    parts,
                }
            })
            .collect();
        Ok(Report {
            digests,
            bytes,
            elapsed: started.elapsed(),
        })
    }

    /// True for a lone digest so fast that handing blocks to another core would cost more
    /// than it saves: the reading thread hashes each block itself while it is in cache
    /// (XXH* here only with a single thread or a tiny input; see `splits_reading`).
    fn hashes_inline(&self) -> bool {
        matches!(
            self.algorithms[..],
            [Algorithm::Xxh64 | Algorithm::Xxh3 | Algorithm::Xxh128 | Algorithm::Blake3]
        )
    }

    /// True for a lone XXH digest of a source of several blocks, with a second core to
    /// spare: the kernel's copy from the page cache costs more than XXH hashing, so sharing
    /// the reading between two cores pays where handing every block over would not.
    fn splits_reading(&self, len: u64, block_size: usize) -> bool {
        let threads = match &self.threads {
            Threads::Count(n, _) => *n,
            Threads::Pool(pool) => pool.current_num_threads(),
        };
        threads >= 2
            && len >= 4 * block_size as u64
            && matches!(
                self.algorithms[..],
                [Algorithm::Xxh64 | Algorithm::Xxh3 | Algorithm::Xxh128]
            )
    }

    /// Two readers take alternate blocks; the calling thread hashes its own block and then
    /// its partner's, so every block is hashed in order while each core copies half.
    fn run_split_read(
        &self,
        source: &dyn Source,
        block_size: usize,
    ) -> (Result<u64>, Vec<Vec<u8>>) {
        let plan = ReadPlan {
            // One block each being read, one being hashed, one waiting in the channel.
            pool: BufferPool::new(block_size, 4),
            detect_holes: self.detect_holes,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
        };
        let mut hasher = StreamHasher::new(self.algorithms[0]);
        let mut feed = |block: &Block| match block.bytes() {
            Some(data) => hasher.update(data),
            None => feed_zeros(block.len as u64, |zeros| hasher.update(zeros)),
        };
        self.progress.start(Some(source.len()));
        let read = std::thread::scope(|scope| {
            let (partner_blocks, from_partner) = sync_channel::<Result<Arc<Block>>>(1);
            let plan = &plan;
            scope.spawn(move || {
                let outcome = plan
                    .read_every_nth(source, 1, 2, |block| partner_blocks.send(Ok(block)).is_ok());
                if let Err(e) = outcome {
                    let _ = partner_blocks.send(Err(e));
                }
            });
            let mut partner_error = None;
            let read = plan.read_every_nth(source, 0, 2, |block| {
                feed(&block);
                match from_partner.recv() {
                    Ok(Ok(next)) => {
                        feed(&next);
                        true
                    }
                    Ok(Err(e)) => {
                        partner_error = Some(e);
                        false
                    }
                    // The partner has sent its last block.
                    Err(_) => true,
                }
            });
            // Dropping the receiver stops a partner still reading after our error.
            drop(from_partner);
            match partner_error {
                Some(e) => Err(e),
                None => read,
            }
        });
        (read, vec![hasher.finish()])
    }

    /// Reads and hashes on the calling thread (BLAKE3 still spreads each block over the pool,
    /// which `run` provides whenever BLAKE3 is requested).
    fn run_inline(
        &self,
        input: Input<'_>,
        pool: Option<&ThreadPool>,
        block_size: usize,
    ) -> (Result<u64>, Vec<Vec<u8>>) {
        let plan = ReadPlan {
            pool: BufferPool::new(block_size, 1),
            detect_holes: self.detect_holes,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
        };
        let mut hasher = StreamHasher::new(self.algorithms[0]);
        let pool = pool.filter(|_| hasher.uses_pool());
        let mut feed = |data: &[u8]| match pool {
            Some(pool) => pool.install(|| hasher.update(data)),
            None => hasher.update(data),
        };
        let read = plan.run(input, |block| match block.bytes() {
            Some(data) => feed(data),
            None => feed_zeros(block.len as u64, &mut feed),
        });
        (read, vec![hasher.finish()])
    }

    /// Reads the input once in order and hands every block to one thread per digest.
    /// Returns the bytes read and the sequential digests' values in request order.
    fn run_pipeline(
        &self,
        input: Input<'_>,
        chunked: &[ChunkedDigest],
        pool: Option<&ThreadPool>,
        block_size: usize,
    ) -> (Result<u64>, Vec<Vec<u8>>) {
        let buffers = (BUFFER_BUDGET / block_size as u64).max(4) as usize;
        let plan = ReadPlan {
            pool: BufferPool::new(block_size, buffers),
            detect_holes: self.detect_holes,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
        };
        std::thread::scope(|scope| {
            let mut senders = Vec::new();
            let mut stream_workers = Vec::new();
            let mut chunked = chunked.iter();
            let slowest = self
                .algorithms
                .iter()
                .copied()
                .max_by_key(|a| a.cost_per_kib());
            for &algorithm in &self.algorithms {
                let yields = Some(algorithm) != slowest;
                // As deep as the buffer pool: the pool, not the channels, bounds memory.
                let (tx, rx) = sync_channel(buffers);
                senders.push(tx);
                let cancel = &self.cancel;
                let thread = std::thread::Builder::new().name(format!("imghash-{algorithm}"));
                if algorithm.is_chunked() {
                    let digest = chunked.next().expect("one per chunked algorithm");
                    thread
                        .spawn_scoped(scope, move || {
                            yield_to_slowest_digest(yields);
                            chunked_digest(digest, rx, cancel)
                        })
                        .expect("spawn hashing thread");
                } else {
                    let worker = thread
                        .spawn_scoped(scope, move || {
                            yield_to_slowest_digest(yields);
                            stream_digest(algorithm, rx, pool, cancel)
                        })
                        .expect("spawn hashing thread");
                    stream_workers.push(worker);
                }
            }
            let read_result = plan.run(input, |block| {
                for tx in &senders {
                    // A send fails only if that consumer is gone; the job is failing anyway.
                    let _ = tx.send(block.clone());
                }
            });
            drop(senders);
            let values = stream_workers
                .into_iter()
                .map(|w| w.join().expect("hashing thread panicked"))
                .collect();
            (read_result, values)
        })
    }
}

/// The slowest digest of a pipeline bounds the job (MD5 needs a whole core), so when
/// there are more hashing threads than cores the other digests' threads run at a lower
/// priority and fill the time the slowest leaves free, instead of taking turns with it:
/// md5 + sha256 + merkle-sha256 on 2 cores measured 0.88x md5sum without this.
fn yield_to_slowest_digest(yields: bool) {
    const LOWER_PRIORITY: i32 = 5;
    if yields {
        let tid = rustix::thread::gettid();
        // Best effort: where priorities cannot be changed the job is only slower.
        let _ = rustix::process::setpriority_process(Some(tid), LOWER_PRIORITY);
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
