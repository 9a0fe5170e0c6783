//! A run of a job: choose the strategy, carry it out, and gather the digests in request
//! order.

use std::sync::Arc;
use std::time::Instant;

use rayon::ThreadPool;

use crate::chunked::BLAKE3_SUBTREE;
use crate::consumers::ChunkedDigest;
use crate::error::{Error, Result};
use crate::reader::{BufferPool, Input, ReadPlan};
use crate::tuning::ReadStrategy;
use crate::Algorithm;

use super::feed::OneThreadDigests;
use super::strategy::{choose, InputKind, Strategy};
use super::{Digest, HashJob, Report, Threads, DEFAULT_BLOCK_SIZE};

impl HashJob {
    pub(super) fn run(&self, input: Input<'_>) -> Result<Report> {
        let started = Instant::now();
        let read_size = self.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
        let (len, file) = match &input {
            Input::Source(source) => (Some(source.len()), source.mapped_file()),
            Input::Stream(_) => (None, None),
        };
        let kind = InputKind {
            len,
            mappable: file.is_some(),
        };
        let strategy = choose(self, kind, read_size, crate::calibrate::strategy_times)?;
        let mut used = strategy.public();
        let parallel = matches!(strategy, Strategy::Parallel { .. });
        // Only the parallel mode and BLAKE3 use the pool, so only they build one.
        let pool = if parallel || self.algorithms.contains(&Algorithm::Blake3) {
            Some(self.thread_pool()?)
        } else {
            None
        };
        let pool = pool.as_deref();
        let in_chunks = |algorithm| self.hashed_in_chunks(algorithm, parallel);
        let chunked: Vec<ChunkedDigest> = self
            .algorithms
            .iter()
            .filter_map(|&a| {
                Some(ChunkedDigest::new(
                    a,
                    in_chunks(a)?,
                    self.chunks.as_ref().and_then(|c| c.for_algorithm(a)),
                ))
            })
            .collect();
        let streamed: Vec<Algorithm> = (self.algorithms.iter().copied())
            .filter(|&a| in_chunks(a).is_none())
            .collect();
        let one_thread = || OneThreadDigests::new(&streamed, &chunked, pool, &self.cancel);
        let (bytes, streamed) = match (strategy, input, pool) {
            (Strategy::Parallel { unit }, Input::Source(source), Some(pool)) => (
                self.run_parallel(source, unit, read_size, &chunked, pool),
                Vec::new(),
            ),
            (Strategy::Mapped(mode), Input::Source(source), _) => {
                let file = file.expect("only local files are mapped");
                let (bytes, values, mapped) =
                    self.run_mapped(source, file, one_thread(), read_size, mode);
                if !mapped {
                    used = ReadStrategy::Inline;
                }
                (bytes, values)
            }
            (Strategy::SplitRead, Input::Source(source), _) => {
                self.run_split_read(source, one_thread(), read_size)
            }
            (Strategy::Inline, input, _) => self.run_inline(input, one_thread(), read_size),
            // `choose` gives streams neither the parallel nor the split-read strategy.
            (_, input, _) => self.run_handoff(input, &chunked, pool, read_size),
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
            strategy: used,
        })
    }

    /// The chunk size `algorithm` is hashed in by this run: its construction's, or BLAKE3's
    /// subtree size in the parallel mode; `None` for digests streamed in order.
    fn hashed_in_chunks(&self, algorithm: Algorithm, parallel: bool) -> Option<u64> {
        match algorithm {
            Algorithm::Blake3 if parallel => Some(BLAKE3_SUBTREE),
            _ => self.chunk_size_of(algorithm),
        }
    }

    /// A reader with this job's settings, reading into `buffers`.
    pub(super) fn read_plan(&self, buffers: Arc<BufferPool>) -> ReadPlan {
        ReadPlan {
            pool: buffers,
            detect_holes: self.detect_holes,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
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
}
