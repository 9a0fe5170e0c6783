//! Chunk manifests: the per-chunk digests of one chunked construction, to locate damage.
//!
//! The format is JSON lines: a header naming the algorithm and chunk size, one line per
//! chunk in order, and a trailer with the total length and the final value (so a manifest
//! cut short is recognised as such):
//!
//! ```text
//! {"imghash_manifest":1,"algorithm":"merkle-sha256","chunk_size":4194304}
//! {"offset":0,"length":4194304,"digest":"5df6e0e2…"}
//! {"end":true,"length":4194309,"value":"61515e3a…"}
//! ```
//!
//! [`ManifestWriter`] streams chunks out as a job produces them (a manifest of a 500 GiB
//! image with 64 KiB chunks has 8 million lines; none of them is kept in memory): it is a
//! [`ChunkSink`], so a write error stops the job.

use std::io::{self, BufRead, Write};
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sink::{ChunkDigest, ChunkSink, SinkError};
use crate::{hex, Algorithm};

const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    imghash_manifest: u32,
    algorithm: String,
    chunk_size: u64,
}

#[derive(Serialize, Deserialize)]
struct ChunkLine {
    offset: u64,
    length: u64,
    digest: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: bool,
    length: u64,
    value: String,
}

/// Writes a manifest line by line.
///
/// As a [`ChunkSink`] it writes the chunks of its own algorithm and ignores the others, so
/// one job can compute other digests alongside.
///
/// ```
/// use imghash_engine::manifest::{Manifest, ManifestWriter};
/// use imghash_engine::{Algorithm, HashJob, KIB};
///
/// let job = HashJob::builder([Algorithm::Md5, Algorithm::BlkhashSha256])
///     .chunk_size(64 * KIB)
///     .build()?;
/// let mut writer = ManifestWriter::new(Vec::new(), Algorithm::BlkhashSha256, 64 * KIB)?;
/// let report = job.hash_slice_with(&[1; 100_000], &mut writer)?;
/// let value = report.get(Algorithm::BlkhashSha256).unwrap().value();
/// let text = writer.finish(report.bytes, &value)?;
///
/// let manifest = Manifest::parse(&text[..], "in memory")?;
/// assert_eq!(manifest.chunks.len(), 2);
/// assert_eq!(manifest.chunks[1].len, 100_000 - 65_536);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ManifestWriter<W: Write> {
    out: W,
    algorithm: Algorithm,
}

impl<W: Write> ManifestWriter<W> {
    /// Starts a manifest of `algorithm` chunks of `chunk_size` bytes.
    pub fn new(mut out: W, algorithm: Algorithm, chunk_size: u64) -> io::Result<Self> {
        let header = Header {
            imghash_manifest: FORMAT_VERSION,
            algorithm: algorithm.name().to_string(),
            chunk_size,
        };
        write_line(&mut out, &header)?;
        Ok(ManifestWriter { out, algorithm })
    }

    /// Adds the next chunk.
    pub fn chunk(&mut self, chunk: &ChunkDigest) -> io::Result<()> {
        let line = ChunkLine {
            offset: chunk.offset,
            length: chunk.len,
            digest: hex(&chunk.digest),
        };
        write_line(&mut self.out, &line)
    }

