//! One copy of a source file into a storage, read once: the engine's MD5 reads through a
//! [`CopyReader`], which writes what it reads to the destination at the same offset.
//!
//! - Sparse: a regular file's holes (`SEEK_DATA`/`SEEK_HOLE`) are handed to MD5 as zeros
//!   without being read or written, so they stay holes in the copy (its length is set at
//!   the end) while the digest still covers them.
//! - Cancellable: the source is open non-blocking, so a read that would block (a kernel
//!   pseudo-file such as `/proc/kmsg`, stat-regular but endless) waits in `poll(2)` for at
//!   most [`POLL_INTERVAL`], and the cancel token is checked before every read: a
//!   cancelled copy returns within that interval and frees its thread.
//! - Honest sizes: bytes past the length stat gave at open are read as a stream to its
//!   end (a `/proc` file says 0 bytes and holds more).
//! - Errors name the file they happened on, and say whether the source (SYS.1016) or the
//!   destination (SYS.1006: full or unwritable storage) failed.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use imghash_engine::CancelToken;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::SeekFrom;

use crate::app::error::ApiError;

/// Longest wait in `poll(2)` before the cancel token is checked again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The source side and the destination of one copy.
pub struct CopyReader<'a> {
    source: &'a File,
    source_name: &'a Path,
    dest: &'a File,
    dest_name: &'a Path,
    cancel: &'a CancelToken,
    /// Next offset, in the source and in the destination.
    pos: u64,
    /// The length stat gave at open, where holes are looked for; 0 for a stream.
    sparse_len: u64,
    /// The data or hole region `pos` is in (valid while `pos < region_end`).
    region_is_data: bool,
    region_end: u64,
    /// The first failure, with its real file, for the caller (the engine's own error only
    /// knows it read "a stream").
    pub failure: Option<ApiError>,
}

impl<'a> CopyReader<'a> {
    /// A copy of `source` to `dest` (both open), stopping once `cancel` is cancelled.
    pub fn new(
        source: &'a File,
        source_name: &'a Path,
        dest: &'a File,
        dest_name: &'a Path,
        cancel: &'a CancelToken,
    ) -> CopyReader<'a> {
        // Holes are looked for only where stat gives a length and lseek knows them;
        // anything else (a /proc file, a filesystem without SEEK_DATA) is read densely.
        let len = source.metadata().map_or(0, |m| m.len());
        let seekable = len > 0 && rustix::fs::seek(source, SeekFrom::Data(0)).is_ok();
        CopyReader {
            source,
            source_name,
            dest,
            dest_name,
            cancel,
            pos: 0,
            sparse_len: if seekable { len } else { 0 },
            region_is_data: true,
            region_end: 0,
            failure: None,
        }
    }

    /// Bytes copied (holes included): the copy's length once the reader hit the end.
    pub fn copied(&self) -> u64 {
        self.pos
    }

    /// Records the first failure and hands the engine an error that stops the run.
    fn fail(&mut self, err: ApiError) -> io::Error {
        let message = err.to_string();
        self.failure.get_or_insert(err);
        io::Error::other(message)
    }

    /// Where `pos` is: in data (true) or a hole, up to `region_end`.
    fn locate(&mut self) -> io::Result<()> {
        let end = self.sparse_len;
        match rustix::fs::seek(self.source, SeekFrom::Data(self.pos)) {
            Ok(start) if start > self.pos => {
                (self.region_is_data, self.region_end) = (false, start.min(end));
            }
            Ok(_) => {
                let hole = rustix::fs::seek(self.source, SeekFrom::Hole(self.pos))?;
                (self.region_is_data, self.region_end) = (true, hole.min(end).max(self.pos + 1));
            }
            // No data after pos: a hole up to the length.
            Err(rustix::io::Errno::NXIO) => (self.region_is_data, self.region_end) = (false, end),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Reads source bytes at `pos` into `buf`, waiting in poll while none are ready.
    fn read_source(&mut self, buf: &mut [u8]) -> Result<usize, ApiError> {
        loop {
            if self.cancel.is_cancelled() {
                return Err(ApiError::Cancelled("The copy was cancelled".to_string()));
            }
            let read = if self.sparse_len > 0 {
                self.source.read_at(buf, self.pos)
            } else {
                (&mut &*self.source).read(buf)
            };
            match read {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_readable()?,
                Err(e) => return Err(self.source_error(e)),
            }
        }
    }

    fn wait_readable(&self) -> Result<(), ApiError> {
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(POLL_INTERVAL.subsec_nanos()),
        };
        let mut fds = [PollFd::new(self.source, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(self.source_error(e.into())),
        }
    }

    fn source_error(&self, err: io::Error) -> ApiError {
        ApiError::DataLoss(format!(
            "Cannot read {} at offset {}: {err}",
            self.source_name.display(),
            self.pos
        ))
    }

    fn dest_error(&self, err: io::Error) -> ApiError {
        dest_error(self.dest_name, err)
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize, ApiError> {
        if self.pos < self.sparse_len {
            if self.pos >= self.region_end {
                self.locate().map_err(|e| self.source_error(e))?;
            }
            let room = usize::try_from(self.region_end - self.pos).unwrap_or(usize::MAX);
            let n = buf.len().min(room);
            if !self.region_is_data {
                if self.cancel.is_cancelled() {
                    return Err(ApiError::Cancelled("The copy was cancelled".to_string()));
                }
                // A hole: zeros for the digest, nothing written.
                buf[..n].fill(0);
                self.pos += n as u64;
                return Ok(n);
            }
            return self.copy_data(&mut buf[..n]);
        }
        self.copy_data(buf)
    }

    fn copy_data(&mut self, buf: &mut [u8]) -> Result<usize, ApiError> {
        let n = self.read_source(buf)?;
        self.dest
            .write_all_at(&buf[..n], self.pos)
            .map_err(|e| self.dest_error(e))?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Read for CopyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf).map_err(|e| self.fail(e))
    }
}

/// A failure writing the copy: the storage is full or not writable (SYS.1006).
pub fn dest_error(dest: &Path, err: io::Error) -> ApiError {
    ApiError::FailedPrecondition(format!(
        "Cannot write the image copy {}: {err}",
        dest.display()
    ))
}
