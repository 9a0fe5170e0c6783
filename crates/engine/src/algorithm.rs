//! The algorithm catalogue: names as users type them, and what each one needs.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::size::{KIB, MIB};

/// A checksum imghash can compute.
///
/// Names are parsed case-insensitively (`"MD5"`, `"md5"`) and printed lower-case.
/// The *standard* digests produce exactly what the usual tool prints (`md5sum`,
/// `sha256sum`, `xxhsum`, `b3sum`); the *chunked* constructions split the input into
/// fixed-size chunks, hash the chunks in parallel and aggregate the chunk digests (each
/// variant's documentation names its construction).
///
/// ```
/// use imghash_engine::Algorithm;
/// let alg: Algorithm = "SHA256".parse().unwrap();
/// assert_eq!(alg, Algorithm::Sha256);
/// assert_eq!(alg.to_string(), "sha256");
/// // Width, fill and alignment apply, as for a `&str`:
/// assert_eq!(format!("[{alg:<8}]"), "[sha256  ]");
/// assert_eq!(Algorithm::MerkleSha256.default_chunk_size(), Some(4 << 20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// MD5, as `md5sum` prints it. The default, and ZStack's `md5Sum`.
    Md5,
    /// SHA-1, as `sha1sum`.
    Sha1,
    /// SHA-256, as `sha256sum`.
    Sha256,
    /// SHA-512, as `sha512sum`.
    Sha512,
    /// XXH64 (seed 0), as `xxhsum -H1`.
    Xxh64,
    /// 64-bit XXH3, as `xxhsum -H3`.
    Xxh3,
    /// 128-bit XXH3, as `xxhsum -H2`.
    Xxh128,
    /// BLAKE3, as `b3sum`; a tree by construction, hashed on the rayon pool.
    Blake3,
    /// RFC 6962 Merkle tree hash over SHA-256 of the chunks.
    MerkleSha256,
    /// RFC 6962 Merkle tree hash over SHA-512 of the chunks.
    MerkleSha512,
    /// RFC 6962 Merkle tree hash over 128-bit XXH3 of the chunks.
    MerkleXxh128,
    /// `blksum`-compatible: SHA-256 of the concatenated block digests and the length.
    BlkhashSha256,
    /// AWS Glacier tree hash (SHA-256, fixed 1 MiB chunks).
    GlacierSha256,
    /// S3 multipart ETag (MD5 of the part MD5s, `-N`).
    S3Etag,
    /// S3 composite SHA-256 checksum (base64 SHA-256 of the part SHA-256s, `-N`).
    S3Sha256Composite,
}

impl Algorithm {
    /// Every algorithm, standard ones first.
    pub const ALL: [Algorithm; 15] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Xxh64,
        Algorithm::Xxh3,
        Algorithm::Xxh128,
        Algorithm::Blake3,
        Algorithm::MerkleSha256,
        Algorithm::MerkleSha512,
        Algorithm::MerkleXxh128,
        Algorithm::BlkhashSha256,
        Algorithm::GlacierSha256,
        Algorithm::S3Etag,
        Algorithm::S3Sha256Composite,
    ];

    /// The lower-case name, as printed and as accepted on input.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Xxh64 => "xxh64",
            Algorithm::Xxh3 => "xxh3",
            Algorithm::Xxh128 => "xxh128",
            Algorithm::Blake3 => "blake3",
            Algorithm::MerkleSha256 => "merkle-sha256",
            Algorithm::MerkleSha512 => "merkle-sha512",
            Algorithm::MerkleXxh128 => "merkle-xxh128",
            Algorithm::BlkhashSha256 => "blkhash-sha256",
            Algorithm::GlacierSha256 => "glacier-sha256",
            Algorithm::S3Etag => "s3-etag",
            Algorithm::S3Sha256Composite => "s3-sha256-composite",
        }
    }

    /// The chunk (or part) size used when the caller gives none; `None` for the
    /// standard digests, which are not chunked.
    pub fn default_chunk_size(self) -> Option<u64> {
        match self {
            Algorithm::MerkleSha256 | Algorithm::MerkleSha512 | Algorithm::MerkleXxh128 => {
                Some(4 * MIB)
            }
            Algorithm::BlkhashSha256 => Some(64 * KIB),
            Algorithm::GlacierSha256 => Some(MIB),
            Algorithm::S3Etag | Algorithm::S3Sha256Composite => Some(8 * MIB),
            _ => None,
        }
    }

    /// True for the chunked constructions (parallel over chunks, then aggregated).
    pub fn is_chunked(self) -> bool {
        self.default_chunk_size().is_some()
    }

    /// True if the caller may choose the chunk size (Glacier's is fixed at 1 MiB).
    pub fn has_selectable_chunk_size(self) -> bool {
        self.is_chunked() && self != Algorithm::GlacierSha256
    }

    /// Rough single-core cost in nanoseconds per KiB, measured on x86-64 with SHA-NI
    /// (MD5 ≈ 0.7 GB/s, SHA-256 ≈ 1.8 GB/s, XXH3 ≈ 25 GB/s). Used only to tell which digest
    /// of a job bounds its speed.
    pub fn cost_per_kib(self) -> u32 {
        match self {
            Algorithm::Md5 | Algorithm::Sha512 | Algorithm::MerkleSha512 | Algorithm::S3Etag => {
                1400
            }
            Algorithm::Sha1 => 700,
            Algorithm::Sha256
            | Algorithm::MerkleSha256
            | Algorithm::BlkhashSha256
            | Algorithm::GlacierSha256
            | Algorithm::S3Sha256Composite => 560,
            Algorithm::Blake3 => 210,
            Algorithm::Xxh64 => 100,
            Algorithm::Xxh3 | Algorithm::Xxh128 | Algorithm::MerkleXxh128 => 40,
        }
    }

    /// Names of every algorithm, comma-separated, for error messages and help.
    pub fn names() -> String {
        Self::ALL.map(Algorithm::name).join(", ")
    }
}

impl fmt::Display for Algorithm {
    /// The [`name`](Algorithm::name), honouring width, fill, alignment and precision
    /// (`{:<14}`), which `write_str` would ignore.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted = s.trim();
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| Error::UnknownAlgorithm {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.name().to_uppercase().parse::<Algorithm>().unwrap(), alg);
        }
    }

    #[test]
    fn zstack_spellings_are_accepted() {
        assert_eq!("MD5".parse::<Algorithm>().unwrap(), Algorithm::Md5);
        assert_eq!("SHA1".parse::<Algorithm>().unwrap(), Algorithm::Sha1);
        assert_eq!("SHA256".parse::<Algorithm>().unwrap(), Algorithm::Sha256);
    }

    #[test]
    fn display_honours_width_fill_and_alignment() {
        // As `format!` pads any `&str` (the standard library's rules, not ours).
        for alg in Algorithm::ALL {
            let name = alg.name();
            assert_eq!(format!("{alg:<20}|"), format!("{name:<20}|"));
            assert_eq!(format!("{alg:>20}|"), format!("{name:>20}|"));
            assert_eq!(format!("{alg:*^21}|"), format!("{name:*^21}|"));
            assert_eq!(format!("{alg:.3}"), name[..3]);
        }
        assert_eq!(format!("{:<8}|", Algorithm::Md5), "md5     |");
    }

    #[test]
    fn unknown_and_empty_names_are_rejected_with_the_name() {
        for bad in ["", "md4", "sha-256", "crc32"] {
            let err = bad.parse::<Algorithm>().unwrap_err();
            assert!(err.to_string().contains(&format!("\"{bad}\"")), "{err}");
        }
    }
}
