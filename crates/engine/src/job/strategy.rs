//! How a job reads and hashes its input: the choice is one function, [`choose`], so that a
//! test can ask it what a job would do without running the job.

use crate::chunked::BLAKE3_SUBTREE;
use crate::size::{MAX_CHUNK_SIZE, MIB};
use crate::Algorithm;

use super::HashJob;

/// Smallest unit of work in the parallel mode, so that per-unit overhead stays negligible.
const MIN_UNIT: u64 = 4 * MIB;

/// The ways a job can read its input and feed its digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Pool threads each read whole units of `unit` bytes with positional reads and hash
    /// them into every (chunked) construction ([`super::parallel`]).
    Parallel {
        /// Bytes per unit: a whole number of chunks of every construction.
        unit: u64,
    },
    /// Two readers take alternate blocks and the calling thread hashes them in order
    /// ([`super::split_read`]).
    SplitRead,
    /// The calling thread reads and hashes each block itself ([`super::inline`]).
    Inline,
    /// One reader hands every block to one thread per digest ([`super::handoff`]).
    Handoff,
}

/// What `job` does with an input of `len` bytes (`None` for a stream), read `read_size`
/// bytes at a time.
pub(crate) fn choose(job: &HashJob, len: Option<u64>, read_size: usize) -> Strategy {
    if let Some(unit) = len.and_then(|len| parallel_unit(job, len)) {
        return Strategy::Parallel { unit };
    }
    if len.is_some_and(|len| splits_reading(job, len, read_size)) {
        return Strategy::SplitRead;
    }
    if hashes_inline(job) {
        return Strategy::Inline;
    }
    Strategy::Handoff
}

/// The parallel mode's unit for an input of `len` bytes: the least common multiple of
/// the chunk sizes, scaled up to at least [`MIN_UNIT`]. `None` if some digest must be
/// streamed in order, or the sizes have no common multiple up to 1 GiB (then the
/// hand-off hashes each construction on its own thread).
fn parallel_unit(job: &HashJob, len: u64) -> Option<u64> {
    let mut unit = 1;
    for &algorithm in &job.algorithms {
        let chunk = match algorithm {
            // A lone subtree would need BLAKE3's root flag: small inputs are streamed.
            Algorithm::Blake3 if len > BLAKE3_SUBTREE => BLAKE3_SUBTREE,
            _ => job.chunk_size_of(algorithm)?,
        };
        unit = unit / gcd(unit, chunk) * chunk;
        if unit > MAX_CHUNK_SIZE {
            return None;
        }
    }
    Some(unit * MIN_UNIT.div_ceil(unit))
}

/// True for a lone digest so fast that handing blocks to another core would cost more
/// than it saves: the reading thread hashes each block itself while it is in cache
/// (XXH* here only with a single thread or a tiny input; see `splits_reading`).
fn hashes_inline(job: &HashJob) -> bool {
    matches!(
        job.algorithms[..],
        [Algorithm::Xxh64 | Algorithm::Xxh3 | Algorithm::Xxh128 | Algorithm::Blake3]
    )
}

/// True for a lone XXH digest of a source of several blocks, with a second core to
/// spare: the kernel's copy from the page cache costs more than XXH hashing, so sharing
/// the reading between two cores pays where handing every block over would not.
fn splits_reading(job: &HashJob, len: u64, block_size: usize) -> bool {
    job.thread_count() >= 2
        && len >= 4 * block_size as u64
        && matches!(
            job.algorithms[..],
            [Algorithm::Xxh64 | Algorithm::Xxh3 | Algorithm::Xxh128]
        )
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::KIB;

    const BLOCK: usize = 256 * KIB as usize;
    const GIB: u64 = 1 << 30;

    #[test]
    fn chunked_constructions_of_a_file_run_in_parallel_units_of_at_least_4_mib() {
        let job = HashJob::builder([Algorithm::MerkleSha256])
            .threads(2)
            .build()
            .unwrap();
        let unit = match choose(&job, Some(GIB), BLOCK) {
            Strategy::Parallel { unit } => unit,
            other => panic!("expected the parallel mode, got {other:?}"),
        };
        assert!(unit >= MIN_UNIT);
        assert_eq!(
            unit % job.chunk_size_of(Algorithm::MerkleSha256).unwrap(),
            0
        );
    }

    #[test]
    fn a_stream_is_never_read_in_parallel_units() {
        let job = HashJob::builder([Algorithm::MerkleSha256])
            .threads(2)
            .build()
            .unwrap();
        assert_eq!(choose(&job, None, BLOCK), Strategy::Handoff);
    }

    #[test]
    fn a_lone_xxh_digest_splits_the_reading_only_with_two_threads_and_several_blocks() {
        let two = HashJob::builder([Algorithm::Xxh3])
            .threads(2)
            .build()
            .unwrap();
        assert_eq!(choose(&two, Some(GIB), BLOCK), Strategy::SplitRead);
        assert_eq!(choose(&two, Some(BLOCK as u64), BLOCK), Strategy::Inline);
        assert_eq!(choose(&two, None, BLOCK), Strategy::Inline);
        let one = HashJob::builder([Algorithm::Xxh3])
            .threads(1)
            .build()
            .unwrap();
        assert_eq!(choose(&one, Some(GIB), BLOCK), Strategy::Inline);
    }

    #[test]
    fn several_sequential_digests_are_handed_off() {
        let job = HashJob::builder([Algorithm::Md5, Algorithm::Sha256])
            .threads(2)
            .build()
            .unwrap();
        assert_eq!(choose(&job, Some(GIB), BLOCK), Strategy::Handoff);
    }
}