    /// Ends the manifest with the input's length and the construction's final value.
    pub fn finish(mut self, length: u64, value: &str) -> io::Result<W> {
        let trailer = Trailer {
            end: true,
            length,
            value: value.to_string(),
        };
        write_line(&mut self.out, &trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write + Send> ChunkSink for ManifestWriter<W> {
    fn chunk(&mut self, algorithm: Algorithm, chunk: &ChunkDigest) -> Result<(), SinkError> {
        if algorithm == self.algorithm {
            ManifestWriter::chunk(self, chunk)?;
        }
        Ok(())
    }

    fn wants(&self, algorithm: Algorithm) -> bool {
        algorithm == self.algorithm
    }
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A manifest read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The construction whose chunks are listed.
    pub algorithm: Algorithm,
    /// The chunk size.
    pub chunk_size: u64,
    /// The chunks, in order.
    pub chunks: Vec<ChunkDigest>,
    /// Length of the input.
    pub length: u64,
    /// The construction's final value.
    pub value: String,
}

impl Manifest {
    /// Reads a manifest file written by [`ManifestWriter`].
    pub fn read(path: &Path) -> Result<Manifest> {
        let file = std::fs::File::open(path).map_err(|error| Error::Open {
            path: path.to_path_buf(),
            error,
        })?;
        Manifest::parse(io::BufReader::new(file), &path.display().to_string())
    }

    /// Parses a manifest; `name` is used in error messages.
    pub fn parse(input: impl BufRead, name: &str) -> Result<Manifest> {
        let bad = |line: usize, why: String| Error::InvalidManifest {
            name: name.to_string(),
            line,
            reason: why,
        };
        let mut lines = input.lines().enumerate();
        let (_, first) = lines
            .next()
            .ok_or_else(|| bad(1, "empty file".to_string()))?;
        let first = first.map_err(|e| bad(1, e.to_string()))?;
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| bad(1, format!("not an imghash manifest header: {e}")))?;
        if header.imghash_manifest != FORMAT_VERSION {
            return Err(bad(
                1,
                format!("unsupported version {}", header.imghash_manifest),
            ));
        }
        let algorithm: Algorithm = header
            .algorithm
            .parse()
            .map_err(|e: Error| bad(1, e.to_string()))?;
        let mut chunks = Vec::new();
        for (index, line) in lines {
            let number = index + 1;
            let line = line.map_err(|e| bad(number, e.to_string()))?;
            if let Ok(trailer) = serde_json::from_str::<Trailer>(&line) {
                return Ok(Manifest {
                    algorithm,
                    chunk_size: header.chunk_size,
                    chunks,
                    length: trailer.length,
                    value: trailer.value,
                });
            }
            let chunk: ChunkLine =
                serde_json::from_str(&line).map_err(|e| bad(number, e.to_string()))?;
            let digest = decode_hex(&chunk.digest)
                .ok_or_else(|| bad(number, "digest is not hex".to_string()))?;
            chunks.push(ChunkDigest::new(chunk.offset, chunk.length, digest));
        }
        Err(bad(
            chunks.len() + 2,
            "no end line: the manifest is incomplete".to_string(),
        ))
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The byte ranges where two manifests of the same construction and chunk size differ,
/// adjacent ranges merged. A length difference shows as a range past the shorter input.
///
/// ```
/// # use imghash_engine::{manifest::{diff, Manifest}, Algorithm, ChunkDigest};
/// let chunk = |offset, digest: u8| ChunkDigest::new(offset, 10, vec![digest]);
/// let a = Manifest { algorithm: Algorithm::MerkleSha256, chunk_size: 10, length: 30,
///     chunks: vec![chunk(0, 1), chunk(10, 2), chunk(20, 3)], value: String::new() };
/// let mut b = a.clone();
/// b.chunks[1].digest = vec![9];
/// assert_eq!(diff(&a, &b).unwrap(), vec![10..20]);
/// ```
pub fn diff(a: &Manifest, b: &Manifest) -> Result<Vec<Range<u64>>> {
    if a.algorithm != b.algorithm || a.chunk_size != b.chunk_size {
        return Err(Error::InvalidRequest(format!(
            "cannot compare a {} manifest with {} chunks to a {} manifest with {} chunks",
            a.algorithm,
            crate::format_size(a.chunk_size),
            b.algorithm,
            crate::format_size(b.chunk_size)
        )));
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    let mut add = |range: Range<u64>| match ranges.last_mut() {
        Some(last) if last.end >= range.start => last.end = last.end.max(range.end),
        _ => ranges.push(range),
    };
    for (x, y) in a.chunks.iter().zip(&b.chunks) {
        if x != y {
            add(x.offset..x.offset + x.len.max(y.len));
        }
    }
    let shorter = a.length.min(b.length);
    let longer = a.length.max(b.length);
    if shorter != longer {
        add(shorter..longer);
    }
    Ok(ranges)
}
