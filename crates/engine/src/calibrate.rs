//! Measurements on first use, kept for the process: which digest core is fastest for each
//! standard digest, and which read strategy is fastest for each digest hashed alone.
//!
//! Each measurement runs the engine's own code on an in-memory input for a few
//! milliseconds (trials alternate between the candidates and the best of each is kept, so
//! one noisy moment does not decide), and is made only when a job needs it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::job::{too_close_to_call, HashJob};
use crate::stream::{cores_of, StreamHasher};
use crate::tuning::{DigestCore, PatternSource, ReadStrategy};
use crate::Algorithm;

/// Rounds of trials: each candidate is timed this many times, alternating, and its best
/// time counts.
const ROUNDS: usize = 2;
/// A strategy race too close to call (see `strategy::too_close_to_call`) gets more
/// rounds, up to this many in all: the best of more trials varies less.
const MAX_STRATEGY_ROUNDS: usize = 8;

/// Bytes hashed per core trial, from one cache-resident buffer: under a millisecond for
/// the slowest digest.
const CORE_TRIAL_BYTES: usize = 512 << 10;
const CORE_TRIAL_BUFFER: usize = 256 << 10;

/// Wall time one strategy trial aims at: long enough to cover thread start-up and
/// dozens of hand-offs, short enough that the whole race stays near 10 ms.
const STRATEGY_TRIAL_TIME: Duration = Duration::from_micros(1500);
const STRATEGY_TRIAL_MIN: u64 = 1 << 20;
/// For the fastest digests the trial is bounded by bytes rather than time: XXH3 hashes
/// ~30 GB/s in cache, and 45 MiB trials would copy more than a small image holds.
const STRATEGY_TRIAL_MAX: u64 = 8 << 20;

/// What was measured for one digest hashed alone.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct StrategyTimes {
    pub(crate) inline: Duration,
    pub(crate) handoff: Duration,
    pub(crate) split_read: Duration,
}

struct Measured {
    core: DigestCore,
    /// Bytes per second of the fastest core on a cache-resident buffer.
    rate: f64,
}

fn slot<T>(cache: &'static [OnceLock<T>; 15], algorithm: Algorithm) -> &'static OnceLock<T> {
    let index = Algorithm::ALL
        .iter()
        .position(|&a| a == algorithm)
        .expect("every algorithm is in ALL");
    &cache[index]
}

fn measured(algorithm: Algorithm) -> &'static Measured {
    static CACHE: [OnceLock<Measured>; 15] = [const { OnceLock::new() }; 15];
    slot(&CACHE, algorithm).get_or_init(|| measure_cores(algorithm))
}

/// The fastest digest core for `algorithm` (a standard digest) on this machine.
pub(crate) fn fastest_core(algorithm: Algorithm) -> DigestCore {
    match cores_of(algorithm) {
        [only] => *only,
        _ => measured(algorithm).core,
    }
}

/// How long each strategy took to hash the same in-memory input with `algorithm` alone.
pub(crate) fn strategy_times(algorithm: Algorithm) -> StrategyTimes {
    static CACHE: [OnceLock<StrategyTimes>; 15] = [const { OnceLock::new() }; 15];
    *slot(&CACHE, algorithm).get_or_init(|| race_strategies(algorithm))
}

fn measure_cores(algorithm: Algorithm) -> Measured {
    let buffer = pattern(CORE_TRIAL_BUFFER);
    let cores = cores_of(algorithm);
    let mut best = vec![Duration::MAX; cores.len()];
    for _ in 0..ROUNDS {
        for (core, best) in cores.iter().zip(&mut best) {
            let started = Instant::now();
            let mut hasher = StreamHasher::with_core(algorithm, *core);
            for _ in 0..CORE_TRIAL_BYTES / CORE_TRIAL_BUFFER {
                hasher.update(&buffer);
            }
            std::hint::black_box(hasher.finish());
            *best = (*best).min(started.elapsed());
        }
    }
    let (core, time) = cores
        .iter()
        .zip(best)
        .min_by_key(|(_, time)| *time)
        .expect("every digest has a core");
    Measured {
        core: *core,
        rate: CORE_TRIAL_BYTES as f64 / time.as_secs_f64().max(1e-9),
    }
}

fn race_strategies(algorithm: Algorithm) -> StrategyTimes {
    let rate = if algorithm.is_chunked() {
        // Not raced (chunked constructions have their own strategy); a fixed size will do.
        STRATEGY_TRIAL_MIN as f64
    } else {
        measured(algorithm).rate
    };
    let bytes = ((rate * STRATEGY_TRIAL_TIME.as_secs_f64()) as u64)
        .clamp(STRATEGY_TRIAL_MIN, STRATEGY_TRIAL_MAX);
    let source = PatternSource::new(bytes);
    let Ok(job) = HashJob::builder([algorithm])
        .threads(2)
        .detect_holes(false)
        .build()
    else {
        unreachable!("one algorithm, two threads: nothing to refuse")
    };
    let mut times = [Duration::MAX; 3];
    let strategies = [
        ReadStrategy::Inline,
        ReadStrategy::Handoff,
        ReadStrategy::SplitRead,
    ];
    let result = |times: &[Duration; 3]| StrategyTimes {
        inline: times[0],
        handoff: times[1],
        split_read: times[2],
    };
    for round in 0..MAX_STRATEGY_ROUNDS {
        if round >= ROUNDS && !too_close_to_call(&result(&times)) {
            break;
        }
        for (strategy, best) in strategies.iter().zip(&mut times) {
            let started = Instant::now();
            // An in-memory source cannot fail to read.
            let _ = job.with_read_strategy(*strategy).hash_source(&source);
            *best = (*best).min(started.elapsed());
        }
    }
    result(&times)
}

fn pattern(len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    let source = PatternSource::new(len as u64);
    let _ = crate::Source::read_at(&source, &mut buf, 0);
    buf
}
