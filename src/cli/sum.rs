//! `imghash sum`: print checksums in the formats of the reference tools.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use imghash_engine::manifest::ManifestWriter;
use imghash_engine::{parse_chunk_size, Algorithm, Digest, HashJob};

use super::{escape_name, hash_one, parse_algorithms, tag, HashOptions, UsageError, EXIT_FAILURE};

/// Arguments of `imghash sum`.
#[derive(clap::Args)]
pub struct SumArgs {
    /// Algorithm (repeatable or comma-separated): md5 (default), sha1, sha256, sha512,
    /// xxh64, xxh3, xxh128, blake3, merkle-sha256, merkle-sha512, merkle-xxh128,
    /// blkhash-sha256, glacier-sha256, s3-etag, s3-sha256-composite.
    #[arg(short, long = "algorithm", value_name = "ALG")]
    pub algorithms: Vec<String>,
    /// Chunk (part) size for chunked algorithms, with a unit: 64KiB, 4MiB, 8MB.
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,
    /// Write the chunk digests of the first chunked algorithm to this file (JSON lines),
    /// for `imghash diff`. Needs exactly one input file.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Print BSD-style lines: `MD5 (file) = …`. Implied by several algorithms.
    #[arg(long)]
    pub tag: bool,
    #[command(flatten)]
    pub options: HashOptions,
    /// Files to hash; `-` or none reads standard input.
    pub files: Vec<String>,
}

/// Runs `imghash sum`; per-file errors are reported and counted, the rest go on.
pub fn run(args: SumArgs) -> anyhow::Result<ExitCode> {
    let algorithms = parse_algorithms(&args.algorithms)?;
    let mut job = args
        .options
        .configure(HashJob::new(algorithms.iter().copied()))?;
    if let Some(text) = &args.chunk_size {
        job = job.chunk_size(parse_chunk_size(text)?);
    }
    let tagged = args.tag || algorithms.len() > 1;
    let files = if args.files.is_empty() {
        vec!["-".to_string()]
    } else {
        args.files.clone()
    };
    if let Some(path) = &args.manifest {
        if files.len() != 1 {
            return Err(UsageError("--manifest needs exactly one input file".to_string()).into());
        }
        let algorithm = algorithms
            .iter()
            .copied()
            .find(|a| a.is_chunked())
            .ok_or_else(|| {
                UsageError("--manifest needs a chunked algorithm (e.g. -a merkle-sha256)".into())
            })?;
        return write_with_manifest(&job, algorithm, &files[0], path, tagged, &args.options);
    }
    let mut failures = 0;
    let mut stdout = std::io::stdout().lock();
    for name in &files {
        match hash_one(&job, name, &args.options) {
            Ok(report) => {
                for digest in &report.digests {
                    writeln!(stdout, "{}", format_line(digest, name, tagged))?;
                }
                stdout.flush()?;
            }
            Err(err) => {
                // A request that can never work (e.g. Glacier with another chunk size)
                // is a usage error, not a per-file one.
                if let Some(imghash_engine::Error::InvalidRequest(_)) = err.downcast_ref() {
                    return Err(err);
                }
                eprintln!("imghash: {name}: {err:#}");
                failures += 1;
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// Hashes one file, streaming the chunk digests of `algorithm` into a manifest written
/// under a temporary name and renamed into place only when complete.
fn write_with_manifest(
    job: &HashJob,
    algorithm: Algorithm,
    name: &str,
    path: &Path,
    tagged: bool,
    options: &HashOptions,
) -> anyhow::Result<ExitCode> {
    let partial = path.with_extension("partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let chunk_size = job.chunk_size_of(algorithm).expect("chunked");
    let writer = ManifestWriter::new(BufWriter::new(file), algorithm, chunk_size)?;
    let writer = Arc::new(Mutex::new(ManifestState {
        writer,
        error: None,
    }));
    let sink = writer.clone();
    let job = job.clone().on_chunk(Arc::new(move |alg, chunk| {
        if alg != algorithm {
            return;
        }
        let mut state = sink.lock().expect("manifest lock");
        if state.error.is_none() {
            state.error = state.writer.chunk(chunk).err();
        }
    }));
    let outcome = hash_one(&job, name, options).and_then(|report| {
        drop(job); // releases the callback's handle on the writer
        let state = Arc::into_inner(writer)
            .expect("job finished")
            .into_inner()
            .expect("manifest lock");
        if let Some(e) = state.error {
            return Err(e).context("cannot write the manifest");
        }
        let value = report.get(algorithm).expect("requested").value();
        state.writer.finish(report.bytes, &value)?;
        Ok(report)
    });
    let report = match outcome {
        Ok(report) => report,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            eprintln!("imghash: {name}: {err:#}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut stdout = std::io::stdout().lock();
    for digest in &report.digests {
        writeln!(stdout, "{}", format_line(digest, name, tagged))?;
    }
    Ok(ExitCode::SUCCESS)
}

struct ManifestState {
    writer: ManifestWriter<BufWriter<File>>,
    error: Option<std::io::Error>,
}

/// One output line: `<value>  <name>` as md5sum prints it, or `TAG (<name>) = <value>`.
pub fn format_line(digest: &Digest, name: &str, tagged: bool) -> String {
    let (escaped, name) = escape_name(name);
    let prefix = if escaped { "\\" } else { "" };
    if tagged {
        format!(
            "{prefix}{} ({name}) = {}",
            tag(digest.algorithm, digest.chunk_size),
            digest.value()
        )
    } else {
        format!("{prefix}{}  {name}", digest.value())
    }
}
