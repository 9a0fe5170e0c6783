//! `imghash check`: verify files against checksum lists.
//!
//! Reads the GNU format of md5sum/sha*sum/b3sum/xxhsum (`<hex>  <name>`, `*` for binary
//! mode, a leading `\` for escaped names) and the BSD tagged format (`TAG (<name>) = <value>`,
//! including imghash's `MERKLE-SHA256/4MiB` tags). An untagged line names no algorithm, so
//! its length decides: 32 hex digits may be MD5 or XXH128, 64 SHA-256 or BLAKE3, 16 XXH64 or
//! XXH3. All candidates are computed in the same single read and the line matches if one
//! of them does; `-a` pins the algorithm instead.

use std::io::{BufRead, BufReader, Read};
use std::process::ExitCode;

use anyhow::Context as _;
use imghash_engine::{parse_chunk_size, Algorithm, HashJob};

use super::{hash_one, parse_algorithms, unescape_name, HashOptions, EXIT_FAILURE};

/// Arguments of `imghash check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The algorithm of untagged lines, instead of guessing from the digest length.
    #[arg(short, long = "algorithm", value_name = "ALG")]
    pub algorithm: Option<String>,
    /// Chunk size for untagged lines of a chunked `-a` algorithm.
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,
    /// Print nothing for files that verify.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub options: HashOptions,
    /// Checksum lists; `-` or none reads standard input.
    pub lists: Vec<String>,
}

/// One line of a checksum list.
#[derive(Debug, PartialEq)]
struct Entry {
    /// Algorithms the value may be of, with their chunk sizes.
    candidates: Vec<(Algorithm, Option<u64>)>,
    expected: String,
    name: String,
}

/// What untagged lines are, when `-a` says.
struct Pinned {
    algorithm: Algorithm,
    chunk_size: Option<u64>,
}

/// Runs `imghash check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let pinned = match &args.algorithm {
        Some(name) => {
            let algorithm = parse_algorithms(std::slice::from_ref(name))?[0];
            let chunk_size = match &args.chunk_size {
                Some(text) => Some(parse_chunk_size(text)?),
                None => algorithm.default_chunk_size(),
            };
            Some(Pinned {
                algorithm,
                chunk_size,
            })
        }
        None => None,
    };
    let pool = args.options.pool()?;
    let lists = if args.lists.is_empty() {
        vec!["-".to_string()]
    } else {
        args.lists.clone()
    };
    let mut tally = Tally::default();
    for list in &lists {
        let reader: Box<dyn Read> = if list == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(list).with_context(|| format!("cannot open {list}"))?)
        };
        for line in BufReader::new(reader).lines() {
            let line = line.with_context(|| format!("cannot read {list}"))?;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some(entry) = parse_line(&line, pinned.as_ref()) else {
                tally.malformed += 1;
                continue;
            };
            verify(&entry, &pool, &args, &mut tally);
        }
    }
    Ok(tally.finish())
}

fn verify(
    entry: &Entry,
    pool: &std::sync::Arc<rayon::ThreadPool>,
    args: &CheckArgs,
    tally: &mut Tally,
) {
    tally.checked += 1;
    // Chunked candidates share one job only if they agree on the chunk size; a list
    // names one algorithm a line, so in practice there is one candidate or two standard ones.
    let mut job = HashJob::builder(entry.candidates.iter().map(|c| c.0)).pool(pool.clone());
    if let Some(size) = entry.candidates.iter().find_map(|c| c.1) {
        if entry
            .candidates
            .iter()
            .any(|c| c.0.has_selectable_chunk_size())
        {
            job = job.chunk_size(size);
        }
    }
    let outcome = job
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|job| hash_one(&job, &entry.name, &args.options));
    match outcome {
        Ok(report) => {
            let matched = report.digests.iter().any(|d| {
                let value = d.value();
                value == entry.expected
                    || value.eq_ignore_ascii_case(&entry.expected) && is_hex(&value)
            });
            if matched {
                if !args.quiet {
                    println!("{}: OK", entry.name);
                }
            } else {
                tally.mismatched += 1;
                println!("{}: FAILED", entry.name);
            }
        }
        Err(err) => {
            tally.unreadable += 1;
            eprintln!("imghash: {}: {err:#}", entry.name);
            println!("{}: FAILED open or read", entry.name);
        }
    }
}

fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses one list line, tagged or untagged; `None` if it is neither.
fn parse_line(line: &str, pinned: Option<&Pinned>) -> Option<Entry> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let unescape = |name: &str| {
        if escaped {
            unescape_name(name)
        } else {
            name.to_string()
        }
    };
    if let Some(entry) = parse_tagged(line) {
        return Some(Entry {
            name: unescape(&entry.name),
            ..entry
        });
    }
    // GNU: "<value> <mode><name>", mode ' ' (text) or '*' (binary).
    let (value, rest) = line.split_once(' ')?;
    let name = rest.strip_prefix([' ', '*'])?;
    if name.is_empty() {
        return None;
    }
    // xxhsum writes XXH3 lines with this prefix in its GNU format.
    let (value, xxh3_prefixed) = match value.strip_prefix("XXH3_") {
        Some(v) => (v, true),
        None => (value, false),
    };
    let candidates = match pinned {
        Some(p) => vec![(p.algorithm, p.chunk_size)],
        None if !is_hex(value) => return None,
        None if xxh3_prefixed => vec![(Algorithm::Xxh3, None)],
        None => untagged_candidates(value.len())?
            .iter()
            .map(|&a| (a, None))
            .collect(),
    };
    Some(Entry {
        candidates,
        expected: value.to_string(),
        name: unescape(name),
    })
}

