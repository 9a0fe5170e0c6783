//! Turning bytes into digests: the sequential-digest consumer, and the chunk cursor that
//! every chunked construction uses, whichever way its bytes arrive.
//!
//! A [`ChunkedDigest`] is the state one chunked construction shares across threads: a
//! reorder buffer that hands chunk digests to the aggregator in chunk order. A
//! [`ChunkCursor`] hashes a run of consecutive chunks; the hand-off uses one cursor for the
//! whole input, the parallel mode one per unit of work.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::ThreadPool;

use crate::chunked::{zero_chunk_digest_is_shared, Aggregated, Aggregator, LeafHasher};
use crate::control::CancelToken;
use crate::reader::{feed_zeros, Block};
use crate::sink::{ChunkDigest, ChunkSender};
use crate::stream::StreamHasher;
use crate::Algorithm;

/// Feeds every block to one sequential digest; returns the digest bytes. BLAKE3 spreads
/// large blocks over `pool`, which the job provides whenever BLAKE3 is requested.
pub(crate) fn stream_digest(
    algorithm: Algorithm,
    blocks: Receiver<Arc<Block>>,
    pool: Option<&ThreadPool>,
    cancel: &CancelToken,
) -> Vec<u8> {
    let mut hasher = StreamHasher::new(algorithm);
    let pool = pool.filter(|_| hasher.uses_pool());
    for block in blocks {
        if cancel.is_cancelled() {
            continue; // drain, so the reader is never stuck on a full channel
        }
        let mut feed = |data: &[u8]| match pool {
            Some(pool) => pool.install(|| hasher.update(data)),
            None => hasher.update(data),
        };
        match block.bytes() {
            Some(data) => feed(data),
            None => feed_zeros(block.len as u64, feed),
        }
    }
    hasher.finish()
}

/// Feeds every block, in order, to one chunked construction.
pub(crate) fn chunked_digest(
    digest: &ChunkedDigest,
    blocks: Receiver<Arc<Block>>,
    cancel: &CancelToken,
) {
    let mut cursor = ChunkCursor::new(digest, 0);
    for block in blocks {
        if cancel.is_cancelled() {
            continue;
        }
        match block.bytes() {
            Some(data) => cursor.feed(Piece::Bytes(data)),
            None => cursor.feed(Piece::Zeros(block.len as u64)),
        }
    }
    cursor.finish();
}

/// One chunked construction being computed, shared by the threads hashing its chunks.
pub(crate) struct ChunkedDigest {
    algorithm: Algorithm,
    chunk_size: u64,
    /// Where released chunks go when the run's sink wants this construction's.
    chunks: Option<ChunkSender>,
    /// Digest of a whole all-zero chunk, computed once on first need.
    zero_leaf: OnceLock<Vec<u8>>,
    collector: Mutex<Collector>,
}

/// Reorders chunk digests and feeds them to the aggregator (and the chunk sink's queue).
struct Collector {
    next: u64,
    pending: BTreeMap<u64, (Vec<u8>, u64)>,
    aggregator: Aggregator,
}

impl ChunkedDigest {
    pub(crate) fn new(
        algorithm: Algorithm,
        chunk_size: u64,
        chunks: Option<ChunkSender>,
    ) -> ChunkedDigest {
        ChunkedDigest {
            algorithm,
            chunk_size,
            chunks,
            zero_leaf: OnceLock::new(),
            collector: Mutex::new(Collector {
                next: 0,
                pending: BTreeMap::new(),
                aggregator: Aggregator::new(algorithm),
            }),
        }
    }

    /// The final value, once every chunk was collected.
    pub(crate) fn finish(self) -> Aggregated {
        let collector = self.collector.into_inner().expect("collector lock");
        collector.aggregator.finish()
    }

    /// The digest of the all-zero chunk `index`, `len` bytes long.
    fn zero_leaf(&self, index: u64, len: u64) -> Vec<u8> {
        let offset = index * self.chunk_size;
        if len != self.chunk_size || !zero_chunk_digest_is_shared(self.algorithm) {
            return zeros_leaf(self.algorithm, offset, len);
        }
        self.zero_leaf
            .get_or_init(|| zeros_leaf(self.algorithm, offset, len))
            .clone()
    }

