//! The qcow2 header and its extensions (QEMU's docs/interop/qcow2.txt), checked for
//! everything the guest view depends on.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::content::MAX_VIRTUAL_SIZE;

pub(crate) const MAGIC: &[u8; 4] = b"QFI\xfb";

/// Incompatible feature bits this reader understands.
const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_COMPRESSION: u64 = 1 << 3;
const INCOMPAT_EXTENDED_L2: u64 = 1 << 4;
const KNOWN_INCOMPAT: u64 = INCOMPAT_DIRTY
    | INCOMPAT_CORRUPT
    | INCOMPAT_DATA_FILE
    | INCOMPAT_COMPRESSION
    | INCOMPAT_EXTENDED_L2;

const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_DATA_FILE: u32 = 0x4441_5441;

/// Largest active L1 table QEMU opens (`QCOW_MAX_L1_SIZE`, 32 MiB of entries).
const MAX_L1_ENTRIES: u64 = (32 << 20) / 8;

/// How compressed clusters are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    Deflate,
    Zstd,
}

/// What the guest view needs from the header.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) version: u32,
    pub(crate) size: u64,
    pub(crate) l1_entries: u64,
    pub(crate) l1_offset: u64,
    pub(crate) refcount_table_offset: u64,
    pub(crate) refcount_table_clusters: u64,
    pub(crate) extended_l2: bool,
    pub(crate) compression: Compression,
    /// The backing file name as stored, and its format if the header names one.
    pub(crate) backing: Option<(OsString, Option<String>)>,
    /// The external data file's name, if the image keeps its data in one.
    pub(crate) data_file: Option<OsString>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Header {
    /// The cluster size a header declares, read from its first 24 bytes, so that the caller
    /// knows how much to read for [`Header::parse`].
    pub(crate) fn cluster_bits(start: &[u8]) -> Result<u32, String> {
        if start.len() < 72 || &start[..4] != MAGIC {
            return Err("not a qcow2 image (no QFI\\xfb magic, or shorter than a header)".into());
        }
        let bits = be32(start, 20);
        if !(9..=21).contains(&bits) {
            return Err(format!(
                "cluster_bits {bits} is outside 9..=21 (512 B to 2 MiB clusters)"
            ));
        }
        Ok(bits)
    }

    /// Parses the header cluster `first` (the first cluster of the file, or all of a
    /// shorter file).
    pub(crate) fn parse(first: &[u8]) -> Result<Header, String> {
        let cluster_bits = Header::cluster_bits(first)?;
        let (version, incompatible, header_length) = version_and_features(first)?;
        let compression = compression(first, header_length, incompatible)?;
        let extended_l2 = incompatible & INCOMPAT_EXTENDED_L2 != 0;
        if extended_l2 && cluster_bits < 14 {
            return Err("extended L2 entries need clusters of at least 16 KiB".into());
        }
        let (size, l1_entries, l1_offset) = l1_geometry(first, cluster_bits, extended_l2)?;
        let mut header = Header {
            version,
            size,
            l1_entries,
            l1_offset,
            refcount_table_offset: be64(first, 48),
            refcount_table_clusters: u64::from(be32(first, 56)),
            extended_l2,
            compression,
            backing: None,
            data_file: None,
        };
        let backing_offset = be64(first, 8);
        let backing_format = header.read_extensions(first, header_length, backing_offset)?;
        if backing_offset != 0 {
            let name = backing_name(first, backing_offset)?;
            header.backing = Some((name, backing_format));
        }
        if (incompatible & INCOMPAT_DATA_FILE != 0) != header.data_file.is_some() {
            return Err("external data file feature bit without a data file name".into());
        }
        Ok(header)
    }

    /// Reads the header extensions; returns the backing format, if named.
    fn read_extensions(
        &mut self,
        first: &[u8],
        start: usize,
        backing_offset: u64,
    ) -> Result<Option<String>, String> {
        let end = match backing_offset {
            0 => first.len(),
            at => (at as usize).min(first.len()),
        };
        let mut at = start;
        let mut backing_format = None;
        while at + 8 <= end {
            let kind = be32(first, at);
            let len = be32(first, at + 4) as usize;
            if kind == EXT_END {
                break;
            }
            let data = first
                .get(at + 8..at + 8 + len)
                .filter(|_| at + 8 + len <= end)
                .ok_or_else(|| {
                    format!("header extension {kind:#x} at offset {at} overruns the header")
                })?;
            match kind {
                EXT_BACKING_FORMAT => {
                    backing_format = Some(String::from_utf8_lossy(data).into_owned());
                }
                EXT_DATA_FILE => self.data_file = Some(OsString::from_vec(data.to_vec())),
                _ => {}
            }
            at += 8 + len.div_ceil(8) * 8;
        }
        Ok(backing_format)
    }
}

