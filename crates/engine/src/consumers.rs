//! The two kinds of block consumers a job runs, each on its own thread.
//!
//! - [`stream_digest`]: a sequential digest, fed every block in order.
//! - [`ChunkedDigest`]: a chunked construction. Whole chunks inside a block are hashed as
//!   tasks on the rayon pool (they hold the block until done, which is what bounds memory);
//!   a chunk split across blocks is hashed piecewise by the consumer thread itself. The
//!   chunk digests go through a reorder buffer into the aggregator in chunk order.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::ThreadPool;

use crate::chunked::{leaf_digest, Aggregated, Aggregator, LeafHasher};
use crate::control::CancelToken;
use crate::job::{ChunkCallback, ChunkDigest};
use crate::pipeline::{feed_zeros, Block};
use crate::stream::StreamHasher;
use crate::Algorithm;

/// Feeds every block to one sequential digest; returns the digest bytes.
pub(crate) fn stream_digest(
    algorithm: Algorithm,
    blocks: Receiver<Arc<Block>>,
    pool: &ThreadPool,
    cancel: &CancelToken,
) -> Vec<u8> {
    let mut hasher = StreamHasher::new(algorithm);
    let uses_pool = hasher.uses_pool();
    for block in blocks {
        if cancel.is_cancelled() {
            continue; // drain, so the reader is never stuck on a full channel
        }
        let mut feed = |data: &[u8]| {
            if uses_pool {
                pool.install(|| hasher.update(data));
            } else {
                hasher.update(data);
            }
        };
        match block.bytes() {
            Some(data) => feed(data),
            None => feed_zeros(block.len as u64, feed),
        }
    }
    hasher.finish()
}

/// A chunked construction being computed.
pub(crate) struct ChunkedDigest {
    algorithm: Algorithm,
    chunk_size: u64,
    /// Digest of a whole all-zero chunk, computed once on first need.
    zero_leaf: OnceLock<Vec<u8>>,
    collector: Mutex<Collector>,
}

/// The chunk currently split across blocks, hashed piecewise by the consumer thread.
struct Partial {
    index: u64,
    len: u64,
    hasher: LeafHasher,
}

/// Reorders chunk digests and feeds them to the aggregator (and the chunk callback).
struct Collector {
    next: u64,
    pending: BTreeMap<u64, (Vec<u8>, u64)>,
    aggregator: Aggregator,
}

impl ChunkedDigest {
    pub(crate) fn new(algorithm: Algorithm, chunk_size: u64) -> ChunkedDigest {
        ChunkedDigest {
            algorithm,
            chunk_size,
            zero_leaf: OnceLock::new(),
            collector: Mutex::new(Collector {
                next: 0,
                pending: BTreeMap::new(),
                aggregator: Aggregator::new(algorithm),
            }),
        }
    }

    /// Consumes every block, hashing whole chunks on `pool`; returns the final value.
    pub(crate) fn run(
        self,
        blocks: Receiver<Arc<Block>>,
        pool: &ThreadPool,
        cancel: &CancelToken,
        on_chunk: Option<&ChunkCallback>,
    ) -> Aggregated {
        let mut partial = None;
        pool.in_place_scope(|scope| {
            for block in blocks {
                if cancel.is_cancelled() {
                    continue;
                }
                let mut pos = block.offset;
                while pos < block.end() {
                    let index = pos / self.chunk_size;
                    let chunk_start = index * self.chunk_size;
                    let chunk_end = chunk_start + self.chunk_size;
                    let piece_end = chunk_end.min(block.end());
                    if pos == chunk_start && piece_end == chunk_end {
                        let this = &self;
                        let block = block.clone();
                        let range =
                            (pos - block.offset) as usize..(piece_end - block.offset) as usize;
                        scope.spawn(move |_| {
                            let leaf = match block.bytes() {
                                Some(data) => this.whole_chunk_digest(&data[range]),
                                None => this.zero_leaf().to_vec(),
                            };
                            drop(block);
                            this.collect(index, leaf, this.chunk_size, on_chunk);
                        });
                    } else {
                        self.feed_partial(&mut partial, index, &block, pos..piece_end, on_chunk);
                    }
                    pos = piece_end;
                }
            }
        });
        // The input ended inside a chunk: that short chunk is the last one.
        if let Some(last) = partial {
            self.collect(last.index, last.hasher.finish(), last.len, on_chunk);
        }
        let collector = self.collector.into_inner().expect("collector lock");
        debug_assert!(collector.pending.is_empty() || cancel.is_cancelled());
        collector.aggregator.finish()
    }

    fn whole_chunk_digest(&self, chunk: &[u8]) -> Vec<u8> {
        if is_all_zero(chunk) {
            self.zero_leaf().to_vec()
        } else {
            leaf_digest(self.algorithm, chunk)
        }
    }

    fn zero_leaf(&self) -> &[u8] {
        self.zero_leaf.get_or_init(|| {
            let mut leaf = LeafHasher::new(self.algorithm);
            feed_zeros(self.chunk_size, |zeros| leaf.update(zeros));
            leaf.finish()
        })
    }

    fn feed_partial(
        &self,
        partial: &mut Option<Partial>,
        index: u64,
        block: &Block,
        range: std::ops::Range<u64>,
        on_chunk: Option<&ChunkCallback>,
    ) {
        let chunk = partial.get_or_insert_with(|| Partial {
            index,
            len: 0,
            hasher: LeafHasher::new(self.algorithm),
        });
        match block.bytes() {
            Some(data) => {
                let start = (range.start - block.offset) as usize;
                let end = (range.end - block.offset) as usize;
                chunk.hasher.update(&data[start..end]);
            }
            None => feed_zeros(range.end - range.start, |zeros| chunk.hasher.update(zeros)),
        }
        chunk.len += range.end - range.start;
        if chunk.len == self.chunk_size {
            let done = partial.take().expect("just filled");
            self.collect(done.index, done.hasher.finish(), done.len, on_chunk);
        }
    }

    fn collect(&self, index: u64, leaf: Vec<u8>, len: u64, on_chunk: Option<&ChunkCallback>) {
        let mut collector = self.collector.lock().expect("collector lock");
        collector.pending.insert(index, (leaf, len));
        loop {
            let next = collector.next;
            let Some((leaf, len)) = collector.pending.remove(&next) else {
                break;
            };
            if let Some(callback) = on_chunk {
                callback(
                    self.algorithm,
                    &ChunkDigest {
                        offset: next * self.chunk_size,
                        len,
                        digest: leaf.clone(),
                    },
                );
            }
            collector.aggregator.push(&leaf, len);
            collector.next += 1;
        }
    }
}

/// True if every byte is zero. Checks 4 KiB at a time so that real data (non-zero within
/// its first bytes) costs almost nothing, while the inner fold vectorises.
fn is_all_zero(data: &[u8]) -> bool {
    data.chunks(4096)
        .all(|page| page.iter().fold(0u8, |acc, &b| acc | b) == 0)
}
