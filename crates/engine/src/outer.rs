//! The outer digest of blkhash and the S3 constructions, fed on a thread of its own.
//!
//! blkhash hashes the list of every chunk digest: a 1 TiB image is 16 Mi chunks of 64 KiB,
//! so 512 MiB of digests (about 0.37 s of SHA-256 on an Intel Xeon), however much of it is
//! holes. Hashed where the digests are collected, that work held the collector's lock on a
//! hashing thread, and the data hashing waited behind it (content mode of a 1 TiB qcow2
//! holding 1 GiB took 1.89x the dense 1 GiB). Here the collector only appends digests to
//! a batch, and a thread of its own hashes the batches while the data is being hashed.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use crate::stream::StreamHasher;
use crate::Algorithm;

/// Digest bytes gathered before they are handed to the thread: one hand-off per 2048
/// SHA-256 digests rather than one per chunk.
const BATCH_BYTES: usize = 64 << 10;

/// Batches waiting for the thread: bounds memory when it falls behind (4 MiB).
const QUEUED_BATCHES: usize = 64;

/// Copies of a repeated digest hashed per call: one call per 32-byte digest was what made
/// zero runs slow.
const REPEAT_BATCH: usize = 2048;

enum Feed {
    Bytes(Vec<u8>),
    /// A digest repeated `count` times (a run of zero chunks).
    Repeat(Vec<u8>, u64),
}

/// An outer digest being fed on its own thread.
pub(crate) struct Outer {
    batch: Vec<u8>,
    feeds: Option<SyncSender<Feed>>,
    worker: Option<JoinHandle<Vec<u8>>>,
}

impl Outer {
    /// Starts the thread that hashes with `algorithm` (a standard digest).
    pub(crate) fn new(algorithm: Algorithm) -> Outer {
        let (feeds, batches) = sync_channel::<Feed>(QUEUED_BATCHES);
        let worker = std::thread::Builder::new()
            .name(format!("imghash-outer-{algorithm}"))
            .spawn(move || {
                let mut hasher = StreamHasher::new(algorithm);
                for feed in batches {
                    match feed {
                        Feed::Bytes(bytes) => hasher.update(&bytes),
                        Feed::Repeat(leaf, count) => update_repeated(&mut hasher, &leaf, count),
                    }
                }
                hasher.finish()
            })
            .expect("spawn outer digest thread");
        Outer {
            batch: Vec::with_capacity(BATCH_BYTES),
            feeds: Some(feeds),
            worker: Some(worker),
        }
    }

    /// Appends `bytes` to what is hashed.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Appends `count` copies of `leaf`.
    pub(crate) fn update_repeated(&mut self, leaf: &[u8], count: u64) {
        if count <= 1 || self.batch.len() + leaf.len() * count as usize <= BATCH_BYTES {
            (0..count).for_each(|_| self.batch.extend_from_slice(leaf));
            return;
        }
        self.flush();
        self.send(Feed::Repeat(leaf.to_vec(), count));
    }

    /// The digest of everything appended.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.flush();
        drop(self.feeds.take());
        let worker = self.worker.take().expect("finished once");
        worker.join().expect("outer digest thread panicked")
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_BYTES));
            self.send(Feed::Bytes(batch));
        }
    }

    fn send(&self, feed: Feed) {
        let feeds = self.feeds.as_ref().expect("not finished");
        // The thread ends only when the sender is dropped, or if it panicked, which
        // `finish` reports.
        let _ = feeds.send(feed);
    }
}

/// Feeds `count` copies of `leaf` to `hasher`, many per call.
fn update_repeated(hasher: &mut StreamHasher, leaf: &[u8], count: u64) {
    let batch = leaf.repeat(REPEAT_BATCH);
    let mut left = count;
    while left > 0 {
        let n = left.min(REPEAT_BATCH as u64) as usize;
        hasher.update(&batch[..n * leaf.len()]);
        left -= n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the mix of single digests and runs, and wherever batches end, the value
    /// is the digest of the bytes appended, in order.
    #[test]
    fn the_outer_digest_equals_the_digest_of_everything_appended() {
        let mut plain = StreamHasher::new(Algorithm::Sha256);
        let mut outer = Outer::new(Algorithm::Sha256);
        for i in 0..5000u64 {
            let leaf = [(i % 251) as u8; 32];
            let count = [1, 1, 3, 0, 4000, 1][(i % 6) as usize];
            (0..count).for_each(|_| plain.update(&leaf));
            outer.update_repeated(&leaf, count);
        }
        plain.update(b"tail");
        outer.update(b"tail");
        assert_eq!(outer.finish(), plain.finish());
    }
}
