//! The inline strategy: the calling thread reads each block and hashes it at once, while
//! the bytes are still in its cache.

use rayon::ThreadPool;

use crate::error::Result;
use crate::reader::{feed_zeros, BufferPool, Input, ReadPlan};
use crate::stream::StreamHasher;

use super::HashJob;

impl HashJob {
    /// Reads and hashes on the calling thread (BLAKE3 still spreads each block over the pool,
    /// which `run` provides whenever BLAKE3 is requested).
    pub(super) fn run_inline(
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
}
