//! Decompressing one cluster (grain) into a buffer of its size: deflate (qcow2's raw
//! deflate, VMDK's zlib) with miniz_oxide, zstd with ruzstd, both pure Rust.

use std::io::Read;

use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_PARSE_ZLIB_HEADER, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// Inflates `input` (raw deflate, or zlib if `zlib`) into `out`; returns the bytes written.
/// Output beyond `out` is dropped, as QEMU drops it; bytes after the stream are ignored
/// (compressed clusters are padded to whole sectors).
pub(crate) fn inflate(input: &[u8], out: &mut [u8], zlib: bool) -> Result<usize, String> {
    let mut state = Box::<DecompressorOxide>::default();
    let mut flags = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    if zlib {
        flags |= TINFL_FLAG_PARSE_ZLIB_HEADER;
    }
    let (status, _, written) = decompress(&mut state, input, out, 0, flags);
    match status {
        TINFLStatus::Done | TINFLStatus::HasMoreOutput => Ok(written),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
            Err("the deflate stream is truncated".to_string())
        }
        other => Err(format!("the deflate stream is corrupt ({other:?})")),
    }
}

/// Decodes the zstd frame at the start of `input` into `out`; returns the bytes written.
pub(crate) fn zstd(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut source = input;
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut source)
        .map_err(|e| format!("the zstd frame is corrupt: {e}"))?;
    let mut written = 0;
    while written < out.len() {
        match decoder.read(&mut out[written..]) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) => return Err(format!("the zstd frame is corrupt: {e}")),
        }
    }
    Ok(written)
}
