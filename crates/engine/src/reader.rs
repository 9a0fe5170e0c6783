//! The read side of a job: one reader runs ahead of the hashers, filling a small bounded
//! pool of reusable buffers with positional reads, and hands each filled block to every
//! digest. Memory is `buffers × block size` whatever the input size, and a block's buffer
//! goes back to the pool only when the last digest (or chunk task) has dropped it.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

pub(crate) use crate::buffers::{Block, BufferPool, ReadBuffer};
use crate::control::{CancelToken, Progress};
use crate::error::{Error, Result};
use crate::source::Source;

/// A run of zeros fed to digests for holes, so that holes cost no reads and no buffers.
pub(crate) static ZEROS: [u8; 256 * 1024] = [0; 256 * 1024];

/// Calls `feed` with `len` zero bytes, in slices of [`ZEROS`].
pub(crate) fn feed_zeros(mut len: u64, mut feed: impl FnMut(&[u8])) {
    while len > 0 {
        let n = len.min(ZEROS.len() as u64) as usize;
        feed(&ZEROS[..n]);
        len -= n as u64;
    }
}

/// What the reader reads.
pub(crate) enum Input<'a> {
    /// A positional source of known length.
    Source(&'a dyn Source),
    /// A stream such as stdin, read in order to its end.
    Stream(&'a mut dyn Read),
}

/// Reader settings.
pub(crate) struct ReadPlan {
    pub(crate) pool: Arc<BufferPool>,
    pub(crate) detect_holes: bool,
    pub(crate) progress: Progress,
    pub(crate) cancel: CancelToken,
}

impl ReadPlan {
    fn block(&self, len: usize, data: Option<ReadBuffer>) -> Arc<Block> {
        Arc::new(Block::new(len, data, &self.pool, &self.progress))
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// Reads the whole input in order, calling `emit` with each block. Returns the number
    /// of bytes read.
    pub(crate) fn run(&self, input: Input<'_>, emit: impl FnMut(Arc<Block>)) -> Result<u64> {
        match input {
            Input::Source(source) => self.read_source(source, emit),
            Input::Stream(stream) => self.read_stream(stream, emit),
        }
    }

    fn read_source(&self, source: &dyn Source, mut emit: impl FnMut(Arc<Block>)) -> Result<u64> {
        self.progress.start(Some(source.len()));
        self.read_every_nth(source, 0, 1, |block| {
            emit(block);
            true
        })
    }

    /// Reads blocks `first`, `first + step`, `first + 2 * step`, ... of `source` in order,
    /// calling `emit` with each until it returns false. Several readers with different
    /// `first` share one source's reading between cores (the caller starts the progress
    /// count once for all of them). Returns the source's length.
    pub(crate) fn read_every_nth(
        &self,
        source: &dyn Source,
        first: u64,
        step: u64,
        mut emit: impl FnMut(Arc<Block>) -> bool,
    ) -> Result<u64> {
        let len = source.len();
        let mut map = DataMap::new(source, self.detect_holes);
        let block_size = self.pool.size as u64;
        // Reused for every block: one allocation per 64 KiB block showed in profiles.
        let mut segments = Vec::new();
        let mut offset = first * block_size;
        while offset < len {
            self.check_cancel()?;
            let end = (offset + block_size).min(len);
            map.segments_into(offset..end, &mut segments)
                .map_err(|e| read_error(source, offset, e))?;
            let block_len = (end - offset) as usize;
            let go_on = if segments.iter().all(|(_, is_data)| !is_data) {
                emit(self.block(block_len, None))
            } else {
                let mut buf = self.pool.take();
                for (range, is_data) in segments.drain(..) {
                    let part =
                        &mut buf[(range.start - offset) as usize..(range.end - offset) as usize];
                    if is_data {
                        read_exact_at(source, part, range.start)?;
                    } else {
                        part.fill(0);
                    }
                }
                emit(self.block(block_len, Some(buf)))
            };
            if !go_on {
                return Ok(len);
            }
            offset += step * block_size;
        }
        check_unchanged(source)?;
        Ok(len)
    }

    fn read_stream(&self, stream: &mut dyn Read, mut emit: impl FnMut(Arc<Block>)) -> Result<u64> {
        self.progress.start(None);
        let mut offset = 0u64;
        loop {
            self.check_cancel()?;
            let mut buf = self.pool.take();
            let mut filled = 0;
            while filled < buf.len() {
                match stream.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        return Err(Error::Read {
                            source_name: "standard input".to_string(),
                            offset: offset + filled as u64,
                            error,
                        })
                    }
                }
            }
            if filled == 0 {
                self.pool.give_back(buf);
                return Ok(offset);
            }
            emit(self.block(filled, Some(buf)));
            offset += filled as u64;
        }
    }
}

