//! `imghash diff A B`: the byte ranges where two images (or their manifests) differ.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use imghash_engine::manifest::{self, Manifest};
use imghash_engine::{parse_chunk_size, Algorithm, ChunkDigest, HashJob};

use super::{hash_one, HashOptions, UsageError, EXIT_FAILURE};

/// Arguments of `imghash diff`.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// Chunked algorithm for comparing two files (a manifest brings its own).
    #[arg(
        short,
        long = "algorithm",
        value_name = "ALG",
        default_value = "merkle-sha256"
    )]
    pub algorithm: String,
    /// Chunk size for comparing two files; smaller chunks locate differences more finely.
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,
    #[command(flatten)]
    pub options: HashOptions,
    /// A manifest written by `imghash sum --manifest`, or an image file.
    pub a: String,
    /// A manifest or an image file.
    pub b: String,
}

/// Runs `imghash diff`: prints `START..END (N bytes)` per differing range; exits 1 if any.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let a = Manifest::read(Path::new(&args.a)).ok();
    let b = Manifest::read(Path::new(&args.b)).ok();
    let (algorithm, chunk_size) = match a.as_ref().or(b.as_ref()) {
        Some(known) => (known.algorithm, known.chunk_size),
        None => {
            let algorithm: Algorithm = args.algorithm.parse()?;
            if !algorithm.is_chunked() {
                let message = format!("diff needs a chunked algorithm, not {algorithm}");
                return Err(UsageError(message).into());
            }
            let size = match &args.chunk_size {
                Some(text) => parse_chunk_size(text)?,
                None => algorithm.default_chunk_size().expect("chunked"),
            };
            (algorithm, size)
        }
    };
    let pool = args.options.pool()?;
    let load = |given: Option<Manifest>, path: &str| match given {
        Some(manifest) => Ok(manifest),
        None => manifest_of_file(path, algorithm, chunk_size, pool.clone(), &args.options),
    };
    let a = load(a, &args.a)?;
    let b = load(b, &args.b)?;
    let ranges = manifest::diff(&a, &b)?;
    for range in &ranges {
        println!(
            "{}..{} ({} bytes)",
            range.start,
            range.end,
            range.end - range.start
        );
    }
    Ok(if ranges.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// Hashes `path` (a file, `-` for stdin, or a `ceph://` image, with progress as `sum`
/// shows it) and keeps its chunk digests.
fn manifest_of_file(
    path: &str,
    algorithm: Algorithm,
    chunk_size: u64,
    pool: Arc<rayon::ThreadPool>,
    options: &HashOptions,
) -> anyhow::Result<Manifest> {
    let chunks: Arc<Mutex<Vec<ChunkDigest>>> = Arc::default();
    let sink = chunks.clone();
    let mut job = HashJob::new([algorithm])
        .pool(pool)
        .on_chunk(Arc::new(move |_, chunk| {
            sink.lock().expect("chunk list").push(chunk.clone())
        }));
    if algorithm.has_selectable_chunk_size() {
        job = job.chunk_size(chunk_size);
    }
    let report = hash_one(&job, path, options).with_context(|| format!("cannot hash {path}"))?;
    let chunks = std::mem::take(&mut *chunks.lock().expect("chunk list"));
    Ok(Manifest {
        algorithm,
        chunk_size,
        chunks,
        length: report.bytes,
        value: report.digests[0].value(),
    })
}
