//! Guest content: the disk an image holds, as the guest sees it, whatever the image's
//! format (issue #14).
//!
//! A qcow2, a vmdk and the raw disk they were converted from hold the same disk, but their
//! files differ. [`ContentSource`] presents the guest-visible bytes of raw, qcow2 (v2/v3:
//! compressed clusters, zero clusters, extended L2 entries, backing chains, external data
//! files) and sparse VMDK (monolithicSparse, streamOptimized) images as a [`Source`], so
//! every algorithm hashes the disk rather than the file: `imghash sum --content img.qcow2`
//! equals `md5sum` of `qemu-img convert -O raw img.qcow2`.
//!
//! The image's metadata is read by this module's own small readers: the L1 table (or
//! grain directory) when the image is opened, L2 (grain) tables when first needed,
//! through a few cached tables so that memory stays bounded. Unallocated and zero clusters
//! are reported as holes through [`Source::next_data`], so the engine never reads them and
//! uses its zero-chunk digests; data clusters are read with positional reads from as many
//! threads as the job uses.
//!
//! What cannot be represented faithfully is refused with [`Error::Image`] naming the
//! problem: encryption, a missing backing file, a loop in the backing chain, unknown
//! compression, tables pointing past the end of the file or into metadata, absurd sizes.

mod cache;
mod chain;
mod decompress;
mod layer;
mod qcow2;
mod raw;
mod vmdk;

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::source::{FileSource, Source};
use chain::Chain;
use layer::Layer;
use qcow2::Qcow2Layer;
use raw::RawLayer;
use vmdk::VmdkLayer;

/// Largest virtual size accepted: far beyond any real disk, small enough that offset
/// arithmetic cannot overflow.
pub(crate) const MAX_VIRTUAL_SIZE: u64 = 1 << 60;

/// Longest backing chain followed (QEMU sets no limit; real chains are a few images).
const MAX_CHAIN: usize = 64;

/// A disk image format whose guest content imghash can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// The bytes of the file are the disk (also ISO images).
    Raw,
    /// QEMU copy-on-write, versions 2 and 3.
    Qcow2,
    /// VMware sparse extents: monolithicSparse and streamOptimized.
    Vmdk,
}

impl ImageFormat {
    /// The name as `qemu-img` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Vmdk => "vmdk",
        }
    }

    /// Recognises a format from the first bytes of an image (up to 512): qcow2 and VMDK by
    /// their magic; formats this reader does not support are refused by name rather than
    /// hashed as raw bytes; anything else is raw.
    pub fn detect(start: &[u8]) -> std::result::Result<ImageFormat, String> {
        const UNSUPPORTED: [(&[u8], &str); 6] = [
            (b"# Disk DescriptorFile", "a VMDK descriptor file (only monolithicSparse and streamOptimized VMDKs, which embed theirs, are supported)"),
            (b"QED\0", "a QED image"),
            (b"vhdxfile", "a VHDX image"),
            (b"conectix", "a VHD image"),
            (b"LUKS\xba\xbe", "a LUKS-encrypted image"),
            (b"<<< Oracle VM VirtualBox Disk Image >>>", "a VDI image"),
        ];
        if start.starts_with(qcow2::MAGIC) {
            return Ok(ImageFormat::Qcow2);
        }
        if start.starts_with(vmdk::MAGIC) {
            return Ok(ImageFormat::Vmdk);
        }
        match UNSUPPORTED
            .iter()
            .find(|(magic, _)| start.starts_with(magic))
        {
            Some((_, what)) => Err(format!("{what}, which is not supported")),
            None => Ok(ImageFormat::Raw),
        }
    }
}