/// Fails if the source changed since it was opened.
pub(crate) fn check_unchanged(source: &dyn Source) -> Result<()> {
    match source.changed_since_open() {
        Ok(None) => Ok(()),
        Ok(Some(detail)) => Err(Error::Changed {
            source_name: source.describe(),
            detail,
        }),
        Err(e) => Err(read_error(source, source.len(), e)),
    }
}

pub(crate) fn read_error(source: &dyn Source, offset: u64, e: io::Error) -> Error {
    Error::Read {
        source_name: source.describe(),
        offset,
        error: e,
    }
}

/// Fills `buf` from `offset`; the source ending early means it shrank while hashed.
pub(crate) fn read_exact_at(
    source: &dyn Source,
    mut buf: &mut [u8],
    mut offset: u64,
) -> Result<()> {
    while !buf.is_empty() {
        match source.read_at(buf, offset) {
            Ok(0) => {
                return Err(Error::Changed {
                    source_name: source.describe(),
                    detail: format!(
                        "ended at offset {offset}, before the {} bytes it had when opened",
                        source.len()
                    ),
                })
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(source, offset, e)),
        }
    }
    Ok(())
}

/// Walks the source's data ranges alongside the reader, asking the source only when the
/// reader passes the end of the range it knows.
pub(crate) struct DataMap<'a> {
    source: &'a dyn Source,
    /// The first data range whose end lies beyond the reader, if any remains.
    current: Option<Range<u64>>,
    /// Where `current` was looked up from; `None` before the first look-up.
    looked_up_at: Option<u64>,
}

impl<'a> DataMap<'a> {
    pub(crate) fn new(source: &'a dyn Source, detect_holes: bool) -> DataMap<'a> {
        // Without hole detection the whole source is one data range.
        let (current, looked_up_at) = if detect_holes {
            (None, None)
        } else {
            (Some(0..source.len()), Some(0))
        };
        DataMap {
            source,
            current,
            looked_up_at,
        }
    }

    /// Splits `range` into (sub-range, holds data) pieces in order.
    pub(crate) fn segments(&mut self, range: Range<u64>) -> io::Result<Vec<(Range<u64>, bool)>> {
        let mut pieces = Vec::new();
        self.segments_into(range, &mut pieces)?;
        Ok(pieces)
    }

    /// [`segments`](Self::segments) into `pieces`, which is cleared first.
    pub(crate) fn segments_into(
        &mut self,
        range: Range<u64>,
        pieces: &mut Vec<(Range<u64>, bool)>,
    ) -> io::Result<()> {
        pieces.clear();
        let mut pos = range.start;
        while pos < range.end {
            let stale = match (&self.current, self.looked_up_at) {
                (_, None) => true,
                (Some(data), _) => data.end <= pos,
                (None, Some(_)) => false, // nothing but holes remain
            };
            if stale {
                self.current = self.source.next_data(pos)?;
                self.looked_up_at = Some(pos);
            }
            let (end, is_data) = match &self.current {
                Some(data) if data.start <= pos => (data.end.min(range.end), true),
                Some(data) => (data.start.min(range.end), false),
                None => (range.end, false),
            };
            pieces.push((pos..end, is_data));
            pos = end;
        }
        Ok(())
    }
}
