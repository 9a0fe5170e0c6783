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
//! `mapping`). Which way is faster depends on the machine and the input, so the first
//! data is hashed in pieces of [`PROBE_PIECE`], read and mapped in turn and timed
//! ([`super::probe`]), until the probe has a verdict; every thread then takes the
//! faster way. Pieces rather than whole units: the way that loses costs a few percent
//! more per byte, so the fewer bytes it hashes the better (probing whole 16 MiB units
//! read 80 MiB the slower way, ~5% of hashing 1 GiB with BLAKE3 on an Intel Xeon).

use std::fs::File;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use rayon::ThreadPool;

use crate::consumers::{ChunkCursor, ChunkedDigest, Piece};
use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::mapping::{cut_short, Mapping};
use crate::reader::{check_unchanged, read_error, read_exact_at, DataMap, ReadBuffer};
use crate::source::Source;

use super::probe::Probe;
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
            verdict: OnceLock::new(),
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
    /// The probe's verdict once it has one: map (true) or read.
    verdict: OnceLock<bool>,
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
                        match self.hash_unit(source, digests, range, &mut buf) {
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
                self.hash_hole(&mut cursors, segment)?;
                continue;
            }
            let mut pos = segment.start;
            while pos < segment.end && self.probing() {
                let piece = pos..segment.end.min(pos + PROBE_PIECE);
                self.probe_piece(source, &mut cursors, piece.clone(), buf)?;
                pos = piece.end;
            }
            // Past the probe (or on a source that cannot be mapped): its verdict.
            let mapped = self.verdict.get() == Some(&true);
            self.hash_data(source, &mut cursors, pos..segment.end, mapped, buf)?;
        }
        // Only the unit at the end of the input can end inside a chunk.
        cursors.into_iter().for_each(ChunkCursor::finish);
        Ok(())
    }

    /// Whether data is still hashed in probe pieces: the input can be mapped and the
    /// probe has no verdict yet.
    fn probing(&self) -> bool {
        self.file.is_some() && self.verdict.get().is_none()
    }

    /// Hashes one piece the way the probe hands out next and counts its time; a piece
    /// cut short by the end of a segment is not counted (a mapping's fixed cost would
    /// weigh more on it).
    fn probe_piece(
        &self,
        source: &dyn Source,
        cursors: &mut [ChunkCursor<'_>],
        piece: Range<u64>,
        buf: &mut [u8],
    ) -> Result<()> {
        let mapped = self.probe.lock().expect("probe lock").next_way();
        let started = Instant::now();
        self.hash_data(source, cursors, piece.clone(), mapped, buf)?;
        if piece.end - piece.start == PROBE_PIECE {
            let mut probe = self.probe.lock().expect("probe lock");
            probe.record(mapped, PROBE_PIECE, started.elapsed());
            if let Some(map) = probe.verdict() {
                let _ = self.verdict.set(map);
            }
        }
        Ok(())
    }

    /// Feeds the data `segment` to every cursor, from mappings or read into `buf`.
    fn hash_data(
        &self,
        source: &dyn Source,
        cursors: &mut [ChunkCursor<'_>],
        segment: Range<u64>,
        mapped: bool,
        buf: &mut [u8],
    ) -> Result<()> {
        let mut pos = segment.start;
        if let (true, Some(file)) = (mapped, self.file) {
            pos = self.hash_mapped(source, file, cursors, segment.clone())?;
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

/// Bytes the probe hashes at a time, one way or the other: the mapped strategy's window,
/// long enough (about 1 ms) to time, short enough that the probe's ten pieces are a small
/// part of a large input.
const PROBE_PIECE: u64 = 4 << 20;

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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;
    use crate::chunked::BLAKE3_SUBTREE;
    use crate::size::MIB;
    use crate::source::FileSource;
    use crate::Algorithm;

    /// BLAKE3 of the file at `path` in parallel units, with the probe's verdict given
    /// beforehand (`None`: the probe runs).
    fn blake3_in_units(path: &std::path::Path, verdict: Option<bool>) -> Vec<u8> {
        let source = FileSource::open(path).unwrap();
        let digests = [ChunkedDigest::new(Algorithm::Blake3, BLAKE3_SUBTREE, None)];
        let (progress, cancel) = (Progress::new(), CancelToken::new());
        let plan = UnitPlan {
            unit: 16 * MIB,
            read_size: 256 << 10,
            detect_holes: true,
            progress: &progress,
            cancel: &cancel,
            file: source.mapped_file(),
            probe: Mutex::new(Probe::default()),
            verdict: verdict.map(OnceLock::from).unwrap_or_default(),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let len = plan.run(&source, &digests, &pool).unwrap();
        assert_eq!(len, source.len());
        let [digest] = digests;
        digest.finish().bytes
    }

    /// Every way a unit may be hashed (read, mapped, or probed piece by piece, across
    /// data, a hole and an end inside a piece) gives the BLAKE3 reference value.
    #[test]
    fn read_mapped_and_probed_units_give_the_reference_blake3() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let file = std::fs::File::create(&path).unwrap();
        let noise: Vec<u8> = (0..53 * MIB + 777).map(|i| (i * 7 % 251) as u8).collect();
        file.write_all_at(&noise[..40 * MIB as usize + 5], 0)
            .unwrap();
        file.write_all_at(&noise[40 * MIB as usize..], 70 * MIB)
            .unwrap();
        let expected = blake3::hash(&std::fs::read(&path).unwrap());
        for verdict in [Some(false), Some(true), None] {
            let value = blake3_in_units(&path, verdict);
            assert_eq!(value, expected.as_bytes(), "verdict {verdict:?}");
        }
    }
}
