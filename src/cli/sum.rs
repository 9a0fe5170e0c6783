//! `imghash sum`: print checksums in the formats of the reference tools.

use std::io::Write;
use std::process::ExitCode;

use imghash_engine::{parse_chunk_size, Digest, HashJob};

use super::{escape_name, hash_one, parse_algorithms, tag, HashOptions, EXIT_FAILURE};

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
    let mut job = HashJob::new(algorithms.iter().copied()).pool(args.options.pool()?);
    if let Some(text) = &args.chunk_size {
        job = job.chunk_size(parse_chunk_size(text)?);
    }
    let tagged = args.tag || algorithms.len() > 1;
    let files = if args.files.is_empty() {
        vec!["-".to_string()]
    } else {
        args.files.clone()
    };
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
