//! VMDK sparse extents (VMware's "Virtual Disk Format 1.1"): monolithicSparse and
//! streamOptimized, as QEMU and VMware write them. The grain directory is read and
//! checked when the image is opened, grain tables when first needed.

use std::io;
use std::sync::Arc;

use super::cache::Lru;
use super::decompress;
use super::layer::{corrupt, read_exact, Extent, Layer, Run};
use crate::source::Source;

pub(crate) const MAGIC: &[u8; 4] = b"KDMV";

const SECTOR: u64 = 512;
/// The grain directory offset of a streamOptimized header whose real one is in the footer.
const GD_AT_END: u64 = u64::MAX;
const FLAG_ZERO_GRAIN: u32 = 1 << 2;
const FLAG_COMPRESSED: u32 = 1 << 16;
const FLAG_MARKERS: u32 = 1 << 17;
/// Grain table entry of a grain that reads as zeros (with [`FLAG_ZERO_GRAIN`]).
const GTE_ZERO: u32 = 1;
/// Largest grain read: QEMU's default is 64 KiB; VMware's 64 KiB too.
const MAX_GRAIN_SECTORS: u64 = 4096;
const MAX_GD_ENTRIES: u64 = 4 << 20;
const GT_CACHE_BUDGET: usize = 4 << 20;

/// The header fields the guest view needs.
struct Header {
    version: u32,
    flags: u32,
    capacity: u64,
    grain_sectors: u64,
    descriptor: (u64, u64),
    gt_entries: u64,
    gd_offset: u64,
    compression: u16,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Header {
    fn parse(b: &[u8]) -> Result<Header, String> {
        if b.len() < 79 || &b[..4] != MAGIC {
            return Err("not a VMDK sparse extent (no KDMV magic)".into());
        }
        Ok(Header {
            version: le32(b, 4),
            flags: le32(b, 8),
            capacity: le64(b, 12),
            grain_sectors: le64(b, 20),
            descriptor: (le64(b, 28), le64(b, 36)),
            gt_entries: u64::from(le32(b, 44)),
            gd_offset: le64(b, 56),
            compression: u16::from_le_bytes([b[77], b[78]]),
        })
    }
}

/// One sparse VMDK extent.
pub(crate) struct VmdkLayer {
    file: Box<dyn Source>,
    size: u64,
    grain_size: u64,
    gt_entries: u64,
    /// Sector offsets of the grain tables (0: none).
    gd: Vec<u32>,
    zero_grain: bool,
    compressed: bool,
    markers: bool,
    gt_cache: Lru<Vec<u32>>,
}

impl Header {
    /// Checks what this reader supports; returns the guest size in bytes.
    fn check(&self) -> Result<u64, String> {
        if !(1..=3).contains(&self.version) {
            return Err(format!("VMDK version {} is not supported", self.version));
        }
        let compressed = self.flags & FLAG_COMPRESSED != 0;
        match (self.compression, compressed) {
            (0, false) | (1, true) => {}
            (algorithm, _) => {
                return Err(format!(
                    "unsupported VMDK compression algorithm {algorithm}"
                ))
            }
        }
        let grain_sectors = self.grain_sectors;
        if !grain_sectors.is_power_of_two() || grain_sectors > MAX_GRAIN_SECTORS {
            return Err(format!(
                "grain size of {grain_sectors} sectors is not supported"
            ));
        }
        if self.gt_entries == 0 || self.gt_entries > 65536 {
            return Err(format!(
                "{} entries per grain table is impossible",
                self.gt_entries
            ));
        }
        self.capacity
            .checked_mul(SECTOR)
            .filter(|&s| s <= super::MAX_VIRTUAL_SIZE)
            .ok_or_else(|| format!("capacity of {} sectors is absurd", self.capacity))
    }
}

/// Reads `len` bytes at `offset` of a file of `file_len` bytes, refusing a range past its
/// end (a truncated image).
fn read_in(file: &dyn Source, len: u64, offset: u64) -> Result<Vec<u8>, String> {
    let file_len = file.len();
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(format!(
            "{len} bytes at offset {offset} lie past the end of the file ({file_len} \
             bytes): the image is truncated"
        ));
    }
    let mut buf = vec![0; len as usize];
    read_exact(file, &mut buf, offset)
        .map_err(|e| format!("cannot read {len} bytes at offset {offset}: {e}"))?;
    Ok(buf)
}

