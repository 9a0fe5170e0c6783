//! A raw image as a layer of a chain (a qcow2's raw backing file): every byte is stored
//! at its own offset, and the file's holes read as zeros without being read.

use std::io;

use super::layer::{Extent, Layer, Run};
use crate::source::Source;

/// A raw file at the bottom of a chain.
pub(crate) struct RawLayer {
    file: Box<dyn Source>,
}

impl RawLayer {
    pub(crate) fn new(file: Box<dyn Source>) -> RawLayer {
        RawLayer { file }
    }
}

impl Layer for RawLayer {
    fn size(&self) -> u64 {
        self.file.len()
    }

    fn run_at(&self, offset: u64) -> io::Result<Run> {
        let end = self.file.len();
        Ok(match self.file.next_data(offset)? {
            Some(data) if data.start <= offset => Run {
                extent: Extent::Stored { file: 0, offset },
                len: data.end.min(end) - offset,
            },
            Some(data) => Run {
                extent: Extent::Zero,
                len: data.start - offset,
            },
            None => Run {
                extent: Extent::Zero,
                len: end - offset,
            },
        })
    }

    fn file(&self, _index: usize) -> &dyn Source {
        &*self.file
    }

    fn decompress(&self, offset: u64, _len: u64) -> io::Result<Vec<u8>> {
        Err(super::layer::corrupt(format!(
            "raw image has no compressed data (asked at offset {offset})"
        )))
    }

    fn cluster_size(&self) -> u64 {
        512
    }

    fn changed_since_open(&self) -> io::Result<Option<String>> {
        self.file.changed_since_open()
    }
}
