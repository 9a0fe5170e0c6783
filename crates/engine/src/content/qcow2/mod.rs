//! qcow2 (versions 2 and 3) as a layer: the L1 table is read and checked when the image
//! is opened, L2 tables when first needed (a few are cached, so memory stays bounded on
//! a huge image), and each lookup answers for a whole run of alike clusters.

mod header;
mod tables;

use std::ffi::{OsStr, OsString};
use std::io;

use super::cache::Lru;
use super::decompress;
use super::layer::{corrupt, read_exact, Extent, Layer, Run};
use crate::source::Source;
pub(crate) use header::{guest_size, GUEST_SIZE_BYTES, MAGIC};
use header::{Compression, Header};

/// Host offset bits of L1 and L2 entries.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L2_COMPRESSED: u64 = 1 << 62;
const L2_ZERO: u64 = 1;
const L2_COPIED: u64 = 1 << 63;

/// Memory for cached L2 tables (one table maps 512 MiB of a 64 KiB-cluster image).
const L2_CACHE_BUDGET: usize = 8 << 20;

/// The backing file a qcow2 names: its name as stored and its format, if given.
pub(crate) type Backing = (OsString, Option<String>);

/// One qcow2 image file (and its external data file, if any).
pub(crate) struct Qcow2Layer {
    /// The image file, then the external data file if there is one.
    files: Vec<Box<dyn Source>>,
    cluster_bits: u32,
    /// log2 of the L2 entries per table.
    l2_bits: u32,
    size: u64,
    zero_flag: bool,
    extended_l2: bool,
    compression: Compression,
    l1: Vec<u64>,
    /// Clusters holding metadata (header, L1, L2 and refcount tables), sorted: a data
    /// cluster there means overlapping metadata.
    metadata: Vec<u64>,
    l2_cache: Lru<Vec<u64>>,
}

