//! The parallel strategy: chunked constructions on a positional source, hashed in parallel
//! without a single reader.
//!
//! When a job has only chunked constructions, nothing needs the bytes in order, so each
//! pool thread takes the next *unit* (a stretch that is a whole number of chunks of every
//! requested construction), reads it with positional reads into its own small buffer and
//! feeds every construction. The small per-thread buffer stays in cache, which measured ~4×
//! faster here than handing large buffers between threads.
//!
//! Units are handed out in order, and a unit hashed ahead of an unfinished earlier one
//! leaves its chunk digests waiting in the reorder buffers. Holes cost almost nothing to
//! hash, so on a sparse image one thread could race millions of chunks ahead of another
//! that reads data: a [`UnitQueue`] hands out units at most a window ahead of the first
//! unfinished one, which bounds those digests whatever the image size (issue #11).

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::{Condvar, Mutex};

use rayon::ThreadPool;

use crate::consumers::{ChunkCursor, ChunkedDigest, Piece};
use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::reader::{check_unchanged, read_error, read_exact_at, DataMap, ReadBuffer};
use crate::source::Source;

use super::HashJob;

impl HashJob {
    /// Hashes all of `source` into the chunked `digests` in units of `unit` bytes on `pool`;
    /// returns the number of bytes hashed.
    pub(super) fn run_parallel(
        &self,
        source: &dyn Source,
        unit: u64,
        read_size: usize,
        digests: &[ChunkedDigest],
        pool: &ThreadPool,
    ) -> Result<u64> {
        let plan = UnitPlan {
            unit,
            read_size,
            detect_holes: self.detect_holes,
            progress: &self.progress,
            cancel: &self.cancel,
        };
        plan.run(source, digests, pool)
    }
}

/// How a parallel run reads.
struct UnitPlan<'a> {
    unit: u64,
    read_size: usize,
    detect_holes: bool,
    progress: &'a Progress,
    cancel: &'a CancelToken,
}

impl UnitPlan<'_> {
    /// Hashes all of `source` into `digests`; returns the number of bytes hashed.
    fn run(
        &self,
        source: &dyn Source,
        digests: &[ChunkedDigest],
        pool: &ThreadPool,
    ) -> Result<u64> {
        let len = source.len();
        self.progress.start(Some(len));
        let threads = pool.current_num_threads();
        let queue = UnitQueue::new(len.div_ceil(self.unit), self.window(digests, threads));
        let first_error = Mutex::new(None);
        pool.scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|_| {
                    let mut buf = ReadBuffer::new(self.read_size);
                    while let Some(unit) = queue.take() {
                        let range = unit * self.unit..((unit + 1) * self.unit).min(len);
                        match self.hash_unit(source, digests, range, &mut buf) {
                            Ok(()) => queue.finish(unit),
                            Err(e) => {
                                queue.stop();
                                first_error.lock().expect("error slot").get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().expect("error slot") {
            return Err(e);
        }
        check_unchanged(source)?;
        Ok(len)
    }

    /// How many units may be in flight from the first unfinished one: two per thread, so
    /// that a thread finishing a unit finds the next one free, but fewer when units hold so
    /// many chunks (tiny chunk sizes) that the digests waiting behind an unfinished unit
    /// would exceed [`MAX_WAITING_DIGESTS`]; with a window of 1 nothing ever waits.
    fn window(&self, digests: &[ChunkedDigest], threads: usize) -> u64 {
        let smallest_chunk = digests.iter().map(|d| d.chunk_size()).min().unwrap_or(1);
        let chunks_per_unit = self.unit.div_ceil(smallest_chunk).max(1);
        let affordable = 1 + MAX_WAITING_DIGESTS / chunks_per_unit;
        affordable.min(2 * threads as u64).max(1)
    }

    fn hash_unit(
        &self,
        source: &dyn Source,
        digests: &[ChunkedDigest],
        range: Range<u64>,
        buf: &mut [u8],
    ) -> Result<()> {
        let mut cursors: Vec<_> = digests
            .iter()
            .map(|d| ChunkCursor::new(d, range.start, self.cancel))
            .collect();
        let mut map = DataMap::new(source, self.detect_holes);
        let segments = map
            .segments(range.clone())
            .map_err(|e| read_error(source, range.start, e))?;
        for (segment, is_data) in segments {
            if !is_data {
                // The cursors check the token chunk by chunk, so even a huge hole in tiny
                // chunks stops promptly; a cancelled hole must not count as progress.
                let len = segment.end - segment.start;
                cursors.iter_mut().for_each(|c| c.feed(Piece::Zeros(len)));
                if self.cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                self.progress.add(len);
                continue;
            }
            let mut pos = segment.start;
            while pos < segment.end {
                if self.cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let n = (segment.end - pos).min(buf.len() as u64) as usize;
                read_exact_at(source, &mut buf[..n], pos)?;
                cursors
                    .iter_mut()
                    .for_each(|c| c.feed(Piece::Bytes(&buf[..n])));
                self.progress.add(n as u64);
                pos += n as u64;
            }
        }
        // Only the unit at the end of the input can end inside a chunk.
        cursors.into_iter().for_each(ChunkCursor::finish);
        Ok(())
    }
}

/// Chunk digests a construction may hold waiting for an earlier unit (~100 bytes each, so
/// a few MiB), whatever the chunk size and image size.
const MAX_WAITING_DIGESTS: u64 = 1 << 16;

/// Hands out unit numbers in order, never more than `window` past the first unit not yet
/// finished.
struct UnitQueue {
    units: u64,
    window: u64,
    state: Mutex<QueueState>,
    /// Signalled when the first unfinished unit moves on, or the run stops.
    moved: Condvar,
}

struct QueueState {
    next: u64,
    first_unfinished: u64,
    /// Finished units past `first_unfinished` (fewer than `window`).
    finished: BTreeSet<u64>,
    stopped: bool,
}

impl UnitQueue {
    fn new(units: u64, window: u64) -> UnitQueue {
        UnitQueue {
            units,
            window,
            state: Mutex::new(QueueState {
                next: 0,
                first_unfinished: 0,
                finished: BTreeSet::new(),
                stopped: false,
            }),
            moved: Condvar::new(),
        }
    }

    /// The next unit to hash, waiting while it lies beyond the window; `None` once all
    /// are handed out or the run stopped. No deadlock: the first unfinished unit is always
    /// held by a thread that is hashing it, not waiting here.
    fn take(&self) -> Option<u64> {
        let mut state = self.state.lock().expect("unit queue lock");
        loop {
            if state.stopped || state.next >= self.units {
                return None;
            }
            if state.next < state.first_unfinished + self.window {
                state.next += 1;
                return Some(state.next - 1);
            }
            state = self.moved.wait(state).expect("unit queue lock");
        }
    }

    fn finish(&self, unit: u64) {
        let mut state = self.state.lock().expect("unit queue lock");
        state.finished.insert(unit);
        let before = state.first_unfinished;
        while let Some(first) = state.finished.first().copied() {
            if first != state.first_unfinished {
                break;
            }
            state.finished.pop_first();
            state.first_unfinished += 1;
        }
        if state.first_unfinished != before {
            self.moved.notify_all();
        }
    }

    /// Ends the run after an error or a cancel: waiting threads return.
    fn stop(&self) {
        self.state.lock().expect("unit queue lock").stopped = true;
        self.moved.notify_all();
    }
}
