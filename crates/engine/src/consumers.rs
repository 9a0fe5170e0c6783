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

use crate::aggregate::{Aggregated, Aggregator};
use crate::chunked::{zero_chunk_digest_is_shared, LeafHasher};
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
    let mut cursor = ChunkCursor::new(digest, 0, cancel);
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
    /// Runs of chunks waiting for the ones before them, by their first chunk's index.
    pending: BTreeMap<u64, Run>,
    aggregator: Aggregator,
}

/// `count` consecutive chunks of `len` bytes each, all with the digest `leaf`: one chunk,
/// or a run of whole zero chunks (a hole), which is collected as one entry however long.
struct Run {
    leaf: Vec<u8>,
    len: u64,
    count: u64,
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

    /// The chunk size this construction is hashed in.
    pub(crate) fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// True if every whole zero chunk has the same digest, so that a run of them is
    /// collected as one entry.
    pub(crate) fn shares_zero_leaf(&self) -> bool {
        zero_chunk_digest_is_shared(self.algorithm)
    }

    /// The final value, once every chunk was collected.
    pub(crate) fn finish(self) -> Aggregated {
        let collector = self.collector.into_inner().expect("collector lock");
        collector.aggregator.finish()
    }

    /// The digest of the all-zero chunk `index`, `len` bytes long. Hashing the zeros of a
    /// large chunk takes a while, so it stops early once `cancel` is set: the value is then
    /// wrong, but a cancelled job never collects or returns it.
    fn zero_leaf(&self, index: u64, len: u64, cancel: &CancelToken) -> Vec<u8> {
        let offset = index * self.chunk_size;
        if len != self.chunk_size || !zero_chunk_digest_is_shared(self.algorithm) {
            return zeros_leaf(self.algorithm, offset, len, cancel);
        }
        self.zero_leaf
            .get_or_init(|| zeros_leaf(self.algorithm, offset, len, cancel))
            .clone()
    }

    fn collect(&self, index: u64, leaf: Vec<u8>, len: u64, cancel: &CancelToken) {
        let run = Run {
            leaf,
            len,
            count: 1,
        };
        self.collect_run(index, run, cancel);
    }

    /// Collects `count` whole zero chunks from chunk `index` on as one run; only for
    /// constructions whose zero-chunk digest does not depend on where the chunk is.
    fn collect_zeros(&self, index: u64, count: u64, cancel: &CancelToken) {
        let leaf = self.zero_leaf(index, self.chunk_size, cancel);
        if cancel.is_cancelled() {
            return; // the leaf may be cut short
        }
        let len = self.chunk_size;
        self.collect_run(index, Run { leaf, len, count }, cancel);
    }

    fn collect_run(&self, index: u64, run: Run, cancel: &CancelToken) {
        let mut collector = self.collector.lock().expect("collector lock");
        collector.pending.insert(index, run);
        loop {
            let next = collector.next;
            let Some(run) = collector.pending.remove(&next) else {
                break;
            };
            // A long run (a 1 TiB hole is 16 Mi blkhash chunks: 512 MiB of digests to
            // hash) goes in pieces, so that a cancel stops it promptly; the value is then
            // never used.
            let mut done = 0;
            while done < run.count {
                if cancel.is_cancelled() {
                    return;
                }
                let n = (run.count - done).min(RUN_PIECE);
                self.send_chunks(next + done, n, &run);
                collector.aggregator.push_run(&run.leaf, n, run.len);
                done += n;
            }
            collector.next += run.count;
        }
    }

    /// Hands `count` chunks of `run` from chunk `first` on to the run's sink, if it wants
    /// this construction's.
    fn send_chunks(&self, first: u64, count: u64, run: &Run) {
        let Some(chunks) = &self.chunks else {
            return;
        };
        for i in first..first + count {
            let chunk = ChunkDigest::new(i * self.chunk_size, run.len, run.leaf.clone());
            // Waits while the sink's queue is full (bounded memory); fails only once the
            // sink has failed, and then the run is being stopped anyway.
            if chunks.send((self.algorithm, chunk)).is_err() {
                return;
            }
        }
    }
}