/// The header that holds the image's real offsets: the first sector's, or for a
/// streamOptimized image the footer's, one sector before the end-of-stream marker.
fn read_header(file: &dyn Source) -> Result<Header, String> {
    let file_len = file.len();
    let header = Header::parse(&read_in(file, SECTOR.min(file_len), 0)?)?;
    if header.gd_offset != GD_AT_END {
        return Ok(header);
    }
    let at = file_len.checked_sub(2 * SECTOR).ok_or("no footer")?;
    Header::parse(&read_in(file, SECTOR, at)?).map_err(|e| format!("footer: {e}"))
}

/// Reads the grain directory and checks that each grain table lies inside the file.
fn read_grain_directory(file: &dyn Source, header: &Header) -> Result<Vec<u32>, String> {
    let file_len = file.len();
    let gd_entries = header
        .capacity
        .div_ceil(header.gt_entries * header.grain_sectors);
    if gd_entries > MAX_GD_ENTRIES {
        return Err(format!(
            "grain directory of {gd_entries} entries is too large"
        ));
    }
    let gd: Vec<u32> = read_in(
        file,
        gd_entries * 4,
        header.gd_offset.saturating_mul(SECTOR),
    )
    .map_err(|e| format!("grain directory: {e}"))?
    .chunks_exact(4)
    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    .collect();
    let gt_bytes = header.gt_entries * 4;
    for (index, &sector) in gd.iter().enumerate() {
        let at = u64::from(sector) * SECTOR;
        if sector != 0 && (at == 0 || at + gt_bytes > file_len) {
            return Err(format!(
                "grain directory entry {index} points to a grain table at offset {at}, \
                 outside the file ({file_len} bytes)"
            ));
        }
    }
    Ok(gd)
}

impl VmdkLayer {
    /// Opens the sparse extent `file`.
    pub(crate) fn open(file: Box<dyn Source>) -> Result<VmdkLayer, String> {
        let header = read_header(&*file)?;
        let size = header.check()?;
        check_parent(&header, &|len, offset| read_in(&*file, len, offset))?;
        let gd = read_grain_directory(&*file, &header)?;
        let layer = VmdkLayer {
            file,
            size,
            grain_size: header.grain_sectors * SECTOR,
            gt_entries: header.gt_entries,
            gd,
            zero_grain: header.flags & FLAG_ZERO_GRAIN != 0,
            compressed: header.flags & FLAG_COMPRESSED != 0,
            markers: header.flags & FLAG_MARKERS != 0,
            gt_cache: Lru::new(GT_CACHE_BUDGET),
        };
        // Check every grain table once now, so that a corrupt image is refused before any
        // hashing starts.
        for &sector in layer.gd.iter().filter(|&&s| s != 0) {
            layer.grain_table(sector).map_err(|e| e.to_string())?;
        }
        Ok(layer)
    }

    /// The grain table at sector `sector`, from the cache or read and checked.
    fn grain_table(&self, sector: u32) -> io::Result<Arc<Vec<u32>>> {
        let bytes = self.gt_entries * 4;
        self.gt_cache
            .get_or_load((0, u64::from(sector)), bytes as usize, || {
                let at = u64::from(sector) * SECTOR;
                let mut raw = vec![0; bytes as usize];
                read_exact(&*self.file, &mut raw, at)?;
                let table: Vec<u32> = raw
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect();
                for (index, &entry) in table.iter().enumerate() {
                    let grain = u64::from(entry) * SECTOR;
                    let special = entry == 0 || (entry == GTE_ZERO && self.zero_grain);
                    if !special && (entry == GTE_ZERO || grain >= self.file.len()) {
                        return Err(corrupt(format!(
                            "grain table at offset {at}, entry {index}: grain at offset {grain} \
                         lies outside the file ({} bytes)",
                            self.file.len()
                        )));
                    }
                }
                Ok(table)
            })
    }

