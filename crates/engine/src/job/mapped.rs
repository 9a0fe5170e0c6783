//! The mapped strategy: digests hash a local file's page cache in place, through
//! mappings of a few MiB that a helper thread sets up ahead of the hashing thread.
//!
//! The hashing (calling) thread then does nothing but hash, in order, while the helper
//! takes the cost of the page tables; the two meet once per window (a few MiB), not once
//! per block. Holes are neither mapped nor read: their zeros are fed from memory.
//!
//! Whether hashing from a mapping beats reading into a small buffer that stays in cache
//! depends on the machine (the copy's cost against page-table and memory costs, and
//! whether the helper finds a free core), so when the engine chooses the strategy itself
//! it *probes*: the first windows are read, the next ones mapped, each window's time
//! from the end of the one before to its own end is taken on the hashing thread (so a
//! helper that falls behind counts), and the faster way hashes the rest. Every probed
//! byte is a real part of the job's work, so nothing is measured twice.

use std::fs::File;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::time::Instant;

use crate::consumers::Piece;
use crate::error::{Error, Result};
use crate::mapping::{cut_short, Mapping};
use crate::reader::{check_unchanged, read_error, read_exact_at, DataMap, ReadBuffer};
use crate::size::MIB;
use crate::source::Source;

use super::feed::OneThreadDigests;
use super::probe::{probed_way, Probe};
use super::HashJob;

/// Bytes per mapping: large enough that the meetings of the two threads cost nothing,
/// small enough that the few windows in flight stay far below the 64 MiB resident
/// target (mapped page-cache pages count as resident while mapped).
const WINDOW: u64 = 4 * MIB;

/// One window of the input, as the helper hands it over.
struct Window {
    start: u64,
    /// The window's pieces in order, each data (true) or hole.
    segments: Vec<(Range<u64>, bool)>,
    /// The window mapped and populated, or `None` to read it.
    mapping: Option<Mapping>,
}

/// Whether a job maps its windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapMode {
    /// Every window (the strategy forced).
    Always,
    /// Whichever way the first windows measure faster.
    Probe,
}

impl HashJob {
    /// Hashes the local file behind `source` through mappings; returns the bytes hashed,
    /// the digests' values, and whether the windows after the probe were mapped.
    pub(super) fn run_mapped(
        &self,
        source: &dyn Source,
        file: &File,
        digests: OneThreadDigests<'_>,
        read_size: usize,
        mode: MapMode,
    ) -> (Result<u64>, Vec<Vec<u8>>, bool) {
        let mut digests = digests;
        let len = source.len();
        self.progress.start(Some(len));
        // With a single thread the helper would take turns with the hasher: the hashing
        // thread populates, and the probe counts that cost too.
        let ahead = self.thread_count() >= 2;
        let use_map = AtomicBool::new(true);
        let result = std::thread::scope(|scope| {
            let (windows, from_helper) = sync_channel(1);
            let (spent, to_unmap) = channel();
            let helper = Helper {
                source,
                file,
                detect_holes: self.detect_holes,
                populate: ahead,
                probe: mode == MapMode::Probe,
                use_map: &use_map,
                cancel: &self.cancel,
            };
            scope.spawn(move || helper.run(windows, to_unmap));
            let mut hasher = WindowHasher {
                job: self,
                source,
                digests: &mut digests,
                buf: ReadBuffer::new(read_size),
                populate: !ahead,
                probe: Probe::default(),
                spent,
            };
            hasher.hash_all(from_helper, mode, &use_map)
        });
        let result = result.and_then(|()| check_unchanged(source).map(|()| len));
        (result, digests.finish(), use_map.into_inner())
    }
}

/// The helper thread: splits the input into windows, and maps and populates those the
/// hashing thread will hash from a mapping.
struct Helper<'a> {
    source: &'a dyn Source,
    file: &'a File,
    detect_holes: bool,
    populate: bool,
    probe: bool,
    use_map: &'a AtomicBool,
    cancel: &'a crate::control::CancelToken,
}