/// Chunks of a run aggregated between two looks at the cancel token.
const RUN_PIECE: u64 = 1 << 16;

fn zeros_leaf(algorithm: Algorithm, offset: u64, len: u64, cancel: &CancelToken) -> Vec<u8> {
    let mut leaf = LeafHasher::new(algorithm, offset);
    feed_zeros_unless_cancelled(len, cancel, |zeros| leaf.update(zeros));
    leaf.finish()
}

/// [`feed_zeros`], stopping early once `cancel` is set: a hole inside a 1 GiB chunk is
/// seconds of hashing, and a cancelled job must stop within milliseconds.
fn feed_zeros_unless_cancelled(len: u64, cancel: &CancelToken, mut feed: impl FnMut(&[u8])) {
    feed_zeros(len, |zeros| {
        if !cancel.is_cancelled() {
            feed(zeros);
        }
    });
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
///
/// The cursor checks its cancel token at every chunk and while hashing zeros, so one piece
/// spanning a huge hole in tiny chunks (millions of them) still stops within a chunk of a
/// cancel; after a cancel it collects nothing more.
pub(crate) struct ChunkCursor<'a> {
    digest: &'a ChunkedDigest,
    cancel: &'a CancelToken,
    index: u64,
    /// Bytes of the current chunk seen so far.
    filled: u64,
    /// Created at the chunk's first non-zero byte.
    hasher: Option<LeafHasher>,
}

impl<'a> ChunkCursor<'a> {
    /// A cursor at `offset`, which must be a multiple of the chunk size.
    pub(crate) fn new(
        digest: &'a ChunkedDigest,
        offset: u64,
        cancel: &'a CancelToken,
    ) -> ChunkCursor<'a> {
        debug_assert_eq!(offset % digest.chunk_size, 0);
        ChunkCursor {
            digest,
            cancel,
            index: offset / digest.chunk_size,
            filled: 0,
            hasher: None,
        }
    }

    /// Hashes the next bytes; returns early, leaving the cursor useless, once cancelled.
    pub(crate) fn feed(&mut self, mut piece: Piece<'_>) {
        while piece.len() > 0 {
            if self.cancel.is_cancelled() {
                return;
            }
            if let Piece::Zeros(len) = piece {
                let whole = self.whole_zero_chunks(len);
                if whole > 0 {
                    self.digest.collect_zeros(self.index, whole, self.cancel);
                    self.index += whole;
                    piece = Piece::Zeros(len - whole * self.digest.chunk_size);
                    continue;
                }
            }
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

    /// How many whole chunks `len` zero bytes at the cursor fill, to collect as one run;
    /// none if the cursor is inside a chunk or the zero chunks' digests differ.
    fn whole_zero_chunks(&self, len: u64) -> u64 {
        if self.filled > 0 || !self.digest.shares_zero_leaf() {
            return 0;
        }
        len / self.digest.chunk_size
    }

    fn absorb(&mut self, piece: Piece<'_>) {
        match (&mut self.hasher, piece) {
            (Some(hasher), Piece::Bytes(data)) => hasher.update(data),
            (Some(hasher), Piece::Zeros(len)) => {
                feed_zeros_unless_cancelled(len, self.cancel, |z| hasher.update(z))
            }
            (None, Piece::Zeros(_)) => {}
            (None, Piece::Bytes(data)) if is_all_zero(data) => {}
            (None, Piece::Bytes(data)) => {
                // The first non-zero bytes: hash the zeros deferred so far, then them.
                let offset = self.index * self.digest.chunk_size;
                let mut hasher = LeafHasher::new(self.digest.algorithm, offset);
                feed_zeros_unless_cancelled(self.filled, self.cancel, |z| hasher.update(z));
                hasher.update(data);
                self.hasher = Some(hasher);
            }
        }
    }

    fn complete(&mut self) {
        let leaf = match self.hasher.take() {
            Some(hasher) => hasher.finish(),
            None => self.digest.zero_leaf(self.index, self.filled, self.cancel),
        };
        // A leaf finished after a cancel may be cut short: never hand it on.
        if self.cancel.is_cancelled() {
            return;
        }
        self.digest
            .collect(self.index, leaf, self.filled, self.cancel);
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
