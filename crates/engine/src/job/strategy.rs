//! How a job reads and hashes its input: the choice is one function, [`choose`], so that a
//! test can ask it what a job would do, with the machine's measurements given or forced,
//! without running the job.

use std::time::Duration;

use crate::calibrate::StrategyTimes;
use crate::chunked::BLAKE3_SUBTREE;
use crate::error::{Error, Result};
use crate::size::{MAX_CHUNK_SIZE, MIB};
use crate::tuning::ReadStrategy;
use crate::Algorithm;

use super::mapped::MapMode;
use super::HashJob;

/// Smallest unit of work in the parallel mode, so that per-unit overhead stays negligible:
/// a mapped unit costs an `munmap`, which interrupts the other cores to flush their TLBs (at
/// 4 MiB, BLAKE3 lost ~10% to b3sum's single mapping on a 2-vCPU VM; at 16 MiB it kept pace).
const MIN_UNIT: u64 = 16 * MIB;

/// Inputs smaller than this are hashed on the reading thread without measuring which
/// strategy is fastest: the measurement (~10 ms once per process) would cost more than
/// the best choice could save on them.
const WORTH_MEASURING: u64 = 64 * MIB;

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
    /// The calling thread hashes a local file through mappings ([`super::mapped`]).
    Mapped(MapMode),
}

impl Strategy {
    /// The public name of this strategy.
    pub(crate) fn public(self) -> ReadStrategy {
        match self {
            Strategy::Parallel { .. } => ReadStrategy::Parallel,
            Strategy::SplitRead => ReadStrategy::SplitRead,
            Strategy::Inline => ReadStrategy::Inline,
            Strategy::Handoff => ReadStrategy::Handoff,
            Strategy::Mapped(_) => ReadStrategy::Mapped,
        }
    }
}

/// What an input is, as far as the choice goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InputKind {
    /// Its length; `None` for a stream.
    pub(crate) len: Option<u64>,
    /// True for a local file the engine may map.
    pub(crate) mappable: bool,
}

/// What `job` does with `input`, read `read_size` bytes at a time. `measured` gives the
/// strategy race of a digest hashed alone (see `calibrate`), and is called only when the
/// choice depends on it.
pub(crate) fn choose(
    job: &HashJob,
    input: InputKind,
    read_size: usize,
    measured: impl FnOnce(Algorithm) -> StrategyTimes,
) -> Result<Strategy> {
    let len = input.len;
    let cannot = |why: &str| {
        Error::InvalidRequest(format!(
            "read strategy {} cannot apply: {why}",
            job.strategy
        ))
    };
    match job.strategy {
        ReadStrategy::Inline => Ok(Strategy::Inline),
        ReadStrategy::Handoff => Ok(Strategy::Handoff),
        ReadStrategy::SplitRead => len
            .map(|_| Strategy::SplitRead)
            .ok_or_else(|| cannot("a stream cannot be read at two places at once")),
        ReadStrategy::Parallel => len
            .and_then(|len| parallel_unit(job, len))
            .map(|unit| Strategy::Parallel { unit })
            .ok_or_else(|| {
                cannot("it needs a file, and only chunked constructions or BLAKE3 over 4 MiB")
            }),
        ReadStrategy::Mapped if input.mappable => Ok(Strategy::Mapped(MapMode::Always)),
        ReadStrategy::Mapped => Err(cannot("it needs a local file")),
        ReadStrategy::Auto => Ok(choose_auto(job, input, read_size, measured)),
    }
}

fn choose_auto(
    job: &HashJob,
    input: InputKind,
    read_size: usize,
    measured: impl FnOnce(Algorithm) -> StrategyTimes,
) -> Strategy {
    let len = input.len;
    if let Some(unit) = len.and_then(|len| parallel_unit(job, len)) {
        return Strategy::Parallel { unit };
    }
    let lone = match job.algorithms[..] {
        [lone] if !lone.is_chunked() => lone,
        _ => return Strategy::Handoff,
    };
    // BLAKE3 spreads each block over the pool by itself; small inputs are not worth the
    // measurement.
    if lone == Algorithm::Blake3 || len.is_some_and(|len| len < WORTH_MEASURING) {
        return Strategy::Inline;
    }
    // A local file is measured on itself: its first windows, read and mapped in turn.
    if input.mappable {
        return Strategy::Mapped(MapMode::Probe);
    }
    let times = measured(lone);
    let mut candidates = vec![
        (times.inline, Strategy::Inline),
        (times.handoff, Strategy::Handoff),
    ];
    // Splitting the reading needs a second core and a source with several blocks.
    if job.thread_count() >= 2 && len.is_some_and(|len| len >= 4 * read_size as u64) {
        candidates.push((times.split_read, Strategy::SplitRead));
    }
    simplest_unless_beaten(&candidates)
}

