//! Sequential digests: one running state fed the input in order.
//!
//! MD5, SHA-1, SHA-256 and SHA-512 each have two digest cores when the `openssl` feature is
//! on: OpenSSL's assembly and the RustCrypto crates. Which is faster depends on the CPU
//! (OpenSSL's MD5 measured 0.74 GB/s against 0.58 on an Intel Xeon, while both SHA-1 cores
//! were equal there), so the engine measures them on first use (see `calibrate`) and
//! [`StreamHasher::new`] takes the faster one.

use sha2::Digest as _;

use crate::tuning::DigestCore;
use crate::Algorithm;

/// Inputs below this size are hashed with plain `blake3::Hasher::update`: below ~128 KiB
/// the cost of splitting work across threads exceeds what it saves.
const BLAKE3_PARALLEL_MIN: usize = 128 * 1024;

/// A running sequential digest.
pub(crate) enum StreamHasher {
    #[cfg(feature = "openssl")]
    OpenSsl(openssl::hash::Hasher),
    // Boxed: the alternative cores' states would otherwise make every hasher as large as
    // SHA-512's.
    Md5(Box<md5::Md5>),
    Sha1(Box<sha1::Sha1>),
    Sha256(sha2::Sha256),
    Sha512(Box<sha2::Sha512>),
    Xxh64(xxhash_rust::xxh64::Xxh64),
    // twox-hash picks AVX2 at run time; xxhash-rust's XXH3 only uses what the build
    // targets (SSE2 for a portable x86-64 binary), measured 2x slower.
    Xxh3(Box<twox_hash::XxHash3_64>),
    Xxh128(Box<twox_hash::XxHash3_128>),
    Blake3(Box<blake3::Hasher>),
}

/// The digest cores that implement `algorithm` (a standard digest), the default first.
pub(crate) fn cores_of(algorithm: Algorithm) -> &'static [DigestCore] {
    match algorithm {
        #[cfg(feature = "openssl")]
        Algorithm::Md5 | Algorithm::Sha1 | Algorithm::Sha256 | Algorithm::Sha512 => {
            &[DigestCore::OpenSsl, DigestCore::Rust]
        }
        _ => &[DigestCore::Rust],
    }
}

impl StreamHasher {
    /// A fresh state for a standard (non-chunked) algorithm, on the core measured fastest
    /// for it on this machine.
    pub(crate) fn new(algorithm: Algorithm) -> StreamHasher {
        StreamHasher::with_core(algorithm, crate::calibrate::fastest_core(algorithm))
    }

    /// A fresh state for a standard algorithm on `core`; a core that does not implement
    /// `algorithm` (see [`cores_of`]) falls back to the pure-Rust one.
    pub(crate) fn with_core(algorithm: Algorithm, core: DigestCore) -> StreamHasher {
        #[cfg(feature = "openssl")]
        if core == DigestCore::OpenSsl {
            use openssl::hash::MessageDigest;
            let md = match algorithm {
                Algorithm::Md5 => Some(MessageDigest::md5()),
                Algorithm::Sha1 => Some(MessageDigest::sha1()),
                Algorithm::Sha256 => Some(MessageDigest::sha256()),
                Algorithm::Sha512 => Some(MessageDigest::sha512()),
                _ => None,
            };
            if let Some(md) = md {
                // Creating a digest context only fails when OpenSSL is out of memory or the
                // digest is disabled by policy; this program cannot work around either.
                let hasher = openssl::hash::Hasher::new(md).expect("OpenSSL digest context");
                return StreamHasher::OpenSsl(hasher);
            }
        }
        let _ = core;
        match algorithm {
            Algorithm::Md5 => StreamHasher::Md5(Box::default()),
            Algorithm::Sha1 => StreamHasher::Sha1(Box::default()),
            Algorithm::Sha256 => StreamHasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => StreamHasher::Sha512(Box::default()),
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
            StreamHasher::Md5(h) => h.update(data),
            StreamHasher::Sha1(h) => h.update(data),
            StreamHasher::Sha256(h) => h.update(data),
            StreamHasher::Sha512(h) => h.update(data),
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
            StreamHasher::Md5(h) => h.finalize().to_vec(),
            StreamHasher::Sha1(h) => h.finalize().to_vec(),
            StreamHasher::Sha256(h) => h.finalize().to_vec(),
            StreamHasher::Sha512(h) => h.finalize().to_vec(),
            // xxhsum prints the canonical (big-endian) form.
            StreamHasher::Xxh64(h) => h.digest().to_be_bytes().to_vec(),
            StreamHasher::Xxh3(h) => std::hash::Hasher::finish(h.as_ref()).to_be_bytes().to_vec(),
            StreamHasher::Xxh128(h) => h.finish_128().to_be_bytes().to_vec(),
            StreamHasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;

    /// FIPS 180 / RFC 1321 test vectors for "abc".
    const ABC: [(Algorithm, &str); 4] = [
        (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
        (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            Algorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            Algorithm::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];

    #[test]
    fn every_digest_core_gives_the_published_vectors() {
        for (algorithm, expected) in ABC {
            for &core in cores_of(algorithm) {
                let mut hasher = StreamHasher::with_core(algorithm, core);
                hasher.update(b"a");
                hasher.update(b"bc");
                assert_eq!(hex(&hasher.finish()), expected, "{algorithm} on {core:?}");
            }
        }
    }
}
