//! Images the content mode cannot represent faithfully are refused with a message naming
//! the problem, never hashed into a wrong digest.

use std::os::unix::fs::FileExt;

use imghash_engine::{Algorithm, ContentSource, Error, HashJob};

use super::Work;

/// The error opening and hashing `image` gives, as one line.
fn refusal(work: &Work, image: &str) -> String {
    let outcome = ContentSource::open(work.path(image), None)
        .and_then(|source| HashJob::new([Algorithm::Md5])?.hash_source(&source));
    let error = outcome.expect_err(image);
    assert!(
        matches!(error, Error::Image { .. } | Error::Read { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    message
}

fn assert_refused(work: &Work, image: &str, expected: &str) {
    let message = refusal(work, image);
    assert!(
        message.contains(expected),
        "{image}: {message:?} lacks {expected:?}"
    );
}

fn be64_at(work: &Work, image: &str, offset: u64) -> u64 {
    let mut bytes = [0; 8];
    std::fs::File::open(work.path(image))
        .unwrap()
        .read_exact_at(&mut bytes, offset)
        .unwrap();
    u64::from_be_bytes(bytes)
}

fn patch(work: &Work, image: &str, offset: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(work.path(image))
        .unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// A 64 KiB-cluster qcow2 with data in its first cluster; returns (L1 offset, L2 offset).
fn small_qcow2(work: &Work, image: &str, size: &str) -> (u64, u64) {
    work.qemu_img(&format!("create -f qcow2 {image} {size}"));
    work.qemu_io(image, "qcow2", &["write -P 0x61 0 65536"]);
    let l1 = be64_at(work, image, 40);
    let l2 = be64_at(work, image, l1) & 0x00ff_ffff_ffff_fe00;
    (l1, l2)
}

#[test]
fn truncated_tables_are_refused() {
    let work = Work::new();
    let (l1, _) = small_qcow2(&work, "l1.qcow2", "1M");
    std::fs::File::options()
        .write(true)
        .open(work.path("l1.qcow2"))
        .unwrap()
        .set_len(l1 + 4)
        .unwrap();
    assert_refused(&work, "l1.qcow2", "L1 table");
    let (_, l2) = small_qcow2(&work, "l2.qcow2", "1M");
    std::fs::File::options()
        .write(true)
        .open(work.path("l2.qcow2"))
        .unwrap()
        .set_len(l2 + 100)
        .unwrap();
    assert_refused(&work, "l2.qcow2", "past the end of the file");
}

#[test]
fn l2_entries_past_the_end_of_the_file_or_into_metadata_are_refused() {
    let work = Work::new();
    let (_, l2) = small_qcow2(&work, "far.qcow2", "1M");
    patch(
        &work,
        "far.qcow2",
        l2,
        &(0x8000_0000_0000_0000u64 | 1 << 40).to_be_bytes(),
    );
    assert_refused(&work, "far.qcow2", "lies past the end");
    let (l1, l2) = small_qcow2(&work, "meta.qcow2", "1M");
    patch(
        &work,
        "meta.qcow2",
        l2,
        &(0x8000_0000_0000_0000u64 | l1).to_be_bytes(),
    );
    assert_refused(&work, "meta.qcow2", "overlaps the image's metadata");
    // Two L1 entries sharing one L2 table (64 KiB clusters: one entry maps 512 MiB).
    let (l1, l2) = small_qcow2(&work, "shared.qcow2", "1G");
    patch(
        &work,
        "shared.qcow2",
        l1 + 8,
        &(0x8000_0000_0000_0000u64 | l2).to_be_bytes(),
    );
    assert_refused(&work, "shared.qcow2", "same L2 table");
}

#[test]
fn backing_chain_loops_and_missing_backing_files_are_refused() {
    let work = Work::new();
    work.qemu_img("create -f qcow2 b.qcow2 1M");
    work.qemu_img("create -f qcow2 -b b.qcow2 -F qcow2 a.qcow2");
    work.qemu_img("rebase -u -b a.qcow2 -F qcow2 b.qcow2");
    assert_refused(&work, "a.qcow2", "loops back to");
    work.qemu_img("create -f qcow2 self.qcow2 1M");
    work.qemu_img("rebase -u -b self.qcow2 -F qcow2 self.qcow2");
    assert_refused(&work, "self.qcow2", "loops back to");
    work.qemu_img("create -f qcow2 gone.qcow2 1M");
    work.qemu_img("create -f qcow2 -b gone.qcow2 -F qcow2 orphan.qcow2");
    std::fs::remove_file(work.path("gone.qcow2")).unwrap();
    assert_refused(&work, "orphan.qcow2", "backing file");
}

#[test]
fn encrypted_qcow2_is_refused() {
    let work = Work::new();
    work.qemu_img(
        "create --object secret,id=sec0,data=123456 -f qcow2 \
         -o encrypt.format=luks,encrypt.key-secret=sec0 enc.qcow2 1M",
    );
    assert_refused(&work, "enc.qcow2", "encrypted");
}

#[test]
fn absurd_sizes_are_refused() {
    let work = Work::new();
    small_qcow2(&work, "absurd.qcow2", "1M");
    patch(&work, "absurd.qcow2", 24, &(1u64 << 62).to_be_bytes());
    assert_refused(&work, "absurd.qcow2", "absurd");
    small_qcow2(&work, "big.qcow2", "1M");
    patch(&work, "big.qcow2", 24, &(1u64 << 50).to_be_bytes());
    assert_refused(&work, "big.qcow2", "too small for virtual size");
}

#[test]
fn unsupported_formats_are_refused_by_name() {
    let work = Work::new();
    work.qemu_img("create -f vhdx disk.vhdx 1M");
    assert_refused(&work, "disk.vhdx", "VHDX");
    work.qemu_img("create -f vmdk -o subformat=monolithicFlat flat.vmdk 1M");
    assert_refused(&work, "flat.vmdk", "descriptor");
    work.qemu_img("create -f qcow2 -o compat=0.10 v1.qcow2 1M");
    patch(&work, "v1.qcow2", 4, &1u32.to_be_bytes());
    assert_refused(&work, "v1.qcow2", "version 1");
}

#[test]
fn a_corrupt_compressed_cluster_fails_the_hash() {
    let work = Work::new();
    let raw = work.noise_file("disk.raw", 1 << 20, &[]);
    work.qemu_io(raw.to_str().unwrap(), "raw", &["write -P 0x41 0 1M"]);
    work.qemu_img("convert -c -O qcow2 disk.raw c.qcow2");
    let l1 = be64_at(&work, "c.qcow2", 40);
    let l2 = be64_at(&work, "c.qcow2", l1) & 0x00ff_ffff_ffff_fe00;
    let entry = be64_at(&work, "c.qcow2", l2);
    let data = entry & ((1 << 54) - 1);
    patch(&work, "c.qcow2", data, &[0xff; 64]);
    assert_refused(&work, "c.qcow2", "compressed cluster");
}
