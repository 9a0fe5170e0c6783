//! Every digest of a job fed on one thread, block by block: what the inline and split-read
//! strategies do with each block while it is in the hashing core's cache.

use rayon::ThreadPool;

use crate::consumers::{ChunkCursor, ChunkedDigest, Piece};
use crate::control::CancelToken;
use crate::reader::{feed_zeros, Block};
use crate::stream::StreamHasher;
use crate::Algorithm;

/// The running state of every digest of a job, fed in order on the calling thread.
pub(super) struct OneThreadDigests<'a> {
    hashers: Vec<StreamHasher>,
    cursors: Vec<ChunkCursor<'a>>,
    /// The job's pool, for BLAKE3 to spread large blocks over.
    pool: Option<&'a ThreadPool>,
}

impl<'a> OneThreadDigests<'a> {
    /// States for the `streamed` digests (in request order) and the `chunked` ones.
    pub(super) fn new(
        streamed: &[Algorithm],
        chunked: &'a [ChunkedDigest],
        pool: Option<&'a ThreadPool>,
        cancel: &'a CancelToken,
    ) -> OneThreadDigests<'a> {
        OneThreadDigests {
            hashers: streamed.iter().map(|&a| StreamHasher::new(a)).collect(),
            cursors: chunked
                .iter()
                .map(|d| ChunkCursor::new(d, 0, cancel))
                .collect(),
            pool,
        }
    }

    /// Feeds the next block to every digest.
    pub(super) fn feed(&mut self, block: &Block) {
        match block.bytes() {
            Some(data) => self.feed_piece(Piece::Bytes(data)),
            None => self.feed_piece(Piece::Zeros(block.len as u64)),
        }
    }

    /// Feeds the next bytes, or the next run of zeros, to every digest.
    pub(super) fn feed_piece(&mut self, piece: Piece<'_>) {
        for hasher in &mut self.hashers {
            let pool = self.pool.filter(|_| hasher.uses_pool());
            let mut update = |data: &[u8]| match pool {
                Some(pool) => pool.install(|| hasher.update(data)),
                None => hasher.update(data),
            };
            match piece {
                Piece::Bytes(data) => update(data),
                Piece::Zeros(len) => feed_zeros(len, &mut update),
            }
        }
        self.cursors.iter_mut().for_each(|c| c.feed(piece));
    }

    /// The streamed digests' values in request order; the chunked ones are complete in
    /// their [`ChunkedDigest`]s.
    pub(super) fn finish(self) -> Vec<Vec<u8>> {
        self.cursors.into_iter().for_each(ChunkCursor::finish);
        self.hashers.into_iter().map(StreamHasher::finish).collect()
    }
}
