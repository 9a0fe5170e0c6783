//! Crafted headers and tables never make the content reader panic: mutated qcow2 and VMDK
//! images either hash or are refused with an error.

use std::sync::OnceLock;

use imghash_engine::{Algorithm, ContentSource, HashJob, Source};
use proptest::prelude::*;

use super::Work;

/// Small images with every kind of entry: data, zeros, compressed clusters, a backing
/// file, a streamOptimized VMDK. Made once; the work directory lives for the whole run.
fn seeds() -> &'static (Work, Vec<Vec<u8>>) {
    static SEEDS: OnceLock<(Work, Vec<Vec<u8>>)> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let work = Work::new();
        work.noise_file("disk.raw", 300_000, &[(0, 40_000), (150_000, 9000)]);
        work.qemu_io("disk.raw", "raw", &["write -P 0x41 60000 80000"]);
        work.qemu_img("convert -O qcow2 -o cluster_size=4096 disk.raw plain.qcow2");
        work.qemu_io(
            "plain.qcow2",
            "qcow2",
            &["write -z 0 8192", "discard 16384 4096"],
        );
        work.qemu_img("convert -c -O qcow2 -o cluster_size=4096 disk.raw packed.qcow2");
        work.qemu_img(
            "create -f qcow2 -o extended_l2=on,cluster_size=16384 -b plain.qcow2 -F qcow2 \
             sub.qcow2",
        );
        work.qemu_io(
            "sub.qcow2",
            "qcow2",
            &["write -P 0x42 1024 512", "write -z 8192 1024"],
        );
        work.qemu_img("convert -O vmdk -o subformat=streamOptimized disk.raw stream.vmdk");
        work.qemu_img("convert -O vmdk disk.raw sparse.vmdk");
        let images = [
            "plain.qcow2",
            "packed.qcow2",
            "sub.qcow2",
            "stream.vmdk",
            "sparse.vmdk",
        ]
        .iter()
        .map(|name| std::fs::read(work.path(name)).unwrap())
        .collect();
        (work, images)
    })
}

/// Opens and hashes (or, if it claims to be huge, samples) `bytes` as an image next to
/// the seeds, so that a backing file name still resolves.
fn exercise(bytes: &[u8], case: u64) {
    let (work, _) = seeds();
    let path = work.path(&format!("mutant-{}-{case}.img", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    if let Ok(source) = ContentSource::open(&path, None) {
        if source.len() <= 64 << 20 {
            let job = HashJob::builder([Algorithm::Md5, Algorithm::MerkleSha256]).threads(2);
            let _ = job.build().unwrap().hash_source(&source);
        } else {
            let mut buf = vec![0; 65536];
            for offset in [0, source.len() / 2, source.len() - 1] {
                let _ = source.read_at(&mut buf, offset);
                let _ = source.next_data(offset);
            }
        }
    }
    std::fs::remove_file(&path).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Mutations concentrated where the metadata lies: the header cluster and the
    /// first tables (qemu-img puts them at the start), plus anywhere in the file.
    #[test]
    fn mutated_images_never_panic(
        seed in 0usize..5,
        edits in prop::collection::vec((0.0f64..1.0, any::<u8>(), any::<bool>()), 1..12),
        case in any::<u64>(),
    ) {
        let mut bytes = seeds().1[seed].clone();
        for (position, value, near_start) in edits {
            let span = if near_start { bytes.len().min(3 * 4096) } else { bytes.len() };
            let at = ((position * span as f64) as usize).min(bytes.len() - 1);
            bytes[at] = value;
        }
        exercise(&bytes, case);
    }

    /// Truncation anywhere: tables and data cut short.
    #[test]
    fn truncated_images_never_panic(seed in 0usize..5, keep in 0.0f64..1.0, case in any::<u64>()) {
        let bytes = &seeds().1[seed];
        exercise(&bytes[..(keep * bytes.len() as f64) as usize], case);
    }
}
