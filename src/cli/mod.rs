//! The command line: `sum`, `check`, `diff`, `speed` and `serve`, and what they share:
//! the hashing options, one input path for files, stdin and `ceph://` images
//! ([`hash_one`]), and the exit status ([`exit_status`]: 1 for failures, 2 for usage).

pub mod check;
pub mod diff;
mod progress;
mod rbd;
pub mod serve;
pub mod speed;
pub mod sum;

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use imghash_engine::tuning::ReadStrategy;
use imghash_engine::{
    Algorithm, ChunkSink, ContentSource, HashJob, HashJobBuilder, ImageFormat, Report,
};

/// Exit status for bad usage (unknown algorithm, bad chunk size), as clap uses.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when some file failed or did not match.
pub const EXIT_FAILURE: u8 = 1;

/// A command line that cannot work whatever the files hold (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit status of a command that failed with `err`: [`EXIT_USAGE`] for a usage error
/// (an unknown algorithm, a bad chunk size, flags that do not go together), else
/// [`EXIT_FAILURE`] (a failed bind, an unreadable file or list).
pub fn exit_status(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<UsageError>()
            || matches!(
                cause.downcast_ref::<imghash_engine::Error>(),
                Some(
                    imghash_engine::Error::UnknownAlgorithm { .. }
                        | imghash_engine::Error::InvalidChunkSize { .. }
                        | imghash_engine::Error::InvalidSetting { .. }
                        | imghash_engine::Error::InvalidRequest(_)
                )
            )
    });
    if usage {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

/// Hashing settings shared by `sum`, `check` and `diff`.
#[derive(clap::Args, Clone)]
pub struct HashOptions {
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
    /// How to read and feed the digests: auto (default: what the engine measures fastest
    /// on this machine), inline, handoff, split-read, parallel, mapped (a local file's page
    /// cache hashed in place). The digests never depend on it.
    #[arg(long, value_name = "STRATEGY", value_parser = parse_read_strategy)]
    pub read_strategy: Option<ReadStrategy>,
    /// Hash the disk an image holds, not the image file's bytes: a qcow2 (with its backing
    /// chain), vmdk or raw image gives the checksum of `qemu-img convert -O raw IMAGE`.
    #[arg(long)]
    pub content: bool,
    /// With --content: the image format (raw, qcow2, vmdk) instead of detecting it.
    #[arg(long, value_name = "FORMAT", requires = "content", value_parser = parse_image_format)]
    pub image_format: Option<ImageFormat>,
    #[command(flatten)]
    pub ceph: rbd::CephOptions,
}

fn parse_read_strategy(name: &str) -> Result<ReadStrategy, String> {
    ReadStrategy::ALL
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = ReadStrategy::ALL.iter().map(|s| s.name()).collect();
            format!(
                "unknown read strategy {name:?}: one of {}",
                names.join(", ")
            )
        })
}

fn parse_image_format(name: &str) -> Result<ImageFormat, String> {
    name.parse()
        .map_err(|e: imghash_engine::Error| e.to_string())
}

impl HashOptions {
    /// `job` with these options' threads: a pool of `--threads` (default one per core),
    /// built only if some file of the run needs one (XXH* and MD5 alone never do) and then
    /// shared by every file the job's clones hash.
    pub fn configure(&self, job: HashJobBuilder) -> anyhow::Result<HashJobBuilder> {
        let job = match self.read_strategy {
            Some(strategy) => job.read_strategy(strategy),
            None => job,
        };
        Ok(match self.threads {
            Some(0) => return Err(UsageError("--threads must be at least 1".to_string()).into()),
            Some(n) => job.threads(n),
            None => job,
        })
    }

    /// One pool for every file of the run.
    pub fn pool(&self) -> anyhow::Result<Arc<rayon::ThreadPool>> {
        let mut builder =
            rayon::ThreadPoolBuilder::new().thread_name(|i| format!("imghash-hash-{i}"));
        if let Some(n) = self.threads {
            if n == 0 {
                return Err(UsageError("--threads must be at least 1".to_string()).into());
            }
            builder = builder.num_threads(n);
        }
        Ok(Arc::new(
            builder.build().context("cannot start hashing threads")?,
        ))
    }
}

/// Parses `-a` values (repeatable and comma-separated), default MD5.
pub fn parse_algorithms(names: &[String]) -> anyhow::Result<Vec<Algorithm>> {
    let mut algorithms = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')) {
        algorithms.push(name.parse::<Algorithm>()?);
    }
    if algorithms.is_empty() {
        algorithms.push(Algorithm::Md5);
    }
    Ok(algorithms)
}

/// Hashes `name` (`-` = stdin) with `job`, showing progress if wanted. Names are bytes,
/// as on the command line and in checksum lists: any file name works, UTF-8 or not.
pub fn hash_one(job: &HashJob, name: &OsStr, options: &HashOptions) -> anyhow::Result<Report> {
    hash_one_with(job, name, options, &mut ())
}

/// [`hash_one`], handing the chunk digests to `sink` as they are made.
pub fn hash_one_with(
    job: &HashJob,
    name: &OsStr,
    options: &HashOptions,
    sink: &mut dyn ChunkSink,
) -> anyhow::Result<Report> {
    let progress = imghash_engine::Progress::new();
    let job = job.clone().progress(&progress);
    let shown = name.to_string_lossy();
    let _bar = progress::ProgressDisplay::start(&shown, &progress, options.progress);
    if name == "-" {
        anyhow::ensure!(
            !options.content,
            "--content needs an image file, not standard input"
        );
        let mut stdin = std::io::stdin().lock();
        Ok(job.hash_reader_with(&mut stdin, sink)?)
    } else if let Some(address) = name.to_str().filter(|n| crate::ceph::is_rbd_address(n)) {
        rbd::hash(&job, address, options, sink)
    } else if options.content {
        let source = ContentSource::open(Path::new(name), options.image_format)?;
        Ok(job.hash_source_with(&source, sink)?)
    } else {
        Ok(job.hash_file_with(Path::new(name), sink)?)
    }
}

/// Escapes a file name the way coreutils (9.1) does in checksum lines: a name holding a
/// backslash, newline or carriage return gets `\\`/`\n`/`\r` escapes and the line a
/// leading backslash. Other bytes, UTF-8 or not, are written as they are.
pub fn escape_name(name: &[u8]) -> (bool, Vec<u8>) {
    if !name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
        return (false, name.to_vec());
    }
    let mut escaped = Vec::with_capacity(name.len() + 2);
    for &byte in name {
        match byte {
            b'\\' => escaped.extend_from_slice(b"\\\\"),
            b'\n' => escaped.extend_from_slice(b"\\n"),
            b'\r' => escaped.extend_from_slice(b"\\r"),
            other => escaped.push(other),
        }
    }
    (true, escaped)
}

/// The inverse of [`escape_name`].
pub fn unescape_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

/// The BSD-style tag of an algorithm: `MD5`, `SHA256`, `BLAKE3`, and for chunked
/// constructions the chunk size too (`MERKLE-SHA256/4MiB`), so `check` can recompute it.
pub fn tag(algorithm: Algorithm, chunk_size: Option<u64>) -> String {
    let name = algorithm.name().to_ascii_uppercase();
    match chunk_size {
        Some(size) => format!("{name}/{}", imghash_engine::format_size(size)),
        None => name,
    }
}
