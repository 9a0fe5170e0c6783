//! Chunk sizes written with a unit: `65536B`, `64KiB`, `4MiB`, `8MB`, `1GiB`.

use crate::error::Error;

/// One kibibyte.
pub const KIB: u64 = 1 << 10;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// One gibibyte.
pub const GIB: u64 = 1 << 30;

/// The smallest chunk size [`parse_chunk_size`] accepts (64 KiB): blkhash's block size
/// (`blksum`'s default), the smallest any construction here uses by default. Every chunk
/// costs a digest finalisation, a step of the aggregation and a manifest line, so smaller
/// chunks only make a job slower and its manifest larger (issue #11: 1-byte chunks turned a
/// 4 GiB sparse image into 4 billion chunks). S3's 5 MiB minimum part was the other
/// candidate, but it is a rule for uploads, and it would forbid the 64 KiB and 1 MiB chunks
/// that blkhash and Merkle users choose.
pub const MIN_CHUNK_SIZE: u64 = 64 * KIB;

/// The largest chunk size accepted (1 GiB): larger chunks would defeat parallelism and
/// make a single chunk's hashing uncancellable for seconds.
pub const MAX_CHUNK_SIZE: u64 = GIB;

const UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", KIB),
    ("MiB", MIB),
    ("GiB", GIB),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

const ACCEPTED_FORMS: &str = "a number with a unit: 65536B, 64KiB, 4MiB, 8MB, 1GiB";

/// Parses a chunk size with its unit (binary `KiB`/`MiB`/`GiB`, decimal `KB`/`MB`/`GB`, or
/// `B`; unit letters are case-insensitive). A bare number is rejected as ambiguous.
/// The size must be at least [`MIN_CHUNK_SIZE`] (64 KiB) and at most 1 GiB.
///
/// ```
/// assert_eq!(imghash_engine::parse_chunk_size("64KiB").unwrap(), 65536);
/// assert_eq!(imghash_engine::parse_chunk_size("8MB").unwrap(), 8_000_000);
/// assert!(imghash_engine::parse_chunk_size("4096").is_err());
/// ```
pub fn parse_chunk_size(text: &str) -> Result<u64, Error> {
    let invalid = |reason: String| Error::InvalidChunkSize {
        value: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(invalid(format!("expected {ACCEPTED_FORMS}")));
    }
    if unit.is_empty() {
        return Err(invalid(format!(
            "a bare number is ambiguous; write {ACCEPTED_FORMS}"
        )));
    }
    let multiplier = UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, m)| m)
        .ok_or_else(|| invalid(format!("unknown unit \"{unit}\"; write {ACCEPTED_FORMS}")))?;
    let size = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|&n| n <= MAX_CHUNK_SIZE)
        .ok_or_else(|| invalid("must be at most 1GiB".to_string()))?;
    if size == 0 {
        return Err(invalid("must be greater than zero".to_string()));
    }
    if size < MIN_CHUNK_SIZE {
        return Err(invalid(format!(
            "must be at least {}, blkhash's block size and the smallest any construction \
             uses by default: smaller chunks only add work per chunk",
            format_size(MIN_CHUNK_SIZE)
        )));
    }
    Ok(size)
}

/// Formats a size with the largest binary unit that divides it exactly (`4MiB`, `1000B`).
pub fn format_size(size: u64) -> String {
    for (name, unit) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
        if size >= unit && size % unit == 0 {
            return format!("{}{name}", size / unit);
        }
    }
    format!("{size}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_units_mean_what_their_names_say() {
        assert_eq!(parse_chunk_size("65536B").unwrap(), 65_536);
        assert_eq!(parse_chunk_size("64KiB").unwrap(), 65_536);
        assert_eq!(parse_chunk_size("4MiB").unwrap(), 4_194_304);
        assert_eq!(parse_chunk_size("4mib").unwrap(), 4_194_304);
        assert_eq!(parse_chunk_size("8MB").unwrap(), 8_000_000);
        assert_eq!(parse_chunk_size("1GiB").unwrap(), 1_073_741_824);
        assert_eq!(parse_chunk_size(" 5 MiB ").unwrap(), 5 * MIB);
    }

    #[test]
    fn bad_sizes_are_rejected_naming_the_value() {
        for bad in [
            "4096",
            "0MiB",
            "1B",
            "65535B",
            "64KB",
            "2GiB",
            "-1MiB",
            "MiB",
            "4XB",
            "",
            "1.5MiB",
            "99999999999999999999GiB",
        ] {
            let err = parse_chunk_size(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
        assert!(parse_chunk_size("4096")
            .unwrap_err()
            .to_string()
            .contains("4MiB"));
    }

    #[test]
    fn sizes_below_the_floor_name_the_floor() {
        let err = parse_chunk_size("512B").unwrap_err().to_string();
        assert!(
            err.contains("\"512B\"") && err.contains("at least 64KiB"),
            "{err}"
        );
        assert_eq!(parse_chunk_size("64KiB").unwrap(), MIN_CHUNK_SIZE);
    }

    #[test]
    fn format_size_uses_the_exact_largest_unit() {
        assert_eq!(format_size(4 * MIB), "4MiB");
        assert_eq!(format_size(64 * KIB), "64KiB");
        assert_eq!(format_size(8_000_000), "8000000B");
        assert_eq!(format_size(GIB), "1GiB");
    }
}