/// Algorithms whose hex digest has `len` digits.
fn untagged_candidates(len: usize) -> Option<&'static [Algorithm]> {
    Some(match len {
        16 => &[Algorithm::Xxh64, Algorithm::Xxh3],
        32 => &[Algorithm::Md5, Algorithm::Xxh128],
        40 => &[Algorithm::Sha1],
        64 => &[Algorithm::Sha256, Algorithm::Blake3],
        128 => &[Algorithm::Sha512],
        _ => return None,
    })
}

/// BSD format: `TAG (<name>) = <value>`, TAG optionally `ALG/<chunk size>`.
fn parse_tagged(line: &str) -> Option<Entry> {
    let (tag, rest) = line.split_once(" (")?;
    let (name, value) = rest.rsplit_once(") = ")?;
    let (algorithm, chunk_size) = match tag.split_once('/') {
        Some((alg, size)) => (
            alg.parse::<Algorithm>().ok()?,
            Some(parse_chunk_size(size).ok()?),
        ),
        None => {
            let algorithm = tag.parse::<Algorithm>().ok()?;
            (algorithm, algorithm.default_chunk_size())
        }
    };
    Some(Entry {
        candidates: vec![(algorithm, chunk_size)],
        expected: value.trim().to_string(),
        name: name.to_string(),
    })
}

/// Counts for the closing warnings and the exit status.
#[derive(Default)]
struct Tally {
    checked: usize,
    mismatched: usize,
    unreadable: usize,
    malformed: usize,
}

impl Tally {
    fn finish(self) -> ExitCode {
        let plural = |n: usize, one: &str, many: &str| {
            if n == 1 {
                one.to_string()
            } else {
                many.to_string()
            }
        };
        if self.malformed > 0 {
            eprintln!(
                "imghash: WARNING: {} {} improperly formatted",
                self.malformed,
                plural(self.malformed, "line is", "lines are")
            );
        }
        if self.unreadable > 0 {
            eprintln!(
                "imghash: WARNING: {} listed {} could not be read",
                self.unreadable,
                plural(self.unreadable, "file", "files")
            );
        }
        if self.mismatched > 0 {
            eprintln!(
                "imghash: WARNING: {} computed {} did NOT match",
                self.mismatched,
                plural(self.mismatched, "checksum", "checksums")
            );
        }
        if self.checked == 0 {
            eprintln!("imghash: no properly formatted checksum lines found");
            return ExitCode::from(EXIT_FAILURE);
        }
        if self.mismatched + self.unreadable > 0 {
            ExitCode::from(EXIT_FAILURE)
        } else {
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_lines_guess_candidates_from_length() {
        let md5 = parse_line("900150983cd24fb0d6963f7d28e17f72  a b.txt", None).unwrap();
        assert_eq!(
            md5.candidates,
            vec![(Algorithm::Md5, None), (Algorithm::Xxh128, None)]
        );
        assert_eq!(md5.name, "a b.txt");
        let binary = parse_line("44bc2cf5ad770999 *x.img", None).unwrap();
        assert_eq!(binary.name, "x.img");
        assert_eq!(binary.candidates[0].0, Algorithm::Xxh64);
    }

    #[test]
    fn tagged_lines_carry_algorithm_and_chunk_size() {
        let e = parse_line("MERKLE-SHA256/1MiB (disk.img) = ab", None).unwrap();
        assert_eq!(e.candidates, vec![(Algorithm::MerkleSha256, Some(1 << 20))]);
        let e = parse_line("XXH3 (a (1).txt) = 78af5f94892f3950", None).unwrap();
        assert_eq!(e.name, "a (1).txt");
        assert_eq!(e.candidates, vec![(Algorithm::Xxh3, None)]);
    }

    #[test]
    fn escaped_names_are_unescaped() {
        let e = parse_line("\\d41d8cd98f00b204e9800998ecf8427e  new\\nline", None).unwrap();
        assert_eq!(e.name, "new\nline");
    }

    #[test]
    fn garbage_is_not_a_checksum_line() {
        for bad in [
            "hello",
            "zz  file",
            "abc  file",
            "MD4 (x) = 00",
            "d41d8cd98f00b204e9800998ecf8427e  ",
        ] {
            assert_eq!(parse_line(bad, None), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_line_never_panics(line in "\\PC*") {
            let _ = parse_line(&line, None);
        }

        #[test]
        fn gnu_lines_round_trip(
            digest in "[0-9a-f]{64}",
            name in "[^\\n\\r\\\\]{1,40}",
            binary in proptest::bool::ANY,
        ) {
            let mode = if binary { '*' } else { ' ' };
            let entry = parse_line(&format!("{digest} {mode}{name}"), None).unwrap();
            proptest::prop_assert_eq!(entry.expected, digest);
            proptest::prop_assert_eq!(entry.name, name);
            proptest::prop_assert_eq!(entry.candidates.len(), 2);
        }
    }
}