impl Qcow2Layer {
    /// Opens the qcow2 image `file`. `open_data_file` opens an
    /// external data file by the name the header gives. Returns the layer and the
    /// backing file it names.
    pub(crate) fn open(
        file: Box<dyn Source>,
        open_data_file: impl FnOnce(&OsStr) -> Result<Box<dyn Source>, String>,
    ) -> Result<(Qcow2Layer, Option<Backing>), String> {
        let read = |len: u64, offset: u64| -> Result<Vec<u8>, String> {
            let mut buf = vec![0; len as usize];
            read_exact(&*file, &mut buf, offset)
                .map_err(|e| format!("cannot read {len} bytes at offset {offset}: {e}"))?;
            Ok(buf)
        };
        let file_len = file.len();
        let start = read(file_len.min(104), 0)?;
        let cluster_bits = Header::cluster_bits(&start)?;
        let header = Header::parse(&read(file_len.min(1 << cluster_bits), 0)?)?;
        let cluster_size = 1u64 << cluster_bits;
        let l1_bytes = header.l1_entries * 8;
        if header
            .l1_offset
            .checked_add(l1_bytes)
            .is_none_or(|end| end > file_len)
        {
            return Err(format!(
                "L1 table ({l1_bytes} bytes at offset {}) lies past the end of the file \
                 ({file_len} bytes): the image is truncated",
                header.l1_offset
            ));
        }
        let l1: Vec<u64> = read(l1_bytes, header.l1_offset)?
            .chunks_exact(8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let mut files = vec![file];
        if let Some(data_file) = &header.data_file {
            files.push(open_data_file(data_file)?);
        }
        let mut layer = Qcow2Layer {
            files,
            cluster_bits,
            l2_bits: cluster_bits - if header.extended_l2 { 4 } else { 3 },
            size: header.size,
            zero_flag: header.version >= 3,
            extended_l2: header.extended_l2,
            compression: header.compression,
            l1,
            metadata: Vec::new(),
            l2_cache: Lru::new(L2_CACHE_BUDGET),
        };
        layer.metadata = layer.check_l1(&header, file_len, cluster_size)?;
        // Read and check every L2 table once now, so that a corrupt image is refused before
        // any hashing starts (a table is 1/8192 of the data it maps at 64 KiB clusters).
        for &entry in &layer.l1 {
            if entry & OFFSET_MASK != 0 {
                layer
                    .l2_table(entry & OFFSET_MASK)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok((layer, header.backing))
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// The L2 table at `offset`, from the cache or read and checked.
    fn l2_table(&self, offset: u64) -> io::Result<std::sync::Arc<Vec<u64>>> {
        let size = self.cluster_size();
        self.l2_cache.get_or_load((0, offset), size as usize, || {
            let mut bytes = vec![0; size as usize];
            read_exact(&*self.files[0], &mut bytes, offset)
                .map_err(|e| io::Error::other(format!("L2 table at offset {offset}: {e}")))?;
            let table: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
                .collect();
            self.check_l2(offset, &table)?;
            Ok(table)
        })
    }

    /// The host offset of an uncompressed entry's cluster, `None` if unallocated. Offset 0
    /// is the header in the image file, but a real cluster in an external data file, where
    /// QEMU marks allocated clusters with the COPIED flag.
    fn host_cluster(&self, entry: u64) -> Option<u64> {
        match entry & OFFSET_MASK {
            0 if self.files.len() > 1 && entry & L2_COPIED != 0 => Some(0),
            0 => None,
            host => Some(host),
        }
    }

    /// Where a compressed cluster's data lies: (offset, length in bytes).
    fn compressed_location(&self, entry: u64) -> (u64, u64) {
        let size_shift = 62 - (self.cluster_bits - 8);
        let offset = entry & ((1 << size_shift) - 1);
        let sectors = ((entry >> size_shift) & ((1 << (self.cluster_bits - 8)) - 1)) + 1;
        (offset, sectors * 512 - (offset & 511))
    }

    /// What the cluster entry says about the byte `in_cluster` bytes into its cluster, and
    /// up to where in the cluster that holds.
    fn classify(&self, table: &[u64], index: usize, in_cluster: u64) -> io::Result<(Extent, u64)> {
        let cluster_size = self.cluster_size();
        let data_file = self.files.len() - 1;
        if self.extended_l2 {
            let (entry, bitmap) = (table[2 * index], table[2 * index + 1]);
            if entry & L2_COMPRESSED != 0 {
                let (offset, len) = self.compressed_location(entry);
                return Ok((
                    Extent::Compressed {
                        offset,
                        len,
                        skip: in_cluster,
                    },
                    cluster_size,
                ));
            }
            let host = self.host_cluster(entry);
            let sub_bits = self.cluster_bits - 5;
            let kind = |sub: u64| -> io::Result<Extent> {
                let allocated = bitmap >> sub & 1 != 0;
                let zero = bitmap >> (32 + sub) & 1 != 0;
                match (allocated, zero) {
                    (true, true) => Err(corrupt(format!(
                        "subcluster {sub} is marked both allocated and zero"
                    ))),
                    (true, false) => match host {
                        Some(offset) => Ok(Extent::Stored {
                            file: data_file,
                            offset,
                        }),
                        None => Err(corrupt(format!(
                            "subcluster {sub} is allocated in a cluster without a host offset"
                        ))),
                    },
                    (false, true) => Ok(Extent::Zero),
                    (false, false) => Ok(Extent::Unallocated),
                }
            };
            let first = in_cluster >> sub_bits;
            let extent = kind(first)?;
            let mut end = first + 1;
            while end < 32 && kind(end)? == extent {
                end += 1;
            }
            let extent = match extent {
                Extent::Stored { file, offset } => Extent::Stored {
                    file,
                    offset: offset + in_cluster,
                },
                other => other,
            };
            return Ok((extent, end << sub_bits));
        }
        let entry = table[index];
        let extent = if entry & L2_COMPRESSED != 0 {
            let (offset, len) = self.compressed_location(entry);
            Extent::Compressed {
                offset,
                len,
                skip: in_cluster,
            }
        } else if self.zero_flag && entry & L2_ZERO != 0 {
            Extent::Zero
        } else {
            match self.host_cluster(entry) {
                None => Extent::Unallocated,
                Some(host) => Extent::Stored {
                    file: data_file,
                    offset: host + in_cluster,
                },
            }
        };
        Ok((extent, cluster_size))
    }

    /// A run of unallocated L1 entries from `l1_index`: where it ends in guest bytes.
    fn unallocated_l1_end(&self, l1_index: usize) -> u64 {
        let shift = self.l2_bits + self.cluster_bits;
        let mut end = l1_index + 1;
        while end < self.l1.len() && self.l1[end] & OFFSET_MASK == 0 {
            end += 1;
        }
        ((end as u64) << shift).min(self.size)
    }
}

impl Layer for Qcow2Layer {
    fn size(&self) -> u64 {
        self.size
    }

    fn run_at(&self, offset: u64) -> io::Result<Run> {
        let cluster_bits = self.cluster_bits;
        let cluster = offset >> cluster_bits;
        let l1_index = (cluster >> self.l2_bits) as usize;
        let table_offset = self.l1.get(l1_index).map_or(0, |e| e & OFFSET_MASK);
        if table_offset == 0 {
            return Ok(Run {
                extent: Extent::Unallocated,
                len: self.unallocated_l1_end(l1_index) - offset,
            });
        }
        let table = self.l2_table(table_offset)?;
        let entries = 1usize << self.l2_bits;
        let mut index = (cluster as usize) & (entries - 1);
        let in_cluster = offset & (self.cluster_size() - 1);
        let (extent, end) = self.classify(&table, index, in_cluster)?;
        let mut len = end - in_cluster;
        // Extend over following clusters of the same table that continue the run.
        let table_end = (((l1_index as u64) + 1) << (self.l2_bits + cluster_bits)).min(self.size);
        let whole = matches!(
            extent,
            Extent::Zero | Extent::Unallocated | Extent::Stored { .. }
        );
        while whole && end == self.cluster_size() && index + 1 < entries && offset + len < table_end
        {
            index += 1;
            let (next, next_end) = self.classify(&table, index, 0)?;
            let continues = match (extent, next) {
                (Extent::Stored { file, offset: at }, Extent::Stored { file: f, offset: o }) => {
                    f == file && o == at + len
                }
                (a, b) => a == b,
            };
            if !continues {
                break;
            }
            len += next_end;
            if next_end != self.cluster_size() {
                break;
            }
        }
        Ok(Run {
            extent,
            len: len.min(self.size - offset),
        })
    }

    fn file(&self, index: usize) -> &dyn Source {
        &*self.files[index]
    }

    fn decompress(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let file = &self.files[0];
        let len = len.min(file.len().saturating_sub(offset));
        let mut input = vec![0; len as usize];
        read_exact(&**file, &mut input, offset)?;
        let mut out = vec![0; self.cluster_size() as usize];
        let produced = match self.compression {
            Compression::Deflate => decompress::inflate(&input, &mut out, false),
            Compression::Zstd => decompress::zstd(&input, &mut out),
        };
        match produced {
            Ok(n) if n == out.len() => Ok(out),
            Ok(n) => Err(corrupt(format!(
                "compressed cluster at offset {offset} holds {n} bytes, not a whole cluster"
            ))),
            Err(e) => Err(corrupt(format!(
                "compressed cluster at offset {offset}: {e}"
            ))),
        }
    }

    fn cluster_size(&self) -> u64 {
        Qcow2Layer::cluster_size(self)
    }

    fn changed_since_open(&self) -> io::Result<Option<String>> {
        for file in &self.files {
            if let Some(change) = file.changed_since_open()? {
                return Ok(Some(format!("{}: {change}", file.describe())));
            }
        }
        Ok(None)
    }
}
