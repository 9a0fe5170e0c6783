//! `imghash sum`: print checksums in the formats of the reference tools.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use imghash_engine::manifest::ManifestWriter;
use imghash_engine::{parse_chunk_size, Algorithm, Digest, HashJob};

use super::{
    escape_name, hash_one, hash_one_with, parse_algorithms, tag, HashOptions, UsageError,
    EXIT_FAILURE,
};

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
    /// Files to hash; `-` or none reads standard input. Any bytes make a name, as in md5sum.
    pub files: Vec<OsString>,
}

/// Runs `imghash sum`; per-file errors are reported and counted, the rest go on.
pub fn run(args: SumArgs) -> anyhow::Result<ExitCode> {
    let algorithms = parse_algorithms(&args.algorithms)?;
    let mut job = args
        .options
        .configure(HashJob::builder(algorithms.iter().copied()))?;
    if let Some(text) = &args.chunk_size {
        job = job.chunk_size(parse_chunk_size(text)?);
    }
    // A request that can never work (e.g. Glacier with another chunk size) is a usage
    // error, refused here before any file is read.
    let job = job.build()?;
    let tagged = args.tag || algorithms.len() > 1;
    let files = if args.files.is_empty() {
        vec![OsString::from("-")]
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
                    stdout.write_all(&format_line(digest, name.as_bytes(), tagged))?;
                }
                stdout.flush()?;
            }
            Err(err) => {
                eprintln!("imghash: {}: {err:#}", name.to_string_lossy());
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
    name: &OsStr,
    path: &Path,
    tagged: bool,
    options: &HashOptions,
) -> anyhow::Result<ExitCode> {
    let partial = path.with_extension("partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let chunk_size = job.chunk_size_of(algorithm).expect("chunked");
    // The writer is the run's chunk sink: a write error stops the run.
    let mut writer = ManifestWriter::new(BufWriter::new(file), algorithm, chunk_size)?;
    let outcome = hash_one_with(job, name, options, &mut writer).and_then(|report| {
        let value = report.get(algorithm).expect("requested").value();
        writer
            .finish(report.bytes, &value)
            .context("cannot write the manifest")?;
        Ok(report)
    });
    let report = match outcome {
        Ok(report) => report,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            eprintln!("imghash: {}: {err:#}", name.to_string_lossy());
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut stdout = std::io::stdout().lock();
    for digest in &report.digests {
        stdout.write_all(&format_line(digest, name.as_bytes(), tagged))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One output line, newline included: `<value>  <name>` as md5sum prints it, or
/// `TAG (<name>) = <value>`. The name's bytes are kept as they are (escaped as coreutils
/// does), so a name that is not UTF-8 comes out as md5sum writes it.
pub fn format_line(digest: &Digest, name: &[u8], tagged: bool) -> Vec<u8> {
    let (escaped, name) = escape_name(name);
    let mut line = Vec::with_capacity(name.len() + 160);
    if escaped {
        line.push(b'\\');
    }
    if tagged {
        let tag = tag(digest.algorithm, digest.chunk_size);
        line.extend_from_slice(tag.as_bytes());
        line.extend_from_slice(b" (");
        line.extend_from_slice(&name);
        line.extend_from_slice(b") = ");
        line.extend_from_slice(digest.value().as_bytes());
    } else {
        line.extend_from_slice(digest.value().as_bytes());
        line.extend_from_slice(b"  ");
        line.extend_from_slice(&name);
    }
    line.push(b'\n');
    line
}
