//! The inline strategy: the calling thread reads each block and hashes it at once, while
//! the bytes are still in its cache. No thread is started and nothing is handed over.

use crate::error::Result;
use crate::reader::{BufferPool, Input, ReadPlan};

use super::feed::OneThreadDigests;
use super::HashJob;

impl HashJob {
    /// Reads and hashes on the calling thread (BLAKE3 still spreads each block over the
    /// pool, which `run` provides whenever BLAKE3 is requested).
    pub(super) fn run_inline(
        &self,
        input: Input<'_>,
        digests: OneThreadDigests<'_>,
        block_size: usize,
    ) -> (Result<u64>, Vec<Vec<u8>>) {
        let plan = ReadPlan {
            pool: BufferPool::new(block_size, 1),
            detect_holes: self.detect_holes,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
        };
        let mut digests = digests;
        let read = plan.run(input, |block| digests.feed(&block));
        (read, digests.finish())
    }
}
