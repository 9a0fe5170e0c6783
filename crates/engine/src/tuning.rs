//! What the engine decides at run time, and the handles to see or force it.
//!
//! How fast a digest runs depends on the CPU, and so does the best way to read: on one
//! machine a reader thread handing blocks to a hashing thread wins, on another (a VM where
//! a cross-core wake-up is costly) hashing each block on the reading thread while it is
//! still in that core's cache does. So the engine does not decide by constants: on the
//! first job that needs it, it measures for a few milliseconds on an in-memory input
//! ([`PatternSource`]) which [`DigestCore`] is fastest for each digest and which
//! [`ReadStrategy`] is fastest for a lone digest, and keeps the result for the process.
//! [`HashJob::choice`](crate::HashJob::choice) tells what a job would do;
//! [`HashJobBuilder::read_strategy`](crate::HashJobBuilder::read_strategy) forces a strategy. Results
//! never depend on either.

use std::fmt;
use std::io;

use crate::source::Source;
use crate::Algorithm;

/// How a job reads its input and feeds its digests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadStrategy {
    /// Let the engine choose, from what it measured on this machine (the default).
    #[default]
    Auto,
    /// The reading thread hashes each block itself, while it is in that core's cache.
    Inline,
    /// One thread reads and hands every block to one hashing thread per digest; several
    /// digests then cost about as much as the slowest.
    Handoff,
    /// Two threads share the reading (the kernel's copy) and one hashes every block in
    /// order. Positional sources only.
    SplitRead,
    /// Pool threads each read and hash whole stretches of the input. Positional sources,
    /// and only BLAKE3 and the chunked constructions, which need no bytes in order.
    Parallel,
    /// The calling thread hashes a local file's page cache in place, through mappings of
    /// a few MiB that a helper thread sets up ahead of it: no copy of the bytes. Local
    /// files only. Chosen by itself, the engine first times a few windows each way (read
    /// or mapped) on the file and hashes the rest the faster way.
    Mapped,
}

impl ReadStrategy {
    /// Every strategy, `Auto` first.
    pub const ALL: [ReadStrategy; 6] = [
        ReadStrategy::Auto,
        ReadStrategy::Inline,
        ReadStrategy::Handoff,
        ReadStrategy::SplitRead,
        ReadStrategy::Parallel,
        ReadStrategy::Mapped,
    ];

    /// The name used on command lines and in reports (`inline`, `split-read`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ReadStrategy::Auto => "auto",
            ReadStrategy::Inline => "inline",
            ReadStrategy::Handoff => "handoff",
            ReadStrategy::SplitRead => "split-read",
            ReadStrategy::Parallel => "parallel",
            ReadStrategy::Mapped => "mapped",
        }
    }
}

impl fmt::Display for ReadStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An implementation of a standard digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestCore {
    /// OpenSSL's libcrypto (assembly cores), with the `openssl` feature: MD5, SHA-1,
    /// SHA-256, SHA-512.
    OpenSsl,
    /// The pure-Rust crates (RustCrypto, xxhash, BLAKE3), which pick SIMD or SHA
    /// instructions at run time where they have them.
    Rust,
}

impl DigestCore {
    /// `openssl` or `rust`.
    pub fn name(self) -> &'static str {
        match self {
            DigestCore::OpenSsl => "openssl",
            DigestCore::Rust => "rust",
        }
    }
}

impl fmt::Display for DigestCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a job does with an input: the strategy, and the digest core of each requested
/// algorithm (for a chunked construction, the core of the digest it applies to chunks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// How the input is read; never [`ReadStrategy::Auto`].
    pub strategy: ReadStrategy,
    /// One per requested algorithm, in request order.
    pub cores: Vec<(Algorithm, DigestCore)>,
}

/// An in-memory [`Source`] of any length: a 1 MiB pseudo-random pattern repeated. Reads
/// cost a copy from a cache-friendly buffer, so hashing it shows what the digests and the
/// engine's machinery cost without a disk or the page cache.
///
/// ```
/// use imghash_engine::{tuning::PatternSource, Algorithm, HashJob, Source};
/// let source = PatternSource::new(3 << 20);
/// assert_eq!(source.len(), 3 << 20);
/// let report = HashJob::new([Algorithm::Sha1])?.hash_source(&source)?;
/// assert_eq!(report.bytes, 3 << 20);
/// # Ok::<(), imghash_engine::Error>(())
/// ```
pub struct PatternSource {
    pattern: Vec<u8>,
    len: u64,
}

impl PatternSource {
    const PATTERN_LEN: usize = 1 << 20;

    /// A source of `len` bytes.
    pub fn new(len: u64) -> PatternSource {
        // xorshift64: bytes no digest core can shortcut, without a random-number crate.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let pattern = (0..Self::PATTERN_LEN / 8)
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()
            })
            .collect();
        PatternSource { pattern, len }
    }
}

impl Source for PatternSource {
    fn describe(&self) -> String {
        format!("{} in-memory bytes", self.len)
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        let mut pos = offset;
        while done < buf.len() && pos < self.len {
            let at = (pos % Self::PATTERN_LEN as u64) as usize;
            let n = (buf.len() - done)
                .min(Self::PATTERN_LEN - at)
                .min((self.len - pos) as usize);
            buf[done..done + n].copy_from_slice(&self.pattern[at..at + n]);
            done += n;
            pos += n as u64;
        }
        Ok(done)
    }
}

/// The CPU's model name as the kernel reports it (`/proc/cpuinfo`), and the number of
/// cores this process may use: benchmark numbers mean something only next to these.
///
/// ```
/// let (model, cores) = imghash_engine::tuning::cpu();
/// assert!(!model.is_empty() && cores >= 1);
/// ```
pub fn cpu() -> (String, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| matches!(key.trim(), "model name" | "Model" | "cpu model"))
        .map(|(_, value)| value.trim().to_string())
        .filter(|model| !model.is_empty())
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH));
    (model, cores)
}