impl Helper<'_> {
    /// Hands the windows over in order, and unmaps those the hashing thread is done
    /// with: unmapping (page tables and TLB) measured 8% of an XXH3 run, which this
    /// takes off the hashing thread.
    fn run(self, windows: SyncSender<Result<Window>>, spent: Receiver<Mapping>) {
        let len = self.source.len();
        let mut map = DataMap::new(self.source, self.detect_holes);
        let mut start = 0;
        let mut index = 0;
        while start < len && !self.cancel.is_cancelled() {
            let end = (start + WINDOW).min(len);
            spent.try_iter().for_each(drop);
            let window = self.window(&mut map, start..end, index);
            let failed = window.is_err();
            if windows.send(window).is_err() || failed {
                return; // the hashing thread stopped, or was told why
            }
            start = end;
            index += 1;
        }
    }

    fn window(&self, map: &mut DataMap<'_>, range: Range<u64>, index: u64) -> Result<Window> {
        let segments = map
            .segments(range.clone())
            .map_err(|e| read_error(self.source, range.start, e))?;
        // While probing, the first windows are read and the next ones mapped.
        let wanted = match probed_way(index).filter(|_| self.probe) {
            Some(mapped) => mapped,
            None => self.use_map.load(Ordering::Relaxed),
        };
        let has_data = segments.iter().any(|(_, is_data)| *is_data);
        let mapping = match wanted && has_data {
            true => Mapping::new(self.file, range.start, (range.end - range.start) as usize),
            false => None,
        };
        if let (Some(mapping), true) = (&mapping, self.populate) {
            for (segment, _) in segments.iter().filter(|(_, is_data)| *is_data) {
                let at = (segment.start - range.start) as usize;
                mapping.populate(at..at + (segment.end - segment.start) as usize);
            }
        }
        Ok(Window {
            start: range.start,
            segments,
            mapping,
        })
    }
}

/// The hashing thread's side.
struct WindowHasher<'a, 'd> {
    job: &'a HashJob,
    source: &'a dyn Source,
    digests: &'a mut OneThreadDigests<'d>,
    buf: ReadBuffer,
    /// True if this thread populates mappings itself (no helper runs ahead).
    populate: bool,
    probe: Probe,
    /// Where finished mappings go to be unmapped off this thread.
    spent: Sender<Mapping>,
}

impl WindowHasher<'_, '_> {
    fn hash_all(
        &mut self,
        windows: Receiver<Result<Window>>,
        mode: MapMode,
        use_map: &AtomicBool,
    ) -> Result<()> {
        let mut decided = mode == MapMode::Always;
        let mut last_end = Instant::now();
        for window in windows {
            if self.job.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let window = window?;
            let bytes = self.hash_window(&window)?;
            let elapsed = std::mem::replace(&mut last_end, Instant::now()).elapsed();
            // Windows with holes say nothing about reading speed.
            if !decided && window.segments.iter().all(|(_, is_data)| *is_data) {
                let mapped = window.mapping.is_some();
                self.probe.record(mapped, bytes, elapsed);
                if let Some(map) = self.probe.verdict() {
                    use_map.store(map, Ordering::Relaxed);
                    decided = true;
                }
            }
            self.job.progress.add(bytes);
            if let Some(mapping) = window.mapping {
                // If the helper has ended, the mapping comes back and is dropped here.
                let _ = self.spent.send(mapping);
            }
        }
        if self.job.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// Feeds one window to the digests; returns its length.
    fn hash_window(&mut self, window: &Window) -> Result<u64> {
        let mut bytes = 0;
        for (segment, is_data) in &window.segments {
            let len = segment.end - segment.start;
            bytes += len;
            if !is_data {
                self.digests.feed_piece(Piece::Zeros(len));
                continue;
            }
            let Some(mapping) = &window.mapping else {
                self.read(segment.clone())?;
                continue;
            };
            let at = (segment.start - window.start) as usize;
            let data = at..at + len as usize;
            if self.populate {
                mapping.populate(data.clone());
            }
            self.digests
                .feed_piece(Piece::Bytes(&mapping.bytes()[data]));
        }
        if window.mapping.as_ref().is_some_and(Mapping::was_cut) {
            return Err(cut_short(self.source, window.start));
        }
        Ok(bytes)
    }

    /// Reads `segment` a buffer at a time, hashing each while it is in cache.
    fn read(&mut self, segment: Range<u64>) -> Result<()> {
        let mut pos = segment.start;
        while pos < segment.end {
            let n = (segment.end - pos).min(self.buf.len() as u64) as usize;
            read_exact_at(self.source, &mut self.buf[..n], pos)?;
            self.digests.feed_piece(Piece::Bytes(&self.buf[..n]));
            pos += n as u64;
        }
        Ok(())
    }
}
