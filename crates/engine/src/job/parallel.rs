//! The parallel strategy: chunked constructions on a positional source, hashed in parallel
//! without a single reader.
//!
//! When a job has only chunked constructions, nothing needs the bytes in order, so each
//! pool thread takes the next *unit* (a stretch that is a whole number of chunks of every
//! requested construction), reads it with positional reads into its own small buffer and
//! feeds every construction. The small per-thread buffer stays in cache, which measured ~4×
//! faster here than handing large buffers between threads.
//!
//! Units are handed out in order by a [`UnitQueue`], which also bounds how far ahead of
//! an unfinished unit the others may run, and hands a stretch of hole units out as one.
//!
//! A unit of a local file may instead be hashed from a mapping of it (no copy: see
//! `mapping`); the first units probe which way is faster on this machine and input
//! ([`super::probe`]), and every thread then takes the faster way.

use std::fs::File;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::ThreadPool;

use crate::consumers::{ChunkCursor, ChunkedDigest, Piece};
use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::mapping::{cut_short, Mapping};
use crate::reader::{check_unchanged, read_error, read_exact_at, DataMap, ReadBuffer};
use crate::source::Source;

use super::probe::{probed_way, Probe};
use super::units::UnitQueue;
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
            file: source.mapped_file(),
            probe: Mutex::new(Probe::default()),
            use_map: AtomicBool::new(true),
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
    /// The local file behind the source, if units may be hashed from mappings of it.
    file: Option<&'a File>,
    probe: Mutex<Probe>,
    /// The probe's verdict (mapping until it has one).
    use_map: AtomicBool,
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
        let spans_holes = self.detect_holes && digests.iter().all(|d| d.shares_zero_leaf());
        let hole_units = |first: u64| match spans_holes {
            true => self.hole_units(source, first),
            false => 0,
        };
        let first_error = Mutex::new(None);
        pool.scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|_| {
                    let mut buf = ReadBuffer::new(self.read_size);
                    while let Some(units) = queue.take(hole_units) {
                        let range = units.start * self.unit..(units.end * self.unit).min(len);
                        let way = self.way(units.start);
                        match self.hash_unit(source, digests, range, way, &mut buf) {
                            Ok(()) => queue.finish(units.start),
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

    /// How many claims may be in flight from the first unfinished one: two per thread, so
    /// that a thread finishing one finds the next free, but fewer when units hold so many
    /// chunks (tiny chunk sizes) that the digests waiting behind an unfinished unit would
    /// exceed [`MAX_WAITING_DIGESTS`]; with a window of 1 nothing ever waits.
    fn window(&self, digests: &[ChunkedDigest], threads: usize) -> usize {
        let smallest_chunk = digests.iter().map(|d| d.chunk_size()).min().unwrap_or(1);
        let chunks_per_unit = self.unit.div_ceil(smallest_chunk).max(1);
        let affordable = 1 + MAX_WAITING_DIGESTS / chunks_per_unit;
        affordable.min(2 * threads as u64).max(1) as usize
    }

    /// How many whole units from unit `first` on hold only holes, to claim as one. An
    /// error looking up says none: hashing the unit then reports it.
    fn hole_units(&self, source: &dyn Source, first: u64) -> u64 {
        let start = first * self.unit;
        match source.next_data(start) {
            Ok(None) => source.len().div_ceil(self.unit) - first,
            Ok(Some(data)) if data.start > start => (data.start - start) / self.unit,
            Ok(Some(_)) | Err(_) => 0,
        }
    }

    /// Feeds the hole `segment` to every cursor, piece by piece. The cursors check the
    /// token chunk by chunk, so even a huge hole in tiny chunks stops promptly; a
    /// cancelled piece must not count as progress.
    fn hash_hole(&self, cursors: &mut [ChunkCursor<'_>], segment: Range<u64>) -> Result<()> {
        let piece = HOLE_PIECE_UNITS * self.unit;
        let mut pos = segment.start;
        while pos < segment.end {
            let len = (segment.end - pos).min(piece);
            cursors.iter_mut().for_each(|c| c.feed(Piece::Zeros(len)));
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            self.progress.add(len);
            pos += len;
        }
        Ok(())
    }

    /// Whether unit `index` is hashed from a mapping.
    fn way(&self, index: u64) -> bool {
        self.file.is_some()
            && probed_way(index).unwrap_or_else(|| self.use_map.load(Ordering::Relaxed))
    }

    /// Counts a unit's time in the probe, if it is one of the probe's and all data.
    fn record(&self, mapped: bool, range: Range<u64>, holes: bool, started: Instant) {
        if self.file.is_none() || holes || probed_way(range.start / self.unit).is_none() {
            return;
        }
        let mut probe = self.probe.lock().expect("probe lock");
        probe.record(mapped, range.end - range.start, started.elapsed());
        if let Some(map) = probe.verdict() {
            self.use_map.store(map, Ordering::Relaxed);
        }
    }

    fn hash_unit(
        &self,
        source: &dyn Source,
        digests: &[ChunkedDigest],
        range: Range<u64>,
        mapped: bool,
        buf: &mut [u8],
    ) -> Result<()> {
        let started = Instant::now();
        let mut cursors: Vec<_> = digests
            .iter()
            .map(|d| ChunkCursor::new(d, range.start, self.cancel))
            .collect();
        let mut map = DataMap::new(source, self.detect_holes);
        let segments = map
            .segments(range.clone())
            .map_err(|e| read_error(source, range.start, e))?;
        let holes = segments.iter().any(|(_, is_data)| !is_data);
        for (segment, is_data) in segments {
            if !is_data {
                self.hash_hole(&mut cursors, segment)?;
                continue;
            }
            let mut pos = segment.start;
            if let (true, Some(file)) = (mapped, self.file) {
                pos = self.hash_mapped(source, file, &mut cursors, segment.clone())?;
            }
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
        self.record(mapped, range, holes, started);
        Ok(())
    }

    /// Feeds the data `segment` from mappings of it, at most [`MAP_PIECE`] at a time (a
    /// unit may be as large as a chunk, up to 1 GiB, and mapped pages count as resident);
    /// returns where it stopped: the segment's end, or where a mapping could not be made
    /// (the caller reads the rest).
    fn hash_mapped(
        &self,
        source: &dyn Source,
        file: &File,
        cursors: &mut [ChunkCursor<'_>],
        segment: Range<u64>,
    ) -> Result<u64> {
        let page = rustix::param::page_size() as u64;
        let mut pos = segment.start;
        while pos < segment.end {
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let start = pos / page * page;
            let end = segment.end.min(start + MAP_PIECE);
            let Some(mapping) = Mapping::new(file, start, (end - start) as usize) else {
                return Ok(pos);
            };
            let skip = (pos - start) as usize;
            mapping.populate(skip..(end - start) as usize);
            let data = &mapping.bytes()[skip..];
            cursors.iter_mut().for_each(|c| c.feed(Piece::Bytes(data)));
            if mapping.was_cut() {
                return Err(cut_short(source, start));
            }
            self.progress.add(data.len() as u64);
            pos = end;
        }
        Ok(pos)
    }
}

/// Bytes mapped at a time: one smallest unit, so each unit costs one mapping, and the pages
/// mapped at once stay at a few units (a unit may be as large as a 1 GiB chunk).
const MAP_PIECE: u64 = 16 << 20;

/// A hole is fed in pieces of this many units: a hole claimed whole may span a terabyte,
/// and blkhash and S3 still hash one digest per chunk of it, so progress moves and a
/// cancel is seen between pieces.
const HOLE_PIECE_UNITS: u64 = 64;

/// Chunk digests a construction may hold waiting for an earlier unit (~100 bytes each, so
/// a few MiB), whatever the chunk size and image size.
const MAX_WAITING_DIGESTS: u64 = 1 << 16;
