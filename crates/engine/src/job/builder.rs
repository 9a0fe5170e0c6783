//! Building a job: its settings, checked once by [`HashJobBuilder::build`] with an error
//! naming the setting, so that a job that exists can run.

use std::sync::Arc;

use rayon::ThreadPool;

use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result, Setting};
use crate::size::{format_size, MAX_CHUNK_SIZE};
use crate::tuning::ReadStrategy;
use crate::Algorithm;

use super::{HashJob, Threads};

/// The settings of a [`HashJob`], checked by [`build`](Self::build).
///
/// Setters only record; nothing is clamped or corrected behind the caller's back: a value
/// out of range, or one that does not fit the algorithms (a chunk size for Glacier, whose
/// chunks are always 1 MiB), makes `build` fail with [`Error::InvalidSetting`] naming it.
///
/// ```
/// use imghash_engine::{Algorithm, Error, HashJob, Setting, MIB};
///
/// let job = HashJob::builder([Algorithm::Md5, Algorithm::MerkleSha256])
///     .chunk_size(16 * MIB)
///     .threads(2)
///     .build()?;
/// assert_eq!(job.chunk_size_of(Algorithm::MerkleSha256), Some(16 * MIB));
///
/// let err = HashJob::builder([Algorithm::GlacierSha256]).chunk_size(4 * MIB).build();
/// assert!(matches!(err, Err(Error::InvalidSetting { setting: Setting::ChunkSize, .. })));
/// let err = HashJob::builder([Algorithm::Md5]).threads(0).build();
/// assert!(matches!(err, Err(Error::InvalidSetting { setting: Setting::Threads, .. })));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HashJobBuilder {
    algorithms: Vec<Algorithm>,
    chunk_size: Option<u64>,
    threads: ThreadsSetting,
    block_size: Option<usize>,
    detect_holes: bool,
    strategy: ReadStrategy,
}

#[derive(Clone)]
enum ThreadsSetting {
    /// One per core.
    Default,
    Count(usize),
    Pool(Arc<ThreadPool>),
}

impl std::fmt::Debug for ThreadsSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadsSetting::Default => f.write_str("Default"),
            ThreadsSetting::Count(n) => write!(f, "Count({n})"),
            ThreadsSetting::Pool(pool) => write!(f, "Pool({} threads)", pool.current_num_threads()),
        }
    }
}

impl HashJob {
    /// The settings of a job computing `algorithms` (duplicates are ignored): by default on
    /// as many threads as the machine has cores, with each construction's default chunk size.
    pub fn builder(algorithms: impl IntoIterator<Item = Algorithm>) -> HashJobBuilder {
        let mut unique = Vec::new();
        for alg in algorithms {
            if !unique.contains(&alg) {
                unique.push(alg);
            }
        }
        HashJobBuilder {
            algorithms: unique,
            chunk_size: None,
            threads: ThreadsSetting::Default,
            block_size: None,
            detect_holes: true,
            strategy: ReadStrategy::Auto,
        }
    }

    /// A job computing `algorithms` with the default settings: the same as
    /// `HashJob::builder(algorithms).build()`. Fails only if `algorithms` is empty.
    pub fn new(algorithms: impl IntoIterator<Item = Algorithm>) -> Result<HashJob> {
        HashJob::builder(algorithms).build()
    }
}

impl std::fmt::Debug for HashJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashJob")
            .field("algorithms", &self.algorithms)
            .field("chunk_size", &self.chunk_size)
            .field("threads", &self.thread_count())
            .field("block_size", &self.block_size)
            .field("detect_holes", &self.detect_holes)
            .field("read_strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl HashJob {
    /// This job reading with `strategy`, sharing its pool: for measuring strategies against
    /// each other, where no setting changes but the strategy, and none can be refused.
    pub(crate) fn with_read_strategy(&self, strategy: ReadStrategy) -> HashJob {
        HashJob {
            strategy,
            ..self.clone()
        }
    }
}

impl HashJobBuilder {
    /// The chunk (part) size for every chunked construction that lets the caller choose
    /// (see [`parse_chunk_size`](crate::parse_chunk_size)): from 1 byte to
    /// [`MAX_CHUNK_SIZE`]. At least one requested algorithm must be chunked, and Glacier's
    /// chunks are always 1 MiB.
    pub fn chunk_size(mut self, size: u64) -> HashJobBuilder {
        self.chunk_size = Some(size);
        self
    }

    /// Hash on a new pool of `n` threads (at least 1), built when a run first needs one and
    /// shared by the job's clones. Replaces an earlier [`pool`](Self::pool).
    pub fn threads(mut self, n: usize) -> HashJobBuilder {
        self.threads = ThreadsSetting::Count(n);
        self
    }