    fn collect(&self, index: u64, leaf: Vec<u8>, len: u64) {
        let mut collector = self.collector.lock().expect("collector lock");
        collector.pending.insert(index, (leaf, len));
        loop {
            let next = collector.next;
            let Some((leaf, len)) = collector.pending.remove(&next) else {
                break;
            };
            if let Some(chunks) = &self.chunks {
                let chunk = ChunkDigest::new(next * self.chunk_size, len, leaf.clone());
                // Waits while the sink's queue is full (bounded memory); fails only once
                // the sink has failed, and then the run is being stopped anyway.
                let _ = chunks.send((self.algorithm, chunk));
            }
            collector.aggregator.push(&leaf, len);
            collector.next += 1;
        }
    }
}

fn zeros_leaf(algorithm: Algorithm, offset: u64, len: u64) -> Vec<u8> {
    let mut leaf = LeafHasher::new(algorithm, offset);
    feed_zeros(len, |zeros| leaf.update(zeros));
    leaf.finish()
}

/// Consecutive input bytes: read, or known to be zeros (a hole).
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    Bytes(&'a [u8]),
    Zeros(u64),
}

impl Piece<'_> {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(data) => data.len() as u64,
            Piece::Zeros(len) => *len,
        }
    }

    fn split_at(self, n: u64) -> (Self, Self) {
        match self {
            Piece::Bytes(data) => {
                let (head, tail) = data.split_at(n as usize);
                (Piece::Bytes(head), Piece::Bytes(tail))
            }
            Piece::Zeros(len) => (Piece::Zeros(n), Piece::Zeros(len - n)),
        }
    }
}

/// Hashes consecutive chunks starting at a chunk boundary.
///
/// Zero bytes at the start of a chunk are only counted, not hashed, until a non-zero byte
/// shows up: a chunk that turns out all zeros (a hole, or zeros written to disk) takes the
/// precomputed zero-chunk digest instead of being hashed.
pub(crate) struct ChunkCursor<'a> {
    digest: &'a ChunkedDigest,
    index: u64,
    /// Bytes of the current chunk seen so far.
    filled: u64,
    /// Created at the chunk's first non-zero byte.
    hasher: Option<LeafHasher>,
}

impl<'a> ChunkCursor<'a> {
    /// A cursor at `offset`, which must be a multiple of the chunk size.
    pub(crate) fn new(digest: &'a ChunkedDigest, offset: u64) -> ChunkCursor<'a> {
        debug_assert_eq!(offset % digest.chunk_size, 0);
        ChunkCursor {
            digest,
            index: offset / digest.chunk_size,
            filled: 0,
            hasher: None,
        }
    }

    /// Hashes the next bytes.
    pub(crate) fn feed(&mut self, mut piece: Piece<'_>) {
        while piece.len() > 0 {
            let room = self.digest.chunk_size - self.filled;
            let (head, rest) = piece.split_at(room.min(piece.len()));
            self.absorb(head);
            self.filled += head.len();
            if self.filled == self.digest.chunk_size {
                self.complete();
            }
            piece = rest;
        }
    }

    fn absorb(&mut self, piece: Piece<'_>) {
        match (&mut self.hasher, piece) {
            (Some(hasher), Piece::Bytes(data)) => hasher.update(data),
            (Some(hasher), Piece::Zeros(len)) => feed_zeros(len, |z| hasher.update(z)),
            (None, Piece::Zeros(_)) => {}
            (None, Piece::Bytes(data)) if is_all_zero(data) => {}
            (None, Piece::Bytes(data)) => {
                // The first non-zero bytes: hash the zeros deferred so far, then them.
                let offset = self.index * self.digest.chunk_size;
                let mut hasher = LeafHasher::new(self.digest.algorithm, offset);
                feed_zeros(self.filled, |z| hasher.update(z));
                hasher.update(data);
                self.hasher = Some(hasher);
            }
        }
    }

    fn complete(&mut self) {
        let leaf = match self.hasher.take() {
            Some(hasher) => hasher.finish(),
            None => self.digest.zero_leaf(self.index, self.filled),
        };
        self.digest.collect(self.index, leaf, self.filled);
        self.index += 1;
        self.filled = 0;
    }

    /// Ends the run; a partly filled chunk is the input's last, shorter chunk.
    pub(crate) fn finish(mut self) {
        if self.filled > 0 {
            self.complete();
        }
    }
}

/// True if every byte is zero. Checks 4 KiB at a time so that real data (non-zero within
/// its first bytes) costs almost nothing, while the inner fold vectorises.
fn is_all_zero(data: &[u8]) -> bool {
    data.chunks(4096)
        .all(|page| page.iter().fold(0u8, |acc, &b| acc | b) == 0)
}
