//! Sequential digests: one running state fed the input in order.
//!
//! MD5, SHA-1 and SHA-512 use OpenSSL's assembly cores when the `openssl` feature is on
//! (measured ~20% faster than the RustCrypto crates on x86-64; MD5 is every default job's
//! critical path). SHA-256 uses `sha2`, which picks the SHA-NI instructions at run time and
//! was the faster of the two here.

use sha2::Digest as _;

use crate::Algorithm;

/// Inputs below this size are hashed with plain `blake3::Hasher::update`: below ~128 KiB
/// the cost of splitting work across threads exceeds what it saves.
const BLAKE3_PARALLEL_MIN: usize = 128 * 1024;

/// A running sequential digest.
pub(crate) enum StreamHasher {
    #[cfg(feature = "openssl")]
    OpenSsl(openssl::hash::Hasher),
    #[cfg(not(feature = "openssl"))]
    Md5(md5::Md5),
    #[cfg(not(feature = "openssl"))]
    Sha1(sha1::Sha1),
    #[cfg(not(feature = "openssl"))]
    Sha512(sha2::Sha512),
    Sha256(sha2::Sha256),
    Xxh64(xxhash_rust::xxh64::Xxh64),
    // twox-hash picks AVX2 at run time; xxhash-rust's XXH3 only uses what the build
    // targets (SSE2 for a portable x86-64 binary), measured 2x slower.
    Xxh3(Box<twox_hash::XxHash3_64>),
    Xxh128(Box<twox_hash::XxHash3_128>),
    Blake3(Box<blake3::Hasher>),
}

#[cfg(feature = "openssl")]
fn openssl_hasher(md: openssl::hash::MessageDigest) -> StreamHasher {
    // Creating a digest context only fails when OpenSSL is out of memory or the digest is
    // disabled by policy; neither is a condition this program can work around.
    StreamHasher::OpenSsl(openssl::hash::Hasher::new(md).expect("OpenSSL digest context"))
}

impl StreamHasher {
    /// A fresh state for a standard (non-chunked) algorithm.
    pub(crate) fn new(algorithm: Algorithm) -> StreamHasher {
        use openssl_or_rust::*;
        match algorithm {
            Algorithm::Md5 => md5(),
            Algorithm::Sha1 => sha1(),
            Algorithm::Sha256 => StreamHasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => sha512(),
            Algorithm::Xxh64 => StreamHasher::Xxh64(xxhash_rust::xxh64::Xxh64::new(0)),
            Algorithm::Xxh3 => StreamHasher::Xxh3(Box::new(twox_hash::XxHash3_64::new())),
            Algorithm::Xxh128 => StreamHasher::Xxh128(Box::new(twox_hash::XxHash3_128::new())),
            Algorithm::Blake3 => StreamHasher::Blake3(Box::default()),
            chunked => unreachable!("{chunked} is a chunked construction"),
        }
    }

    /// Feeds the next bytes. BLAKE3 splits large inputs over the current rayon pool, so
    /// call this inside the job's pool (`pool.install`).
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            #[cfg(feature = "openssl")]
            StreamHasher::OpenSsl(h) => h.update(data).expect("OpenSSL digest update"),
            #[cfg(not(feature = "openssl"))]
            StreamHasher::Md5(h) => h.update(data),
            #[cfg(not(feature = "openssl"))]
            StreamHasher::Sha1(h) => h.update(data),
            #[cfg(not(feature = "openssl"))]
            StreamHasher::Sha512(h) => h.update(data),
            StreamHasher::Sha256(h) => h.update(data),
            StreamHasher::Xxh64(h) => h.update(data),
            StreamHasher::Xxh3(h) => std::hash::Hasher::write(h.as_mut(), data),
            StreamHasher::Xxh128(h) => h.write(data),
            StreamHasher::Blake3(h) if data.len() >= BLAKE3_PARALLEL_MIN => {
                h.update_rayon(data);
            }
            StreamHasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// True if [`update`](Self::update) wants to run inside the rayon pool.
    pub(crate) fn uses_pool(&self) -> bool {
        matches!(self, StreamHasher::Blake3(_))
    }

    /// The digest bytes, in the order the reference tools print them as hex.
    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            #[cfg(feature = "openssl")]
            StreamHasher::OpenSsl(mut h) => h.finish().expect("OpenSSL digest final").to_vec(),
            #[cfg(not(feature = "openssl"))]
            StreamHasher::Md5(h) => h.finalize().to_vec(),
            #[cfg(not(feature = "openssl"))]
            StreamHasher::Sha1(h) => h.finalize().to_vec(),
            #[cfg(not(feature = "openssl"))]
            StreamHasher::Sha512(h) => h.finalize().to_vec(),
            StreamHasher::Sha256(h) => h.finalize().to_vec(),
            // xxhsum prints the canonical (big-endian) form.
            StreamHasher::Xxh64(h) => h.digest().to_be_bytes().to_vec(),
            StreamHasher::Xxh3(h) => std::hash::Hasher::finish(h.as_ref()).to_be_bytes().to_vec(),
            StreamHasher::Xxh128(h) => h.finish_128().to_be_bytes().to_vec(),
            StreamHasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

#[cfg(feature = "openssl")]
mod openssl_or_rust {
    use super::{openssl_hasher, StreamHasher};
    use openssl::hash::MessageDigest;
    pub(super) fn md5() -> StreamHasher {
        openssl_hasher(MessageDigest::md5())
    }
    pub(super) fn sha1() -> StreamHasher {
        openssl_hasher(MessageDigest::sha1())
    }
    pub(super) fn sha512() -> StreamHasher {
        openssl_hasher(MessageDigest::sha512())
    }
}

#[cfg(not(feature = "openssl"))]
mod openssl_or_rust {
    use super::StreamHasher;
    use sha2::Digest as _;
    pub(super) fn md5() -> StreamHasher {
        StreamHasher::Md5(md5::Md5::new())
    }
    pub(super) fn sha1() -> StreamHasher {
        StreamHasher::Sha1(sha1::Sha1::new())
    }
    pub(super) fn sha512() -> StreamHasher {
        StreamHasher::Sha512(sha2::Sha512::new())
    }
}