    /// Hash on the caller's rayon pool (e.g. a service's dedicated hashing pool; build it
    /// with the [`rayon`](crate::rayon) this crate re-exports). Replaces an earlier
    /// [`threads`](Self::threads).
    pub fn pool(mut self, pool: Arc<ThreadPool>) -> HashJobBuilder {
        self.threads = ThreadsSetting::Pool(pool);
        self
    }

    /// The read size, from 1 byte to [`MAX_CHUNK_SIZE`] (default
    /// [`DEFAULT_BLOCK_SIZE`](crate::DEFAULT_BLOCK_SIZE), 64 KiB). Results never depend
    /// on it.
    pub fn block_size(mut self, bytes: usize) -> HashJobBuilder {
        self.block_size = Some(bytes);
        self
    }

    /// Whether to ask the source where its holes are and skip reading them (default on).
    /// Results never depend on it.
    pub fn detect_holes(mut self, on: bool) -> HashJobBuilder {
        self.detect_holes = on;
        self
    }

    /// How to read the input and feed the digests (default [`ReadStrategy::Auto`]: what
    /// the engine measured fastest on this machine, see [`tuning`](crate::tuning)).
    /// Results never depend on it. A strategy the algorithms cannot use
    /// ([`ReadStrategy::Parallel`] with a digest that needs its bytes in order) is refused
    /// by `build`; one the input cannot use ([`ReadStrategy::SplitRead`] on a stream) fails
    /// that run with [`Error::InvalidRequest`].
    pub fn read_strategy(mut self, strategy: ReadStrategy) -> HashJobBuilder {
        self.strategy = strategy;
        self
    }

    /// Checks every setting and makes the job.
    pub fn build(&self) -> Result<HashJob> {
        self.check()?;
        let threads = match &self.threads {
            ThreadsSetting::Default => Threads::Count(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                Arc::default(),
            ),
            ThreadsSetting::Count(n) => Threads::Count(*n, Arc::default()),
            ThreadsSetting::Pool(pool) => Threads::Pool(pool.clone()),
        };
        Ok(HashJob {
            algorithms: self.algorithms.clone(),
            chunk_size: self.chunk_size,
            threads,
            block_size: self.block_size,
            detect_holes: self.detect_holes,
            strategy: self.strategy,
            progress: Progress::new(),
            progress_given: false,
            cancel: CancelToken::new(),
            chunks: None,
        })
    }

    fn check(&self) -> Result<()> {
        let invalid = |setting, value: String, reason: String| {
            Err(Error::InvalidSetting {
                setting,
                value,
                reason,
            })
        };
        if self.algorithms.is_empty() {
            let reason = "at least one algorithm is needed".to_string();
            return invalid(Setting::Algorithms, "[]".to_string(), reason);
        }
        if let ThreadsSetting::Count(0) = self.threads {
            let reason = "at least one thread is needed".to_string();
            return invalid(Setting::Threads, "0".to_string(), reason);
        }
        if let Some(bytes) = self.block_size {
            if bytes == 0 || bytes as u64 > MAX_CHUNK_SIZE {
                let reason = format!("must be from 1 byte to {}", format_size(MAX_CHUNK_SIZE));
                return invalid(Setting::BlockSize, bytes.to_string(), reason);
            }
        }
        let in_order = |a: &Algorithm| !a.is_chunked() && *a != Algorithm::Blake3;
        if self.strategy == ReadStrategy::Parallel {
            if let Some(sequential) = self.algorithms.iter().find(|a| in_order(a)) {
                let reason = format!("{sequential} needs its bytes in order");
                return invalid(Setting::ReadStrategy, self.strategy.to_string(), reason);
            }
        }
        if let Some(size) = self.chunk_size {
            self.check_chunk_size(size)
                .or_else(|reason| invalid(Setting::ChunkSize, format_size(size), reason))?;
        }
        Ok(())
    }

    /// Why `size` cannot be the chunk size of these algorithms, if it cannot.
    fn check_chunk_size(&self, size: u64) -> std::result::Result<(), String> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(format!(
                "must be from 1 byte to {}",
                format_size(MAX_CHUNK_SIZE)
            ));
        }
        let glacier = Algorithm::GlacierSha256;
        if self.algorithms.contains(&glacier) && Some(size) != glacier.default_chunk_size() {
            return Err("glacier-sha256 always uses 1MiB chunks".to_string());
        }
        if !self.algorithms.iter().any(|a| a.is_chunked()) {
            let names: Vec<_> = self.algorithms.iter().map(|a| a.name()).collect();
            return Err(format!("none of {} is chunked", names.join(", ")));
        }
        Ok(())
    }
}
