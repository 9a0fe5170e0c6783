//! The chunked constructions: how one chunk is hashed (the *leaf*), how two subtrees are
//! joined, and how a value is rendered; [`crate::aggregate`] combines the chunk digests.
//!
//! Chunks are hashed in parallel in any order; a reorder buffer upstream hands the
//! aggregators the digests in chunk order, so aggregation is a cheap streaming step whose
//! memory is O(log n) for trees and O(1) otherwise, whatever the image size.

use base64::Engine as _;

use crate::stream::StreamHasher;
use crate::Algorithm;

/// RFC 6962 domain separation: leaves and interior nodes can never collide.
const MERKLE_LEAF_PREFIX: &[u8] = &[0x00];
const MERKLE_NODE_PREFIX: &[u8] = &[0x01];

/// The standard digest a construction applies to its chunks and nodes.
pub(crate) fn base_algorithm(algorithm: Algorithm) -> Algorithm {
    match algorithm {
        Algorithm::MerkleSha256
        | Algorithm::BlkhashSha256
        | Algorithm::GlacierSha256
        | Algorithm::S3Sha256Composite => Algorithm::Sha256,
        Algorithm::MerkleSha512 => Algorithm::Sha512,
        Algorithm::MerkleXxh128 => Algorithm::Xxh128,
        Algorithm::S3Etag => Algorithm::Md5,
        Algorithm::Blake3 => Algorithm::Blake3,
        standard => unreachable!("{standard} is not a chunked construction"),
    }
}

fn is_merkle(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::MerkleSha256 | Algorithm::MerkleSha512 | Algorithm::MerkleXxh128
    )
}

/// Subtree size when BLAKE3 is hashed like a chunked construction: each thread hashes
/// whole 4 MiB subtrees (a power of two, as BLAKE3's tree requires) from its own reads,
/// and the chaining values are merged like a Merkle tree, giving exactly `b3sum`'s value.
pub(crate) const BLAKE3_SUBTREE: u64 = 4 << 20;

/// A running hash of one chunk, fed in pieces.
pub(crate) enum LeafHasher {
    Standard(StreamHasher),
    /// A BLAKE3 subtree: its chaining value depends on where it starts.
    Blake3Subtree(Box<blake3::Hasher>),
}

impl LeafHasher {
    /// A hasher for the chunk of `algorithm` that starts at `offset`.
    pub(crate) fn new(algorithm: Algorithm, offset: u64) -> LeafHasher {
        if algorithm == Algorithm::Blake3 {
            use blake3::hazmat::HasherExt;
            let mut hasher = blake3::Hasher::new();
            hasher.set_input_offset(offset);
            return LeafHasher::Blake3Subtree(Box::new(hasher));
        }
        let mut hasher = StreamHasher::new(base_algorithm(algorithm));
        if is_merkle(algorithm) {
            hasher.update(MERKLE_LEAF_PREFIX);
        }
        LeafHasher::Standard(hasher)
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            LeafHasher::Standard(hasher) => hasher.update(data),
            LeafHasher::Blake3Subtree(hasher) => {
                hasher.update(data);
            }
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            LeafHasher::Standard(hasher) => hasher.finish(),
            LeafHasher::Blake3Subtree(hasher) => {
                use blake3::hazmat::HasherExt;
                hasher.finalize_non_root().to_vec()
            }
        }
    }
}

/// True if every whole chunk of zeros has the same digest (BLAKE3's depends on its offset).
pub(crate) fn zero_chunk_digest_is_shared(algorithm: Algorithm) -> bool {
    algorithm != Algorithm::Blake3
}

/// The root of two subtrees. BLAKE3 flags its root node; the other trees hash it like
/// any node.
pub(crate) fn tree_root(algorithm: Algorithm, left: &[u8], right: &[u8]) -> Vec<u8> {
    if algorithm == Algorithm::Blake3 {
        let (left, right) = (chaining_value(left), chaining_value(right));
        let root = blake3::hazmat::merge_subtrees_root(&left, &right, blake3::hazmat::Mode::Hash);
        return root.as_bytes().to_vec();
    }
    tree_node(algorithm, left, right)
}

fn chaining_value(bytes: &[u8]) -> blake3::hazmat::ChainingValue {
    bytes
        .try_into()
        .expect("BLAKE3 chaining values are 32 bytes")
}

pub(crate) fn tree_node(algorithm: Algorithm, left: &[u8], right: &[u8]) -> Vec<u8> {
    if algorithm == Algorithm::Blake3 {
        let (left, right) = (chaining_value(left), chaining_value(right));
        return blake3::hazmat::merge_subtrees_non_root(&left, &right, blake3::hazmat::Mode::Hash)
            .to_vec();
    }
    let mut hasher = StreamHasher::new(base_algorithm(algorithm));
    if is_merkle(algorithm) {
        hasher.update(MERKLE_NODE_PREFIX);
    }
    hasher.update(left);
    hasher.update(right);
    hasher.finish()
}

/// Renders a finished value the way the reference tools print it.
pub(crate) fn render(algorithm: Algorithm, bytes: &[u8], parts: Option<u64>) -> String {
    match (algorithm, parts) {
        (Algorithm::S3Etag, Some(n)) if n > 1 => format!("{}-{n}", crate::hex(bytes)),
        (Algorithm::S3Sha256Composite, Some(n)) => format!(
            "{}-{n}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
        _ => crate::hex(bytes),
    }
}