impl ImageFormat {
    /// The virtual (guest) disk size that the header of a qcow2 held by `source` declares,
    /// from its first bytes alone (no table is read or checked); `None` if `source` does
    /// not start like a qcow2 or cannot be read.
    pub fn qcow2_guest_size(source: &dyn Source) -> Option<u64> {
        let mut start = [0; qcow2::GUEST_SIZE_BYTES];
        layer::read_exact(source, &mut start, 0).ok()?;
        qcow2::guest_size(&start)
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ImageFormat {
    type Err = Error;

    fn from_str(name: &str) -> Result<ImageFormat> {
        match name.to_ascii_lowercase().as_str() {
            "raw" | "iso" => Ok(ImageFormat::Raw),
            "qcow2" => Ok(ImageFormat::Qcow2),
            "vmdk" => Ok(ImageFormat::Vmdk),
            _ => Err(Error::InvalidRequest(format!(
                "unknown image format \"{name}\"; known formats: raw, qcow2, vmdk"
            ))),
        }
    }
}

/// The guest-visible disk of an image file, as a [`Source`] for any [`HashJob`](crate::HashJob).
///
/// ```no_run
/// use imghash_engine::{Algorithm, ContentSource, HashJob};
/// // The same value as `qemu-img convert -O raw disk.qcow2 disk.raw && md5sum disk.raw`.
/// let disk = ContentSource::open("disk.qcow2", None)?;
/// let report = HashJob::new([Algorithm::Md5])?.hash_source(&disk)?;
/// println!("{} ({} image)", report.digests[0], disk.format());
/// # Ok::<(), imghash_engine::Error>(())
/// ```
///
/// Opening reads the header and the L1 table (grain directory) and follows the backing
/// chain; tables and data are read while hashing. Performance: holes (unallocated and
/// zero clusters) cost no reads, so a 1 TiB qcow2 holding 1 GiB hashes about as fast as
/// a 1 GiB file with the chunked constructions; the sequential digests (MD5, SHA-*) still
/// have to hash every zero byte of the disk.
pub struct ContentSource {
    name: String,
    format: ImageFormat,
    chain: Vec<String>,
    view: View,
}

enum View {
    /// A raw image: the file itself.
    Plain(Box<dyn Source>),
    /// An image with metadata, on top of its backing files.
    Layers(Chain),
}

impl ContentSource {
    /// Opens the image at `path`, of `format` or (with `None`) the format its first bytes
    /// show, and the backing files it names (relative names are relative to the image's
    /// directory, as QEMU resolves them).
    pub fn open(path: impl AsRef<Path>, format: Option<ImageFormat>) -> Result<ContentSource> {
        let path = path.as_ref();
        let file = FileSource::open(path)?;
        ContentSource::build(Box::new(file), Some(path.to_path_buf()), format)
    }

    /// The guest view of an image held by another source (e.g. a qcow2 stored in a Ceph
    /// RBD image). Backing files and external data files cannot be followed from there
    /// and are refused.
    pub fn from_source(
        source: Box<dyn Source>,
        format: Option<ImageFormat>,
    ) -> Result<ContentSource> {
        ContentSource::build(source, None, format)
    }

    /// The image's format.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// The image and its backing files, top first, as opened.
    pub fn chain(&self) -> &[String] {
        &self.chain
    }

    fn build(
        top: Box<dyn Source>,
        path: Option<PathBuf>,
        format: Option<ImageFormat>,
    ) -> Result<ContentSource> {
        let name = top.describe();
        let format = match format {
            Some(format) => format,
            None => detect(&*top)?,
        };
        if format == ImageFormat::Raw {
            return Ok(ContentSource {
                chain: vec![name.clone()],
                name,
                format,
                view: View::Plain(top),
            });
        }
        let mut opener = ChainOpener::default();
        if let Some(path) = &path {
            opener.seen.extend(std::fs::canonicalize(path).ok());
        }
        let mut next = Some((top, path, format));
        while let Some((source, path, format)) = next.take() {
            next = opener.push(source, path, format)?;
        }
        Ok(ContentSource {
            name,
            format,
            chain: opener.names.clone(),
            view: View::Layers(Chain::new(opener.layers, opener.names.clone())),
        })
    }
}

/// The state of opening a backing chain, one image at a time.
#[derive(Default)]
struct ChainOpener {
    layers: Vec<Box<dyn Layer>>,
    names: Vec<String>,
    /// Canonical paths of the images opened so far, to refuse loops.
    seen: Vec<PathBuf>,
}

/// The next image of a chain to open: its source, path (if a file) and format.
type Pending = (Box<dyn Source>, Option<PathBuf>, ImageFormat);

impl ChainOpener {
    /// Adds one image as a layer; returns its backing file, if it has one.
    fn push(
        &mut self,
        source: Box<dyn Source>,
        path: Option<PathBuf>,
        format: ImageFormat,
    ) -> Result<Option<Pending>> {
        let name = source.describe();
        self.names.push(name.clone());
        let bad = |reason: String| Error::Image {
            name: name.clone(),
            reason,
        };
        let dir = path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let backing = match format {
            ImageFormat::Raw => {
                self.layers.push(Box::new(RawLayer::new(source)));
                None
            }
            ImageFormat::Vmdk => {
                self.layers
                    .push(Box::new(VmdkLayer::open(source).map_err(bad)?));
                None
            }
            ImageFormat::Qcow2 => {
                let open_data_file =
                    |file: &OsStr| -> std::result::Result<Box<dyn Source>, String> {
                        let dir = dir.as_deref().ok_or("the external data file can only be found next to an image opened by path")?;
                        let file = FileSource::open(dir.join(file))
                            .map_err(|e| format!("external data file: {e}"))?;
                        Ok(Box::new(file))
                    };
                let (layer, backing) = Qcow2Layer::open(source, open_data_file).map_err(bad)?;
                self.layers.push(Box::new(layer));
                backing
            }
        };
        let Some((file, format)) = backing else {
            return Ok(None);
        };
        let dir = dir.ok_or_else(|| {
            bad(
                "it names a backing file, which can only be followed from an image opened by path"
                    .into(),
            )
        })?;
        let backing_path = dir.join(&file);
        if self.layers.len() >= MAX_CHAIN {
            return Err(bad(format!(
                "the backing chain is deeper than {MAX_CHAIN} images"
            )));
        }
        let canonical = std::fs::canonicalize(&backing_path)
            .map_err(|e| bad(format!("backing file {}: {e}", backing_path.display())))?;
        if self.seen.contains(&canonical) {
            return Err(bad(format!(
                "the backing chain loops back to {}",
                backing_path.display()
            )));
        }
        self.seen.push(canonical);
        let file =
            FileSource::open(&backing_path).map_err(|e| bad(format!("backing file: {e}")))?;
        let format = match format {
            Some(name) => name
                .parse()
                .map_err(|_| bad(format!("backing file format \"{name}\" is not supported")))?,
            None => detect(&file)?,
        };
        Ok(Some((Box::new(file), Some(backing_path), format)))
    }
}

/// The format of `source`, from its first bytes.
fn detect(source: &dyn Source) -> Result<ImageFormat> {
    let mut start = vec![0; source.len().min(512) as usize];
    let bad = |reason| Error::Image {
        name: source.describe(),
        reason,
    };
    layer::read_exact(source, &mut start, 0).map_err(|e| bad(e.to_string()))?;
    ImageFormat::detect(&start).map_err(bad)
}

impl Source for ContentSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn len(&self) -> u64 {
        match &self.view {
            View::Plain(file) => file.len(),
            View::Layers(chain) => chain.len(),
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.view {
            View::Plain(file) => file.read_at(buf, offset),
            View::Layers(chain) => chain.read_at(buf, offset),
        }
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        match &self.view {
            View::Plain(file) => file.next_data(offset),
            View::Layers(chain) => chain.next_data(offset),
        }
    }

    fn changed_since_open(&self) -> io::Result<Option<String>> {
        match &self.view {
            View::Plain(file) => file.changed_since_open(),
            View::Layers(chain) => chain.changed_since_open(),
        }
    }
}
