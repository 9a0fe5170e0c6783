//! Where the bytes come from: the [`Source`] trait and the local file source.
//!
//! The hashing pipeline only needs a length, positional reads, and (optionally) where the
//! data lies, so remote backends (Ceph RBD objects, S3 range reads, a qcow2's guest view)
//! plug in without touching the algorithms.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A fixed-length byte source readable at any offset, from several threads at once.
pub trait Source: Send + Sync {
    /// The path or URL, for messages.
    fn describe(&self) -> String;

    /// The length in bytes, fixed when the source was opened.
    fn len(&self) -> u64;

    /// True if the source holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`, like `pread(2)`; 0 means end of data.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// The first range at or after `offset` that may hold non-zero bytes, or `None` if
    /// only zeros (holes) remain. The default says everything is data; sparse-aware
    /// sources override it so that holes are never read.
    fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        Ok((offset < self.len()).then(|| offset..self.len()))
    }

    /// The local file this source reads, byte for byte at the same offsets, if it is one:
    /// the engine may then map stretches of it instead of reading them (see `mapping`).
    /// The default says none.
    fn mapped_file(&self) -> Option<&File> {
        None
    }

    /// Called after the last read: `Some(reason)` if the source changed since it was
    /// opened (so the digest would describe no real state of it).
    fn changed_since_open(&self) -> io::Result<Option<String>> {
        Ok(None)
    }
}

/// A local file or block device, read with `pread` and sparse-aware through
/// `SEEK_DATA`/`SEEK_HOLE`.
///
/// Takes a path rather than an open `File` so that it can notice the path being replaced
/// or deleted while the file is hashed.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    file: File,
    len: u64,
    identity: Identity,
}

/// What must stay the same from open to the end of hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

impl FileSource {
    /// Opens `path` for hashing and takes its length.
    ///
    /// Refuses inputs without a fixed length, which positional reads would get wrong:
    /// character devices, fifos, sockets, and files of kernel pseudo-file systems (procfs,
    /// sysfs: their size says 0 or 4096 whatever they hold).
    /// [`HashJob::hash_file`](crate::HashJob::hash_file) reads those as streams, like
    /// `md5sum`.
    pub fn open(path: impl AsRef<Path>) -> Result<FileSource> {
        match FileInput::open(path.as_ref())? {
            FileInput::Positional(source) => Ok(source),
            FileInput::Stream(stream) => Err(Error::Open {
                path: stream.path,
                error: io::Error::new(
                    io::ErrorKind::Unsupported,
                    "has no fixed length (a character device, fifo, socket or kernel \
                     pseudo-file); read it as a stream",
                ),
            }),
        }
    }

