//! One image file of a chain, as the chain sees it: runs of guest bytes that are stored
//! somewhere, compressed somewhere, known to be zero, or left to the backing file.

use std::io;

use crate::source::Source;

/// What a run of guest bytes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extent {
    /// Stored uncompressed at `offset` of the layer's file number `file` (0 = the image
    /// file itself, 1 = a qcow2 external data file).
    Stored { file: usize, offset: u64 },
    /// Inside a compressed cluster (grain) whose data lies at `offset`, `len` bytes long;
    /// the run starts `skip` bytes into the decompressed cluster.
    Compressed { offset: u64, len: u64, skip: u64 },
    /// Reads as zeros.
    Zero,
    /// Not allocated here: the backing file's bytes show through (zeros at the chain's end).
    Unallocated,
}

/// A run of guest bytes of one kind, starting at the offset that was asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) extent: Extent,
    /// At least 1; never past the layer's virtual size.
    pub(crate) len: u64,
}

/// A format's metadata reader: maps guest offsets to runs and reads what they point at.
pub(crate) trait Layer: Send + Sync {
    /// The guest-visible size in bytes.
    fn size(&self) -> u64;

    /// The run starting at `offset` (< `size()`). Errors name the corrupt table or entry.
    fn run_at(&self, offset: u64) -> io::Result<Run>;

    /// The layer's file number `index` (see [`Extent::Stored`]).
    fn file(&self, index: usize) -> &dyn Source;

    /// The whole decompressed cluster (grain) whose compressed data lies at `offset`.
    fn decompress(&self, offset: u64, len: u64) -> io::Result<Vec<u8>>;

    /// Size of a decompressed cluster, for the cache's accounting.
    fn cluster_size(&self) -> u64;

    /// `Some(reason)` if one of the layer's files changed since it was opened.
    fn changed_since_open(&self) -> io::Result<Option<String>>;
}

/// An `InvalidData` error: the image's metadata is corrupt or unsupported.
pub(crate) fn corrupt(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_full(source: &dyn Source, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match source.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Fills `buf` from `offset`; a file ending first means the image is truncated.
pub(crate) fn read_exact(source: &dyn Source, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let n = read_full(source, buf, offset)?;
    if n < buf.len() {
        return Err(corrupt(format!(
            "the file ends at offset {}, inside the {} bytes needed at offset {offset}: the \
             image is truncated",
            offset + n as u64,
            buf.len()
        )));
    }
    Ok(())
}