    fn extent(&self, entry: u32, in_grain: u64) -> Extent {
        let at = u64::from(entry) * SECTOR;
        match entry {
            0 => Extent::Unallocated,
            GTE_ZERO if self.zero_grain => Extent::Zero,
            _ if self.compressed => Extent::Compressed {
                offset: at,
                len: 0,
                skip: in_grain,
            },
            _ => Extent::Stored {
                file: 0,
                offset: at + in_grain,
            },
        }
    }
}

/// Refuses delta disks: their unallocated grains belong to a parent this reader does not
/// follow.
fn check_parent(
    header: &Header,
    read: &impl Fn(u64, u64) -> Result<Vec<u8>, String>,
) -> Result<(), String> {
    let (offset, sectors) = header.descriptor;
    if offset == 0 || sectors == 0 {
        return Ok(());
    }
    let text =
        read(sectors.min(128) * SECTOR, offset * SECTOR).map_err(|e| format!("descriptor: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    for line in text.lines() {
        if let Some(value) = line.trim().strip_prefix("parentCID=") {
            let value = value.trim().trim_matches('"');
            if !value.eq_ignore_ascii_case("ffffffff") {
                return Err(format!(
                    "the VMDK is a delta disk (parentCID={value}); parent disks are not followed"
                ));
            }
        }
    }
    Ok(())
}

impl Layer for VmdkLayer {
    fn size(&self) -> u64 {
        self.size
    }

    fn run_at(&self, offset: u64) -> io::Result<Run> {
        let grain = offset / self.grain_size;
        let in_grain = offset % self.grain_size;
        let gd_index = (grain / self.gt_entries) as usize;
        let span = self.gt_entries * self.grain_size;
        if self.gd[gd_index] == 0 {
            let mut end = gd_index + 1;
            while end < self.gd.len() && self.gd[end] == 0 {
                end += 1;
            }
            return Ok(Run {
                extent: Extent::Unallocated,
                len: (end as u64 * span).min(self.size) - offset,
            });
        }
        let table = self.grain_table(self.gd[gd_index])?;
        let mut index = (grain % self.gt_entries) as usize;
        let extent = self.extent(table[index], in_grain);
        let mut len = self.grain_size - in_grain;
        if !matches!(extent, Extent::Compressed { .. }) {
            while index + 1 < table.len() && offset + len < self.size {
                index += 1;
                let continues = match (extent, self.extent(table[index], 0)) {
                    (Extent::Stored { offset: at, .. }, Extent::Stored { offset: next, .. }) => {
                        next == at + len
                    }
                    (a, b) => a == b,
                };
                if !continues {
                    break;
                }
                len += self.grain_size;
            }
        }
        Ok(Run {
            extent,
            len: len.min(self.size - offset),
        })
    }

    fn file(&self, _index: usize) -> &dyn Source {
        &*self.file
    }

    fn decompress(&self, offset: u64, _len: u64) -> io::Result<Vec<u8>> {
        let file_len = self.file.len();
        let fail = |what: String| corrupt(format!("grain at offset {offset}: {what}"));
        let (start, len) = if self.markers {
            // A grain marker: the grain's sector (8 bytes), then the data's length (4 bytes).
            let mut marker = [0u8; 12];
            read_exact(&*self.file, &mut marker, offset).map_err(|e| fail(e.to_string()))?;
            let len = u64::from(le32(&marker, 8));
            if len == 0 || len > 2 * self.grain_size + SECTOR {
                return Err(fail(format!("marker gives an impossible length {len}")));
            }
            (offset + 12, len)
        } else {
            (offset, (2 * self.grain_size).min(file_len - offset))
        };
        if start + len > file_len {
            return Err(fail(
                "the compressed data runs past the end of the file".into(),
            ));
        }
        let mut input = vec![0; len as usize];
        read_exact(&*self.file, &mut input, start).map_err(|e| fail(e.to_string()))?;
        let mut out = vec![0; self.grain_size as usize];
        let n = decompress::inflate(&input, &mut out, true).map_err(fail)?;
        // A short grain is fine where the disk ends; elsewhere the chain refuses to read
        // past what it holds.
        out.truncate(n);
        Ok(out)
    }

    fn cluster_size(&self) -> u64 {
        self.grain_size
    }

    fn changed_since_open(&self) -> io::Result<Option<String>> {
        self.file.changed_since_open()
    }
}
