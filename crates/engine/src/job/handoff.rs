//! The hand-off strategy: one reader reads the input once in order and hands every block
//! to one thread per digest, so several digests cost about as much as the slowest.

use std::sync::mpsc::sync_channel;

use rayon::ThreadPool;

use crate::consumers::{chunked_digest, stream_digest, ChunkedDigest};
use crate::error::Result;
use crate::reader::{BufferPool, Input, ReadPlan};
use crate::size::MIB;

use super::HashJob;

/// Memory the hand-off's read buffers may take: enough blocks for the reader to run
/// ahead, few enough that they stay in cache.
const BUFFER_BUDGET: u64 = MIB;

impl HashJob {
    /// Reads the input once in order and hands every block to one thread per digest.
    /// Returns the bytes read and the sequential digests' values in request order.
    pub(super) fn run_handoff(
        &self,
        input: Input<'_>,
        chunked: &[ChunkedDigest],
        pool: Option<&ThreadPool>,
        block_size: usize,
    ) -> (Result<u64>, Vec<Vec<u8>>) {
        let buffers = (BUFFER_BUDGET / block_size as u64).max(4) as usize;
        let plan = ReadPlan {
            pool: BufferPool::batched(block_size, buffers),
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

/// The slowest digest of a hand-off bounds the job (MD5 needs a whole core), so when
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
