//! Aggregation: the chunk digests of a chunked construction, taken in chunk order, combined
//! into its final value.
//!
//! Runs of all-zero chunks (holes) are pushed as one entry: a 1 TiB image that is mostly
//! holes holds millions of them. The trees combine a run from precomputed digests of
//! perfect subtrees of zero chunks, O(log n) node hashes for n chunks; blkhash and S3 hash
//! the list of chunk digests itself, which no shortcut avoids, but in large slices rather
//! than 32 bytes at a time, and on a thread of their own ([`Outer`]).

use crate::chunked::{base_algorithm, tree_node, tree_root};
use crate::outer::Outer;
use crate::stream::StreamHasher;
use crate::Algorithm;

/// The final value of a chunked construction, before rendering.
pub(crate) struct Aggregated {
    pub(crate) bytes: Vec<u8>,
    /// Number of S3 parts, for the `-N` suffix.
    pub(crate) parts: Option<u64>,
}

/// Consumes chunk digests in chunk order and produces the construction's value.
pub(crate) enum Aggregator {
    /// RFC 6962 Merkle, Glacier and BLAKE3 subtrees.
    Tree(Tree),
    /// blkhash: H(H(b0) ‖ … ‖ H(bn−1) ‖ le64(length)).
    Blkhash { outer: Outer, length: u64 },
    /// S3: H(H(p1) ‖ … ‖ H(pN)), with the first part digest kept for N = 1.
    S3 {
        algorithm: Algorithm,
        outer: Outer,
        first: Option<Vec<u8>>,
        parts: u64,
    },
}

/// A tree built from its leaves in order: a stack of perfect subtrees (level, hash).
/// Merging equal levels as leaves arrive and folding right to left at the end gives exactly
/// the "largest power of two smaller than n" split of RFC 6962, which is also Glacier's
/// pairwise levels with the odd node carried up, and BLAKE3's tree.
pub(crate) struct Tree {
    algorithm: Algorithm,
    stack: Vec<(u32, Vec<u8>)>,
    /// Leaves pushed so far.
    leaves: u64,
    /// `zeros[k]`: the root of a perfect subtree of 2^k zero chunks, filled on first need.
    zeros: Vec<Vec<u8>>,
}

impl Tree {
    /// Adds a perfect subtree of 2^`level` leaves. The leaves before it must be a whole
    /// number of such subtrees, so that every entry below it on the stack is at least as
    /// high: it then stands exactly where its leaves, pushed one by one, would have ended.
    fn push_subtree(&mut self, level: u32, hash: Vec<u8>) {
        // Merge the subtrees completed before only now that more follows: the last merge
        // of all must happen in `finish`, where BLAKE3 flags it as the root.
        while let [.., (left_level, _), (right_level, _)] = self.stack[..] {
            if left_level != right_level {
                break;
            }
            let (_, right) = self.stack.pop().expect("two entries");
            let (_, left) = self.stack.pop().expect("two entries");
            let node = tree_node(self.algorithm, &left, &right);
            self.stack.push((left_level + 1, node));
        }
        self.stack.push((level, hash));
        self.leaves += 1 << level;
    }

    /// Adds `count` zero chunks whose leaf digest is `leaf`, as the largest perfect
    /// subtrees that the leaves before them allow.
    fn push_zeros(&mut self, leaf: &[u8], mut count: u64) {
        if self.zeros.is_empty() {
            self.zeros.push(leaf.to_vec());
        }
        while count > 0 {
            let aligned = self.leaves.trailing_zeros(); // 64 when no leaf came yet
            let fits = count.ilog2();
            let level = aligned.min(fits);
            while self.zeros.len() <= level as usize {
                let below = self.zeros.last().expect("the zero leaf");
                let above = tree_node(self.algorithm, below, below);
                self.zeros.push(above);
            }
            self.push_subtree(level, self.zeros[level as usize].clone());
            count -= 1 << level;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let Some((_, mut root)) = self.stack.pop() else {
            // No chunks: both Merkle (RFC 6962: MTH({}) = HASH()) and Glacier hash the
            // empty string.
            return StreamHasher::new(base_algorithm(self.algorithm)).finish();
        };
        while let Some((_, left)) = self.stack.pop() {
            root = if self.stack.is_empty() {
                tree_root(self.algorithm, &left, &root)
            } else {
                tree_node(self.algorithm, &left, &root)
            };
        }
        root
    }
}

impl Aggregator {
    pub(crate) fn new(algorithm: Algorithm) -> Aggregator {
        let base = base_algorithm(algorithm);
        match algorithm {
            Algorithm::BlkhashSha256 => Aggregator::Blkhash {
                outer: Outer::new(base),
                length: 0,
            },
            Algorithm::S3Etag | Algorithm::S3Sha256Composite => Aggregator::S3 {
                algorithm,
                outer: Outer::new(base),
                first: None,
                parts: 0,
            },
            _ => Aggregator::Tree(Tree {
                algorithm,
                stack: Vec::new(),
                leaves: 0,
                zeros: Vec::new(),
            }),
        }
    }

    /// Adds `count` consecutive chunks of `chunk_len` bytes whose digests all equal
    /// `leaf`. For a tree, a run longer than one must be whole zero chunks, whose digest
    /// does not depend on where they are (not BLAKE3's).
    pub(crate) fn push_run(&mut self, leaf: &[u8], count: u64, chunk_len: u64) {
        match self {
            Aggregator::Tree(tree) if count == 1 => tree.push_subtree(0, leaf.to_vec()),
            Aggregator::Tree(tree) => {
                debug_assert_ne!(tree.algorithm, Algorithm::Blake3);
                tree.push_zeros(leaf, count);
            }
            Aggregator::Blkhash { outer, length } => {
                outer.update_repeated(leaf, count);
                *length += count * chunk_len;
            }
            Aggregator::S3 {
                outer,
                first,
                parts,
                ..
            } => {
                outer.update_repeated(leaf, count);
                if *parts == 0 {
                    *first = Some(leaf.to_vec());
                }
                *parts += count;
            }
        }
    }

    pub(crate) fn finish(self) -> Aggregated {
        match self {
            Aggregator::Tree(tree) => Aggregated {
                bytes: tree.finish(),
                parts: None,
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of zero chunks pushed at once ends in the same value as the same chunks
    /// pushed one by one, whatever the leaves before and after it (all alignments).
    #[test]
    fn a_zero_run_equals_its_chunks_pushed_one_by_one() {
        let algorithms = [
            Algorithm::MerkleSha256,
            Algorithm::MerkleXxh128,
            Algorithm::GlacierSha256,
            Algorithm::BlkhashSha256,
            Algorithm::S3Etag,
        ];
        for algorithm in algorithms {
            let zero = vec![0xa5; 32];
            for before in 0..9u8 {
                for run in [0, 1, 2, 3, 5, 8, 13, 16, 31, 64, 100] {
                    let value = |one_by_one: bool| {
                        let mut aggregator = Aggregator::new(algorithm);
                        (0..before).for_each(|i| aggregator.push_run(&[i; 32], 1, 7));
                        if one_by_one {
                            (0..run).for_each(|_| aggregator.push_run(&zero, 1, 7));
                        } else if run > 0 {
                            aggregator.push_run(&zero, run, 7);
                        }
                        (0..3).for_each(|i| aggregator.push_run(&[i + 100; 32], 1, 7));
                        aggregator.finish().bytes
                    };
                    assert_eq!(value(true), value(false), "{algorithm} {before}+{run}");
                }
            }
        }
    }
}
