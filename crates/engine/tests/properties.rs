//! Property tests: the parsers never panic and accept exactly their documented forms, and
//! no way of splitting the input into reads changes a digest.

use std::io::Read;

use imghash_engine::{parse_chunk_size, Algorithm, HashJob, GIB};
use proptest::prelude::*;

/// Hands out `data` in reads of the given sizes (cycled), like a pipe or socket would.
struct Trickle<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn values(job: &HashJob, reader: &mut dyn Read) -> Vec<String> {
    job.hash_reader(reader)
        .unwrap()
        .digests
        .iter()
        .map(|d| d.value())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_into_reads_gives_the_same_digests(
        data in prop::collection::vec(any::<u8>(), 0..20_000),
        sizes in prop::collection::vec(1usize..5000, 1..8),
        block in 1usize..9000,
    ) {
        let settings = HashJob::builder([
            Algorithm::Md5, Algorithm::Sha256, Algorithm::Xxh3, Algorithm::Blake3,
            Algorithm::MerkleSha256, Algorithm::BlkhashSha256, Algorithm::S3Etag,
            Algorithm::S3Sha256Composite,
        ]).chunk_size(1024).threads(2);
        let whole = values(&settings.build().unwrap(), &mut data.as_slice());
        let mut trickle = Trickle { data: &data, sizes, next: 0 };
        let job = settings.block_size(block).build().unwrap();
        prop_assert_eq!(values(&job, &mut trickle), whole);
    }

    #[test]
    fn chunk_sizes_with_a_unit_parse_to_their_value(n in 1u64..5000, unit in 0usize..7) {
        let (name, multiplier) = [("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
            ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000)][unit];
        let text = format!("{n}{name}");
        match parse_chunk_size(&text) {
            Ok(size) => prop_assert_eq!(size, n * multiplier),
            Err(e) => {
                prop_assert!(n * multiplier > GIB, "{} rejected: {}", text, e);
                prop_assert!(e.to_string().contains(&text));
            }
        }
    }

    #[test]
    fn bare_numbers_are_never_chunk_sizes(n in any::<u64>()) {
        prop_assert!(parse_chunk_size(&n.to_string()).is_err());
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in "\\PC*") {
        let _ = parse_chunk_size(&text);
        if let Ok(alg) = text.parse::<Algorithm>() {
            prop_assert!(alg.name().eq_ignore_ascii_case(text.trim()));
        }
    }

    #[test]
    fn algorithm_names_parse_in_any_case(index in 0usize..15, mask in any::<u64>()) {
        let alg = Algorithm::ALL[index];
        let mixed: String = alg.name().chars().enumerate()
            .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(mixed.parse::<Algorithm>().unwrap(), alg);
    }
}
