//! `imghash speed`: how fast each algorithm hashes on this machine, in memory and from a
//! file, with what the engine chose to do it — like `openssl speed`, for choosing an
//! algorithm for an image store.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use imghash_engine::tuning::{cpu, PatternSource};
use imghash_engine::{format_size, parse_chunk_size, Algorithm, HashJob, Source as _};

use super::{parse_algorithms, HashOptions};

/// Arguments of `imghash speed`.
#[derive(clap::Args)]
pub struct SpeedArgs {
    /// Algorithm to measure (repeatable or comma-separated; default: every one).
    #[arg(short, long = "algorithm", value_name = "ALG")]
    pub algorithms: Vec<String>,
    /// Bytes hashed per measurement, with a unit (at most 1GiB): the size of the in-memory
    /// input and of the temporary file.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub size: String,
    /// Measure the file rate on this file (or block device) instead of a temporary file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub options: HashOptions,
}

/// One algorithm's measurements.
struct Row {
    algorithm: Algorithm,
    memory: f64,
    file: f64,
    strategy: String,
    core: String,
}

/// Runs `imghash speed`.
pub fn run(args: SpeedArgs) -> anyhow::Result<ExitCode> {
    let algorithms = if args.algorithms.is_empty() {
        Algorithm::ALL.to_vec()
    } else {
        parse_algorithms(&args.algorithms)?
    };
    let size = parse_chunk_size(&args.size).with_context(|| format!("--size {}", args.size))?;
    // The temporary file lives as long as the measurements; tempfile creates it 0600.
    let temporary;
    let (path, temporary_file) = match &args.file {
        Some(path) => (path.clone(), false),
        None => {
            temporary = write_temporary(size)?;
            (temporary.path().to_path_buf(), true)
        }
    };
    let memory = PatternSource::new(size);
    let mut rows = Vec::new();
    for algorithm in algorithms {
        let job = args
            .options
            .configure(HashJob::builder([algorithm]))?
            .build()?;
        let in_memory = job.hash_source(&memory)?;
        let from_file = job
            .hash_file(&path)
            .with_context(|| format!("cannot hash {}", path.display()))?;
        let choice = job.choice(Some(from_file.bytes))?;
        rows.push(Row {
            algorithm,
            memory: rate(in_memory.bytes, in_memory.elapsed),
            file: rate(from_file.bytes, from_file.elapsed),
            // What the file's run did: a local file may be probed and mapped.
            strategy: from_file.strategy.to_string(),
            core: choice.cores[0].1.to_string(),
        });
    }
    let file_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let file = FileLine {
        path: path.display().to_string(),
        len: file_len,
        temporary: temporary_file,
    };
    let out = if args.json {
        json(&rows, &file)
    } else {
        table(&rows, &file, size)
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

struct FileLine {
    path: String,
    len: u64,
    temporary: bool,
}

/// A temporary file of `size` bytes of the in-memory pattern, read back once so that
/// the file rate is the page cache's, as for an image hashed twice.
fn write_temporary(size: u64) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("imghash-speed-")
        .tempfile()
        .context("cannot create a temporary file (set TMPDIR, or give --file)")?;
    let pattern = PatternSource::new(size);
    let mut buf = vec![0; (1 << 20).min(size as usize)];
    let mut offset = 0;
    while offset < pattern.len() {
        let n = pattern.read_at(&mut buf, offset)?;
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", file.path().display()))?;
        offset += n as u64;
    }
    file.flush()?;
    Ok(file)
}

/// Megabytes (10^6 bytes) per second.
fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
}

fn table(rows: &[Row], file: &FileLine, size: u64) -> String {
    let (model, cores) = cpu();
    let kind = if file.temporary {
        "temporary, in the page cache"
    } else {
        "given"
    };
    let mut out = format!(
        "cpu: {model}, {cores} cores\nmemory: {} of a repeated 1MiB pattern\nfile: {} ({} bytes, {kind})\n\n",
        format_size(size),
        file.path,
        file.len,
    );
    out += &format!(
        "{:<20} {:>11} {:>11}  {:<11} {}\n",
        "algorithm", "memory MB/s", "file MB/s", "strategy", "core"
    );
    for row in rows {
        out += &format!(
            "{:<20} {:>11.0} {:>11.0}  {:<11} {}\n",
            row.algorithm.name(),
            row.memory,
            row.file,
            row.strategy,
            row.core
        );
    }
    out
}

fn json(rows: &[Row], file: &FileLine) -> String {
    let (model, cores) = cpu();
    let algorithms: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "algorithm": row.algorithm.name(),
                "memory_mb_per_s": row.memory,
                "file_mb_per_s": row.file,
                "strategy": row.strategy,
                "core": row.core,
            })
        })
        .collect();
    let value = serde_json::json!({
        "cpu": model,
        "cores": cores,
        "file": { "path": file.path, "bytes": file.len, "temporary": file.temporary },
        "algorithms": algorithms,
    });
    format!("{value}\n")
}
