//! The qcow2 header: the magic `QFI\xfb`, and the virtual (guest) size as a big-endian u64
//! at offset 24.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

/// Bytes of the header [`guest_size`] needs.
pub const HEADER_LEN: usize = 32;

/// A qcow2's virtual (guest) size from the first [`HEADER_LEN`] bytes of its header;
/// `None` if `header` is not a qcow2's.
pub fn guest_size(header: &[u8]) -> Option<u64> {
    if header.get(..4)? != b"QFI\xfb" {
        return None;
    }
    Some(u64::from_be_bytes(header.get(24..32)?.try_into().ok()?))
}

/// The guest size of the qcow2 file at `path`; `None` if it is not one (or unreadable).
/// Blocks: a file read.
pub fn file_guest_size(path: &Path) -> Option<u64> {
    let mut header = [0u8; HEADER_LEN];
    File::open(path).ok()?.read_exact(&mut header).ok()?;
    guest_size(&header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_qcow2_magic_gives_a_size() {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(b"QFI\xfb");
        header[24..].copy_from_slice(&(1u64 << 30).to_be_bytes());
        assert_eq!(guest_size(&header), Some(1 << 30));
        assert_eq!(guest_size(&header[..20]), None);
        header[0] = b'X';
        assert_eq!(guest_size(&header), None);
    }
}