    /// The path this source was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A file read from start to end, for inputs whose length is only known at their end.
#[derive(Debug)]
pub(crate) struct FileStream {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

impl FileStream {
    /// `error` from reading this file as a stream, which the reader calls standard input,
    /// naming the file instead.
    pub(crate) fn name_read_error(&self, error: Error) -> Error {
        match error {
            Error::Read { offset, error, .. } => Error::Read {
                source_name: self.path.display().to_string(),
                offset,
                error,
            },
            other => other,
        }
    }
}

/// How a path is read: positionally, or as a stream like `md5sum` reads everything.
#[derive(Debug)]
pub(crate) enum FileInput {
    Positional(FileSource),
    Stream(FileStream),
}

impl FileInput {
    /// Opens `path` and decides how to read it from what it is: a regular file or block
    /// device has a fixed length and is read positionally; anything else is a stream.
    /// Callers stream a positional input of length 0 too: if it is really empty the
    /// stream ends at once, and if it is a pseudo-file of a file system not recognised
    /// here, reading to its end is the only way to its bytes (issue #11: `/proc/version`
    /// was hashed as empty). Opening a fifo waits for a writer, as in `md5sum`.
    pub(crate) fn open(path: &Path) -> Result<FileInput> {
        let path = path.to_path_buf();
        let open_error = |error| Error::Open {
            path: path.clone(),
            error,
        };
        let mut file = File::open(&path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(open_error(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        let len = if kind.is_block_device() {
            // Block devices report 0 in their metadata; seeking to the end gives their size.
            Some(file.seek(SeekFrom::End(0)).map_err(open_error)?)
        } else if kind.is_file() && !on_pseudo_file_system(&file) {
            Some(meta.len())
        } else {
            None
        };
        Ok(match len {
            Some(len) => FileInput::Positional(FileSource {
                identity: Identity::of(&meta),
                path,
                file,
                len,
            }),
            None => FileInput::Stream(FileStream { path, file }),
        })
    }

    /// The input as a stream from its start (for a file whose size said 0, see
    /// [`open`](Self::open)).
    pub(crate) fn into_stream(self) -> FileStream {
        match self {
            FileInput::Positional(source) => FileStream {
                path: source.path,
                file: source.file,
            },
            FileInput::Stream(stream) => stream,
        }
    }
}

/// True if `file` lies on a kernel pseudo-file system, whose sizes are not the lengths of
/// the files (procfs says 0, sysfs 4096). Unknown when `fstatfs` fails: then not.
fn on_pseudo_file_system(file: &File) -> bool {
    // From linux/magic.h.
    const PSEUDO: [u32; 8] = [
        0x9fa0,      // proc
        0x6265_6572, // sysfs
        0x6462_6720, // debugfs
        0x7472_6163, // tracefs
        0x7363_6673, // securityfs
        0x6367_7270, // cgroup2
        0x0027_e0eb, // cgroup
        0x6265_6570, // configfs
    ];
    rustix::fs::fstatfs(file).is_ok_and(|stat| PSEUDO.contains(&(stat.f_type as u32)))
}

impl Source for FileSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    fn mapped_file(&self) -> Option<&File> {
        Some(&self.file)
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        use rustix::fs::{seek, SeekFrom as RawSeek};
        if offset >= self.len {
            return Ok(None);
        }
        // lseek moves the shared file offset, which nothing else uses: reads are positional.
        let start = match seek(&self.file, RawSeek::Data(offset)) {
            Ok(start) => start,
            Err(rustix::io::Errno::NXIO) => return Ok(None),
            // A file system without SEEK_DATA: treat everything as data.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) => {
                return Ok(Some(offset..self.len))
            }
            Err(e) => return Err(e.into()),
        };
        if start >= self.len {
            return Ok(None);
        }
        let end = match seek(&self.file, RawSeek::Hole(start)) {
            Ok(end) => end.min(self.len),
            Err(rustix::io::Errno::NXIO) => self.len,
            Err(e) => return Err(e.into()),
        };
        Ok(Some(start..end))
    }

    fn changed_since_open(&self) -> io::Result<Option<String>> {
        let now = Identity::of(&self.file.metadata()?);
        let opened = self.identity;
        if now.size != opened.size {
            let verb = if now.size < opened.size {
                "shrank"
            } else {
                "grew"
            };
            return Ok(Some(format!(
                "{verb} from {} to {} bytes",
                opened.size, now.size
            )));
        }
        if now.mtime_ns != opened.mtime_ns {
            return Ok(Some("was modified".to_string()));
        }
        match std::fs::metadata(&self.path) {
            Ok(at_path)
                if Identity::of(&at_path).ino != opened.ino
                    || Identity::of(&at_path).dev != opened.dev =>
            {
                Ok(Some("was replaced by another file".to_string()))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some("was deleted".to_string())),
            Err(e) => Err(e),
        }
    }
}

/// Bytes in memory, for [`HashJob::hash_slice`](crate::HashJob::hash_slice): positional
/// reads, so that the chunked constructions of a large slice are hashed in parallel.
pub(crate) struct SliceSource<'a>(pub(crate) &'a [u8]);

impl Source for SliceSource<'_> {
    fn describe(&self) -> String {
        format!("{} bytes in memory", self.0.len())
    }

    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).map_or(self.0.len(), |o| o.min(self.0.len()));
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}
