//! The split-read strategy: two threads share the reading (the kernel's copy from the page
//! cache), and the calling thread hashes every block in order.

use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use crate::error::Result;
use crate::reader::{Block, BufferPool, ReadPlan};
use crate::source::Source;

use super::feed::OneThreadDigests;
use super::HashJob;

impl HashJob {
    /// Two readers take alternate blocks; the calling thread hashes its own block and then
    /// its partner's, so every block is hashed in order while each core copies half.
    pub(super) fn run_split_read(
        &self,
        source: &dyn Source,
        digests: OneThreadDigests<'_>,
        block_size: usize,
    ) -> (Result<u64>, Vec<Vec<u8>>) {
        let plan = ReadPlan {
            // One block each being read, one being hashed, one waiting in the channel.
            pool: BufferPool::new(block_size, 4),
            detect_holes: self.detect_holes,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
        };
        let mut digests = digests;
        let mut feed = |block: &Block| digests.feed(block);
        self.progress.start(Some(source.len()));
        let read = std::thread::scope(|scope| {
            let (partner_blocks, from_partner) = sync_channel::<Result<Arc<Block>>>(1);
            let plan = &plan;
            scope.spawn(move || {
                let outcome = plan
                    .read_every_nth(source, 1, 2, |block| partner_blocks.send(Ok(block)).is_ok());
                if let Err(e) = outcome {
                    let _ = partner_blocks.send(Err(e));
                }
            });
            let mut partner_error = None;
            let read = plan.read_every_nth(source, 0, 2, |block| {
                feed(&block);
                match from_partner.recv() {
                    Ok(Ok(next)) => {
                        feed(&next);
                        true
                    }
                    Ok(Err(e)) => {
                        partner_error = Some(e);
                        false
                    }
                    // The partner has sent its last block.
                    Err(_) => true,
                }
            });
            // Dropping the receiver stops a partner still reading after our error.
            drop(from_partner);
            match partner_error {
                Some(e) => Err(e),
                None => read,
            }
        });
        (read, digests.finish())
    }
}