/// The version, the incompatible feature bits and the header length, refusing versions,
/// encryption and features this reader cannot represent faithfully.
fn version_and_features(first: &[u8]) -> Result<(u32, u64, usize), String> {
    let version = be32(first, 4);
    if version != 2 && version != 3 {
        return Err(format!(
            "qcow2 version {version} is not supported (only 2 and 3)"
        ));
    }
    let crypt_method = be32(first, 32);
    if crypt_method != 0 {
        let how = if crypt_method == 1 { "AES" } else { "LUKS" };
        return Err(format!(
            "the image is encrypted ({how}); its guest content cannot be read without the key"
        ));
    }
    let (incompatible, header_length) = if version == 3 {
        if first.len() < 104 {
            return Err("the version 3 header is truncated".into());
        }
        (be64(first, 72), be32(first, 100) as usize)
    } else {
        (0, 72)
    };
    if header_length < if version == 3 { 104 } else { 72 } || header_length > first.len() {
        return Err(format!("header length {header_length} is impossible"));
    }
    let unknown = incompatible & !KNOWN_INCOMPAT;
    if unknown != 0 {
        return Err(format!("unknown incompatible features {unknown:#x}"));
    }
    if incompatible & INCOMPAT_CORRUPT != 0 {
        return Err("QEMU marked the image corrupt; repair it with `qemu-img check -r all`".into());
    }
    Ok((version, incompatible, header_length))
}

/// The compression type (a version 3 header field), which must agree with its feature bit.
fn compression(
    first: &[u8],
    header_length: usize,
    incompatible: u64,
) -> Result<Compression, String> {
    let compression = match if header_length > 104 { first[104] } else { 0 } {
        0 => Compression::Deflate,
        1 => Compression::Zstd,
        other => return Err(format!("unsupported compression type {other}")),
    };
    if (compression != Compression::Deflate) != (incompatible & INCOMPAT_COMPRESSION != 0) {
        return Err("compression type and its feature bit disagree".into());
    }
    Ok(compression)
}

/// The virtual size, the L1 entries it needs and the L1 table's offset, checked against
/// each other.
fn l1_geometry(
    first: &[u8],
    cluster_bits: u32,
    extended_l2: bool,
) -> Result<(u64, u64, u64), String> {
    let size = guest_size(first).unwrap_or(0);
    if size > MAX_VIRTUAL_SIZE {
        return Err(format!(
            "virtual size {size} bytes is absurd (limit {MAX_VIRTUAL_SIZE})"
        ));
    }
    let l2_bits = cluster_bits - if extended_l2 { 4 } else { 3 };
    let needed = size.div_ceil(1 << (cluster_bits + l2_bits));
    let l1_entries = u64::from(be32(first, 36));
    if l1_entries > MAX_L1_ENTRIES {
        return Err(format!("L1 table of {l1_entries} entries is too large"));
    }
    if l1_entries < needed {
        return Err(format!(
            "L1 table of {l1_entries} entries is too small for virtual size {size} \
             ({needed} needed)"
        ));
    }
    let l1_offset = be64(first, 40);
    if l1_offset % (1 << cluster_bits) != 0 || (needed > 0 && l1_offset == 0) {
        return Err(format!(
            "L1 table offset {l1_offset} is not a cluster boundary"
        ));
    }
    Ok((size, needed, l1_offset))
}

/// The backing file name, which must lie inside the header cluster.
fn backing_name(first: &[u8], offset: u64) -> Result<OsString, String> {
    let len = be32(first, 16) as u64;
    let end = offset.saturating_add(len);
    if len == 0 || len > 1023 || end > first.len() as u64 {
        return Err(format!(
            "backing file name ({len} bytes at offset {offset}) lies outside the header cluster"
        ));
    }
    Ok(OsString::from_vec(
        first[offset as usize..end as usize].to_vec(),
    ))
}

/// Bytes of a qcow2's start that [`guest_size`] needs.
pub(crate) const GUEST_SIZE_BYTES: usize = 32;

/// The virtual (guest) size a qcow2 header declares in its first [`GUEST_SIZE_BYTES`]
/// bytes: a big-endian u64 at offset 24. `None` if `start` is not a qcow2's.
pub(crate) fn guest_size(start: &[u8]) -> Option<u64> {
    if start.get(..4)? != MAGIC {
        return None;
    }
    Some(u64::from_be_bytes(start.get(24..32)?.try_into().ok()?))
}
