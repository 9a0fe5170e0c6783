//! The guest view of a chain of layers (an image and its backing files): which layer
//! answers for each guest byte, reads through to it, and where the data lies.

use std::io;
use std::ops::Range;
use std::sync::Mutex;

use super::cache::Lru;
use super::layer::{corrupt, read_full, Extent, Layer};

/// Memory for decompressed clusters shared by the hashing threads (clusters are at most
/// 2 MiB; reads are smaller, so a cluster is decompressed once and then copied from).
const CLUSTER_CACHE_BUDGET: usize = 8 << 20;

/// `next_data` stops extending a data range here, so that one call stays cheap on a
/// huge, fully allocated image (the reader asks again when it gets there).
const MAX_DATA_RANGE: u64 = 64 << 20;

/// An image on top of its backing files.
pub(crate) struct Chain {
    /// The image first, then its backing file, then that file's backing file...
    layers: Vec<Box<dyn Layer>>,
    /// The layers' file names, for messages about a backing file.
    names: Vec<String>,
    len: u64,
    clusters: Lru<Vec<u8>>,
    /// The last answer of `next_data`: the offset asked about and the data range found.
    /// Readers ask at increasing offsets (once per 4 MiB unit in the parallel mode), and
    /// every question asked inside one hole has the same answer, which takes a walk over
    /// whole L2 tables to find: on a 1 TiB qcow2 holding 1 GiB that walk cost 2.5 s of CPU.
    last_answer: Mutex<Option<(u64, Option<Range<u64>>)>>,
}

/// Which layer answers for a run of guest bytes, and how.
struct Resolved {
    layer: usize,
    extent: Extent,
    len: u64,
}

impl Chain {
    /// The guest view of `layers` (top first); its size is the top layer's.
    pub(crate) fn new(layers: Vec<Box<dyn Layer>>, names: Vec<String>) -> Chain {
        let len = layers.first().map_or(0, |l| l.size());
        Chain {
            layers,
            names,
            len,
            clusters: Lru::new(CLUSTER_CACHE_BUDGET),
            last_answer: Mutex::new(None),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The first layer, from the top, that holds `offset`, and how far that stays true.
    fn resolve(&self, offset: u64) -> io::Result<Resolved> {
        let mut limit = self.len - offset;
        for (index, layer) in self.layers.iter().enumerate() {
            // A backing file shorter than its overlay reads as zeros past its end.
            if offset >= layer.size() {
                break;
            }
            let run = layer.run_at(offset).map_err(|e| self.in_layer(index, e))?;
            if run.len == 0 {
                return Err(corrupt(format!("empty run at guest offset {offset}")));
            }
            limit = limit.min(run.len);
            if run.extent != Extent::Unallocated {
                return Ok(Resolved {
                    layer: index,
                    extent: run.extent,
                    len: limit,
                });
            }
        }
        Ok(Resolved {
            layer: self.layers.len(),
            extent: Extent::Zero,
            len: limit,
        })
    }

    /// Reads guest bytes at `offset`, like `pread`.
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.len - offset) as usize;
        let mut done = 0;
        while done < want {
            let pos = offset + done as u64;
            let run = self.resolve(pos)?;
            let n = run.len.min((want - done) as u64) as usize;
            let part = &mut buf[done..done + n];
            match run.extent {
                Extent::Zero | Extent::Unallocated => part.fill(0),
                Extent::Stored { file, offset } => {
                    read_stored(&*self.layers[run.layer], file, part, offset)
                        .map_err(|e| self.in_layer(run.layer, e))?
                }
                Extent::Compressed { offset, len, skip } => {
                    let layer = &*self.layers[run.layer];
                    let size = layer.cluster_size() as usize;
                    let cluster = self
                        .clusters
                        .get_or_load((run.layer, offset), size, || layer.decompress(offset, len));
                    let cluster = cluster.map_err(|e| self.in_layer(run.layer, e))?;
                    let from = skip as usize;
                    let bytes = cluster.get(from..from + n).ok_or_else(|| {
                        corrupt(format!(
                            "compressed cluster at host offset {offset} is shorter than the \
                             guest range it maps"
                        ))
                    })?;
                    part.copy_from_slice(bytes);
                }
            }
            done += n;
        }
        Ok(want)
    }

    /// The first range at or after `offset` that some layer stores (the rest is zeros).
    pub(crate) fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        if let Some(answer) = self.remembered(offset) {
            return Ok(answer);
        }
        let answer = self.find_data(offset)?;
        *self.last_answer.lock().expect("answer lock") = Some((offset, answer.clone()));
        Ok(answer)
    }

    /// The answer for `offset`, if the last one covers it.
    fn remembered(&self, offset: u64) -> Option<Option<Range<u64>>> {
        let last = self.last_answer.lock().expect("answer lock");
        match last.as_ref()? {
            (from, _) if offset < *from => None,
            (_, None) => Some(None),
            (_, Some(data)) if offset < data.start => Some(Some(data.clone())),
            (_, Some(data)) if offset < data.end => Some(Some(offset..data.end)),
            _ => None,
        }
    }

    fn find_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        let mut pos = offset;
        while pos < self.len {
            let run = self.resolve(pos)?;
            if !holds_data(run.extent) {
                pos += run.len;
                continue;
            }
            let start = pos;
            let mut end = pos + run.len;
            while end < self.len && end - start < MAX_DATA_RANGE {
                let next = self.resolve(end)?;
                if !holds_data(next.extent) {
                    break;
                }
                end += next.len;
            }
            return Ok(Some(start..end));
        }
        Ok(None)
    }

    /// Names the backing file an error comes from (the source's own name is in every
    /// message already).
    fn in_layer(&self, index: usize, error: io::Error) -> io::Error {
        match (index, self.names.get(index)) {
            (1.., Some(name)) => io::Error::new(error.kind(), format!("{name}: {error}")),
            _ => error,
        }
    }

    pub(crate) fn changed_since_open(&self) -> io::Result<Option<String>> {
        for layer in &self.layers {
            if let Some(change) = layer.changed_since_open()? {
                return Ok(Some(change));
            }
        }
        Ok(None)
    }
}

fn holds_data(extent: Extent) -> bool {
    matches!(extent, Extent::Stored { .. } | Extent::Compressed { .. })
}

/// Fills `buf` from stored bytes. A data cluster may end past the end of its file (the
/// file was not extended to a whole cluster): those bytes read as zeros, as QEMU reads them.
fn read_stored(layer: &dyn Layer, file: usize, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let n = read_full(layer.file(file), buf, offset)?;
    buf[n..].fill(0);
    Ok(())
}