/// A strategy that starts threads must beat a simpler one by this fraction of its time to
/// be taken. On a busy machine the race's times vary by several percent from one process
/// to the next; without a margin the choice flipped between runs over differences that
/// were noise, and a thread that is not needed costs when the other cores are busy.
pub(crate) const WIN_MARGIN: f64 = 0.10;

/// The candidate to take, given in order of simplicity: the simplest, unless a later one
/// is faster than the one taken so far by more than [`WIN_MARGIN`].
fn simplest_unless_beaten(candidates: &[(Duration, Strategy)]) -> Strategy {
    let mut taken = match candidates.first() {
        Some(&first) => first,
        None => return Strategy::Inline,
    };
    for &(time, strategy) in &candidates[1..] {
        if time.as_secs_f64() < taken.0.as_secs_f64() * (1.0 - WIN_MARGIN) {
            taken = (time, strategy);
        }
    }
    taken.1
}

/// True if a race's result is too close to call: the fastest threaded strategy is within
/// half a margin of the point where it would win or lose against the reading thread
/// alone, so that more trials are worth it (see `calibrate`).
pub(crate) fn too_close_to_call(times: &StrategyTimes) -> bool {
    let inline = times.inline.as_secs_f64();
    let threaded = times.handoff.min(times.split_read).as_secs_f64();
    let edge = inline * (1.0 - WIN_MARGIN);
    (threaded - edge).abs() < inline * WIN_MARGIN / 2.0
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

    fn times(inline: u64, handoff: u64, split_read: u64) -> StrategyTimes {
        StrategyTimes {
            inline: Duration::from_micros(inline),
            handoff: Duration::from_micros(handoff),
            split_read: Duration::from_micros(split_read),
        }
    }

    fn not_a_file(len: Option<u64>) -> InputKind {
        InputKind {
            len,
            mappable: false,
        }
    }

    fn never_measured(algorithm: Algorithm) -> StrategyTimes {
        panic!("the choice for {algorithm} should not need a measurement")
    }

    fn auto(job: &HashJob, len: Option<u64>, measured: StrategyTimes) -> Strategy {
        choose(job, not_a_file(len), BLOCK, |_| measured).unwrap()
    }

    #[test]
    fn a_lone_digest_takes_the_strategy_measured_fastest() {
        let job = HashJob::builder([Algorithm::Sha1])
            .threads(2)
            .build()
            .unwrap();
        let inline_wins = times(100, 130, 120);
        let handoff_wins = times(130, 100, 120);
        let split_wins = times(130, 120, 100);
        assert_eq!(auto(&job, Some(GIB), inline_wins), Strategy::Inline);
        assert_eq!(auto(&job, Some(GIB), handoff_wins), Strategy::Handoff);
        assert_eq!(auto(&job, Some(GIB), split_wins), Strategy::SplitRead);
        assert_eq!(auto(&job, None, inline_wins), Strategy::Inline);
        assert_eq!(auto(&job, None, handoff_wins), Strategy::Handoff);
    }

    #[test]
    fn a_threaded_strategy_must_win_by_the_margin() {
        let job = HashJob::builder([Algorithm::Sha1])
            .threads(2)
            .build()
            .unwrap();
        // 5% faster is noise on a busy machine: the reading thread alone is kept.
        assert_eq!(auto(&job, Some(GIB), times(100, 95, 96)), Strategy::Inline);
        // Split-read must beat the hand-off that beat inline, by the margin too.
        assert_eq!(auto(&job, Some(GIB), times(100, 80, 77)), Strategy::Handoff);
        assert_eq!(
            auto(&job, Some(GIB), times(100, 80, 70)),
            Strategy::SplitRead
        );
    }

    #[test]
    fn only_races_near_the_margin_are_too_close_to_call() {
        assert!(too_close_to_call(&times(100, 91, 200)));
        assert!(too_close_to_call(&times(100, 200, 88)));
        assert!(!too_close_to_call(&times(100, 60, 200)));
        assert!(!too_close_to_call(&times(100, 120, 110)));
    }

    #[test]
    fn reading_is_split_only_with_two_threads_and_a_file() {
        let split_wins = times(130, 110, 90);
        let one = HashJob::builder([Algorithm::Xxh3])
            .threads(1)
            .build()
            .unwrap();
        assert_eq!(auto(&one, Some(GIB), split_wins), Strategy::Handoff);
        let two = HashJob::builder([Algorithm::Xxh3])
            .threads(2)
            .build()
            .unwrap();
        assert_eq!(auto(&two, None, split_wins), Strategy::Handoff);
    }

    #[test]
    fn small_inputs_and_several_digests_need_no_measurement() {
        let lone = HashJob::builder([Algorithm::Md5])
            .threads(2)
            .build()
            .unwrap();
        let small = choose(
            &lone,
            not_a_file(Some(WORTH_MEASURING - 1)),
            BLOCK,
            never_measured,
        );
        assert_eq!(small.unwrap(), Strategy::Inline);
        let several = HashJob::builder([Algorithm::Md5, Algorithm::Sha256])
            .threads(2)
            .build()
            .unwrap();
        let chosen = choose(&several, not_a_file(Some(GIB)), BLOCK, never_measured);
        assert_eq!(chosen.unwrap(), Strategy::Handoff);
    }

    #[test]
    fn a_lone_digest_of_a_local_file_is_probed_on_the_file_itself() {
        let job = HashJob::builder([Algorithm::Xxh3])
            .threads(2)
            .build()
            .unwrap();
        let file = |len| InputKind {
            len: Some(len),
            mappable: true,
        };
        let chosen = choose(&job, file(GIB), BLOCK, never_measured).unwrap();
        assert_eq!(chosen, Strategy::Mapped(MapMode::Probe));
        let small = choose(&job, file(WORTH_MEASURING - 1), BLOCK, never_measured);
        assert_eq!(small.unwrap(), Strategy::Inline);
        let forced = job.with_read_strategy(ReadStrategy::Mapped);
        let chosen = choose(&forced, file(1), BLOCK, never_measured).unwrap();
        assert_eq!(chosen, Strategy::Mapped(MapMode::Always));
        let refused = choose(&forced, not_a_file(Some(GIB)), BLOCK, never_measured);
        assert!(refused.unwrap_err().to_string().contains("local file"));
    }

    #[test]
    fn chunked_constructions_of_a_file_run_in_parallel_units_of_at_least_4_mib() {
        let job = HashJob::builder([Algorithm::MerkleSha256])
            .threads(2)
            .build()
            .unwrap();
        let unit = match choose(&job, not_a_file(Some(GIB)), BLOCK, never_measured).unwrap() {
            Strategy::Parallel { unit } => unit,
            other => panic!("expected the parallel mode, got {other:?}"),
        };
        assert!(unit >= MIN_UNIT);
        assert_eq!(
            unit % job.chunk_size_of(Algorithm::MerkleSha256).unwrap(),
            0
        );
        let stream = choose(&job, not_a_file(None), BLOCK, never_measured).unwrap();
        assert_eq!(stream, Strategy::Handoff);
    }

    #[test]
    fn a_forced_strategy_is_taken_or_refused_by_name() {
        let settings = HashJob::builder([Algorithm::Md5]).threads(2);
        // Past `build`, which refuses Parallel for MD5 already: `choose` refuses it too.
        let job = settings.build().unwrap();
        let forced = |s| {
            choose(
                &job.with_read_strategy(s),
                not_a_file(Some(GIB)),
                BLOCK,
                never_measured,
            )
        };
        assert_eq!(forced(ReadStrategy::Inline).unwrap(), Strategy::Inline);
        assert_eq!(forced(ReadStrategy::Handoff).unwrap(), Strategy::Handoff);
        assert_eq!(
            forced(ReadStrategy::SplitRead).unwrap(),
            Strategy::SplitRead
        );
        let refused = forced(ReadStrategy::Parallel).unwrap_err().to_string();
        assert!(refused.contains("parallel"), "{refused}");
        let split_stream = settings
            .read_strategy(ReadStrategy::SplitRead)
            .build()
            .unwrap();
        let refused = choose(&split_stream, not_a_file(None), BLOCK, never_measured).unwrap_err();
        assert!(refused.to_string().contains("split-read"), "{refused}");
    }
}
