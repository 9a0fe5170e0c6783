//! The chunked constructions: how one chunk is hashed (the *leaf*), and how the chunk
//! digests, taken in order, are aggregated into the final value.
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
fn base_algorithm(algorithm: Algorithm) -> Algorithm {
    match algorithm {
        Algorithm::MerkleSha256
        | Algorithm::BlkhashSha256
        | Algorithm::GlacierSha256
        | Algorithm::S3Sha256Composite => Algorithm::Sha256,
        Algorithm::MerkleSha512 => Algorithm::Sha512,
        Algorithm::MerkleXxh128 => Algorithm::Xxh128,
        Algorithm::S3Etag => Algorithm::Md5,
        standard => unreachable!("{standard} is not a chunked construction"),
    }
}

fn is_merkle(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::MerkleSha256 | Algorithm::MerkleSha512 | Algorithm::MerkleXxh128
    )
}

/// A running hash of one chunk, for chunks that arrive in several pieces.
pub(crate) struct LeafHasher(StreamHasher);

impl LeafHasher {
    pub(crate) fn new(algorithm: Algorithm) -> LeafHasher {
        let mut hasher = StreamHasher::new(base_algorithm(algorithm));
        if is_merkle(algorithm) {
            hasher.update(MERKLE_LEAF_PREFIX);
        }
        LeafHasher(hasher)
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.0.finish()
    }
}

/// The final value of a chunked construction, before rendering.
pub(crate) struct Aggregated {
    pub(crate) bytes: Vec<u8>,
    /// Number of S3 parts, for the `-N` suffix.
    pub(crate) parts: Option<u64>,
}

/// Consumes chunk digests in chunk order and produces the construction's value.
pub(crate) enum Aggregator {
    /// RFC 6962 Merkle and Glacier: a stack of perfect subtrees (level, hash). Merging
    /// equal levels as leaves arrive and folding right to left at the end gives exactly
    /// the "largest power of two smaller than n" split of RFC 6962, and also Glacier's
    /// pairwise levels with the odd node carried up.
    Tree {
        algorithm: Algorithm,
        stack: Vec<(u32, Vec<u8>)>,
    },
    /// blkhash: H(H(b0) ‖ … ‖ H(bn−1) ‖ le64(length)).
    Blkhash { outer: StreamHasher, length: u64 },
    /// S3: H(H(p1) ‖ … ‖ H(pN)), with the first part digest kept for N = 1.
    S3 {
        algorithm: Algorithm,
        outer: StreamHasher,
        first: Option<Vec<u8>>,
        parts: u64,
    },
}

impl Aggregator {
    pub(crate) fn new(algorithm: Algorithm) -> Aggregator {
        let base = base_algorithm(algorithm);
        match algorithm {
            Algorithm::BlkhashSha256 => Aggregator::Blkhash {
                outer: StreamHasher::new(base),
                length: 0,
            },
            Algorithm::S3Etag | Algorithm::S3Sha256Composite => Aggregator::S3 {
                algorithm,
                outer: StreamHasher::new(base),
                first: None,
                parts: 0,
            },
            _ => Aggregator::Tree {
                algorithm,
                stack: Vec::new(),
            },
        }
    }

    /// Adds the digest of the next chunk, which was `chunk_len` bytes long.
    pub(crate) fn push(&mut self, leaf: &[u8], chunk_len: u64) {
        match self {
            Aggregator::Tree { algorithm, stack } => {
                let mut node = (0u32, leaf.to_vec());
                while let Some((level, _)) = stack.last() {
                    if *level != node.0 {
                        break;
                    }
                    let (level, left) = stack.pop().expect("checked non-empty");
                    node = (level + 1, tree_node(*algorithm, &left, &node.1));
                }
                stack.push(node);
            }
            Aggregator::Blkhash { outer, length } => {
                outer.update(leaf);
                *length += chunk_len;
            }
            Aggregator::S3 {
                outer,
                first,
                parts,
                ..
            } => {
                outer.update(leaf);
                if *parts == 0 {
                    *first = Some(leaf.to_vec());
                }
                *parts += 1;
            }
        }
    }

    pub(crate) fn finish(self) -> Aggregated {
        match self {
            Aggregator::Tree {
                algorithm,
                mut stack,
            } => {
                let Some((_, mut root)) = stack.pop() else {
                    // No chunks: both Merkle (RFC 6962: MTH({}) = HASH()) and Glacier hash
                    // the empty string.
                    let empty = StreamHasher::new(base_algorithm(algorithm)).finish();
                    return Aggregated {
                        bytes: empty,
                        parts: None,
                    };
                };
                while let Some((_, left)) = stack.pop() {
                    root = tree_node(algorithm, &left, &root);
                }
                Aggregated {
                    bytes: root,
                    parts: None,
                }
            }
            Aggregator::Blkhash { mut outer, length } => {
                outer.update(&length.to_le_bytes());
                Aggregated {
                    bytes: outer.finish(),
                    parts: None,
                }
            }
            Aggregator::S3 {
                algorithm,
                mut outer,
                first,
                parts,
            } => {
                let (first, parts) = match first {
                    Some(first) => (first, parts),
                    None => {
                        // An empty object is uploaded as one empty part.
                        let empty = StreamHasher::new(base_algorithm(algorithm)).finish();
                        outer.update(&empty);
                        (empty, 1)
                    }
                };
                // A single-part upload's ETag is the plain MD5 of the object.
                let bytes = if algorithm == Algorithm::S3Etag && parts == 1 {
                    first
                } else {
                    outer.finish()
                };
                Aggregated {
                    bytes,
                    parts: Some(parts),
                }
            }
        }
    }
}

fn tree_node(algorithm: Algorithm, left: &[u8], right: &[u8]) -> Vec<u8> {
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
