//! Every kind of image the content mode reads gives the disk `qemu-img convert` writes out.

use imghash_engine::{Algorithm, ContentSource, HashJob, ImageFormat, Source, MIB};

use super::{assert_same_disk, reference, Work};

/// 3 MiB + 1536 bytes: not a multiple of any cluster size from 4 KiB up.
const ODD_SIZE: u64 = 3 * MIB + 1536;

/// A raw disk of [`ODD_SIZE`] with random data at the start, across 1 MiB and at the end.
fn disk(work: &Work, name: &str) -> String {
    work.noise_file(
        name,
        ODD_SIZE,
        &[(0, 100_000), (MIB + 333, 70_000), (ODD_SIZE - 5000, 5000)],
    );
    name.to_string()
}

/// Random data, zeros written explicitly over data, a discarded range, a pattern written
/// into a hole, a write past the last whole cluster.
const CHANGES: [&str; 5] = [
    "write -z 20000 50000",
    "discard 1048576 65536",
    "write -P 0x5a 2097152 12345",
    "write -z -u 0 4096",
    "write -P 0x33 3145728 1536",
];

#[test]
fn qcow2_of_every_cluster_size_matches_qemu_img_convert() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    for cluster_size in ["512", "4096", "65536", "2097152"] {
        let image = format!("c{cluster_size}.qcow2");
        let options = format!("cluster_size={cluster_size}");
        work.qemu_img(&format!("convert -O qcow2 -o {options} {raw} {image}"));
        work.qemu_io(&image, "qcow2", &CHANGES);
        assert_same_disk(&work, &image);
    }
}

#[test]
fn qcow2_version_2_matches_qemu_img_convert() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_img(&format!("convert -O qcow2 -o compat=0.10 {raw} v2.qcow2"));
    work.qemu_io("v2.qcow2", "qcow2", &CHANGES);
    assert_same_disk(&work, "v2.qcow2");
}

#[test]
fn qcow2_with_extended_l2_subclusters_over_a_backing_file() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_img(&format!("convert -O qcow2 {raw} base.qcow2"));
    let options = "extended_l2=on,cluster_size=65536";
    for (image, backing) in [("top.qcow2", Some("base.qcow2")), ("alone.qcow2", None)] {
        let size = ODD_SIZE.to_string();
        match backing {
            Some(base) => work.qemu_img(&format!(
                "create -f qcow2 -o {options} -b {base} -F qcow2 {image}"
            )),
            None => work.qemu_img(&format!("create -f qcow2 -o {options} {image} {size}")),
        }
        // Subclusters are 2 KiB: these land in parts of clusters, leaving the rest to the
        // backing file.
        work.qemu_io(
            image,
            "qcow2",
            &[
                "write -P 0x11 4096 2048",
                "write -z 10240 4096",
                "write -P 0x22 70000 100",
                "discard 131072 2048",
                "write -P 0x44 1048576 65536",
                "write -z 1050624 2048",
            ],
        );
        assert_same_disk(&work, image);
    }
}

#[test]
fn three_deep_backing_chain_with_a_larger_top() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_img(&format!(
        "convert -O qcow2 -o cluster_size=4096 {raw} base.qcow2"
    ));
    work.qemu_img("create -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2");
    work.qemu_io(
        "mid.qcow2",
        "qcow2",
        &["write -P 0x61 65536 200000", "write -z 0 8192"],
    );
    let top_size = (ODD_SIZE + 2 * MIB).to_string();
    work.qemu_img(&format!(
        "create -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 {top_size}"
    ));
    work.qemu_io(
        "top.qcow2",
        "qcow2",
        &[
            "write -P 0x62 100000 5000",
            "write -z 1048576 100000",
            "write -P 0x63 4194304 4096",
        ],
    );
    assert_same_disk(&work, "top.qcow2");
    let content = ContentSource::open(work.path("top.qcow2"), None).unwrap();
    assert_eq!(content.chain().len(), 3);
}

#[test]
fn qcow2_over_a_raw_backing_file() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_img(&format!("create -f qcow2 -b {raw} -F raw over.qcow2"));
    work.qemu_io(
        "over.qcow2",
        "qcow2",
        &["write -P 0x70 30000 70000", "write -z 1048576 4096"],
    );
    assert_same_disk(&work, "over.qcow2");
}

#[test]
fn compressed_qcow2_matches_qemu_img_convert() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    // Compressible runs next to random data.
    work.qemu_io(
        &raw,
        "raw",
        &["write -P 0x41 200000 300000", "write -P 0x42 2097152 65536"],
    );
    work.qemu_img(&format!("convert -c -O qcow2 {raw} deflate.qcow2"));
    work.qemu_img(&format!(
        "convert -c -O qcow2 -o cluster_size=4096 {raw} small.qcow2"
    ));
    // A compressed cluster partly overwritten becomes an ordinary one.
    work.qemu_io("small.qcow2", "qcow2", &["write -P 0x43 8192 100"]);
    assert_same_disk(&work, "deflate.qcow2");
    assert_same_disk(&work, "small.qcow2");
}

#[test]
fn zstd_compressed_qcow2_matches_qemu_img_convert() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_io(&raw, "raw", &["write -P 0x41 200000 300000"]);
    work.qemu_img(&format!(
        "convert -c -O qcow2 -o compression_type=zstd {raw} zstd.qcow2"
    ));
    assert_same_disk(&work, "zstd.qcow2");
}

#[test]
fn qcow2_with_an_external_data_file() {
    let work = Work::new();
    for (image, options) in [
        ("raw-data.qcow2", "data_file=raw-data.bin,data_file_raw=on"),
        ("data.qcow2", "data_file=data.bin"),
    ] {
        work.qemu_img(&format!("create -f qcow2 -o {options} {image} {ODD_SIZE}"));
        work.qemu_io(
            image,
            "qcow2",
            &[
                "write -P 0x51 0 100000",
                "write -P 0x52 2097152 12345",
                "write -z 4096 4096",
            ],
        );
        assert_same_disk(&work, image);
    }
}

#[test]
fn vmdk_sparse_and_stream_optimized_match_qemu_img_convert() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_io(&raw, "raw", &["write -P 0x41 200000 300000"]);
    for subformat in ["monolithicSparse", "streamOptimized"] {
        let image = format!("{subformat}.vmdk");
        let options = format!("subformat={subformat}");
        work.qemu_img(&format!("convert -O vmdk -o {options} {raw} {image}"));
        assert_same_disk(&work, &image);
    }
    work.qemu_img(&format!(
        "create -f vmdk -o zeroed_grain=on written.vmdk {ODD_SIZE}"
    ));
    work.qemu_io(
        "written.vmdk",
        "vmdk",
        &[
            "write -P 0x61 1000 100000",
            "write -z 0 65536",
            "write -P 0x62 3145728 1536",
        ],
    );
    assert_same_disk(&work, "written.vmdk");
}

#[test]
fn a_huge_sparse_qcow2_hashes_like_its_sparse_raw_disk() {
    let work = Work::new();
    work.qemu_img("create -f qcow2 huge.qcow2 16G");
    work.qemu_io(
        "huge.qcow2",
        "qcow2",
        &[
            "write -P 0x71 0 65536",
            "write -P 0x72 8589934592 100000",
            "write -P 0x73 17179803648 65536",
        ],
    );
    let raw = work.convert_to_raw("huge.qcow2");
    let content = ContentSource::open(work.path("huge.qcow2"), None).unwrap();
    let job = HashJob::builder([Algorithm::MerkleSha256, Algorithm::BlkhashSha256])
        .threads(2)
        .build()
        .unwrap();
    let expected: Vec<_> = job.hash_file(&raw).unwrap().digests;
    assert_eq!(job.hash_source(&content).unwrap().digests, expected);
    // The first data range starts where the data is, far past the first hole.
    assert_eq!(
        content.next_data(65536).unwrap().map(|r| r.start),
        Some(8589934592)
    );
}

/// The blkhash-sha256 and MD5 values of the known-answer vectors (computed outside this
/// project: blksum's published construction, hashlib) for the same disk held in a qcow2.
#[test]
fn blkhash_of_a_sparse_qcow2_equals_the_blksum_vectors() {
    let work = Work::new();
    work.qemu_img("create -f qcow2 empty.qcow2 524288");
    work.qemu_img("create -f qcow2 abc.qcow2 15M");
    work.qemu_io(
        "abc.qcow2",
        "qcow2",
        &[
            "write -P 0x41 0 5M",
            "write -P 0x42 5M 5M",
            "write -P 0x43 10M 5M",
        ],
    );
    for (image, pattern, len) in [
        ("empty.qcow2", "zero", 524288),
        ("abc.qcow2", "abc5mib", 15728640),
    ] {
        let expect = vector(pattern, len);
        let content = ContentSource::open(work.path(image), None).unwrap();
        let report = HashJob::new([Algorithm::BlkhashSha256, Algorithm::Md5])
            .unwrap()
            .hash_source(&content)
            .unwrap();
        assert_eq!(
            report.digests[0].value(),
            expect["blkhash-sha256"],
            "{image}"
        );
        assert_eq!(report.digests[1].value(), expect["md5"], "{image}");
    }
}

/// The expected values of the vectors case with this input and the default chunk size.
fn vector(pattern: &str, len: u64) -> serde_json::Map<String, serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors.json");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["input"]["pattern"] == pattern
                && c["input"]["len"] == len
                && c["chunk_size"].is_null()
        })
        .unwrap();
    case["expect"].as_object().unwrap().clone()
}

#[test]
fn format_is_detected_or_taken_as_given() {
    let work = Work::new();
    let raw = disk(&work, "disk.raw");
    work.qemu_img(&format!("convert -O qcow2 {raw} disk.qcow2"));
    let detected = ContentSource::open(work.path("disk.qcow2"), None).unwrap();
    assert_eq!(detected.format(), ImageFormat::Qcow2);
    // Told it is raw, the file's own bytes are the disk: the file checksum.
    let as_raw = ContentSource::open(work.path("disk.qcow2"), Some(ImageFormat::Raw)).unwrap();
    let md5 = HashJob::new([Algorithm::Md5])
        .unwrap()
        .hash_source(&as_raw)
        .unwrap();
    assert_eq!(
        md5.digests[0].value(),
        reference("md5sum", &work.path("disk.qcow2"))
    );
    assert_eq!("VMDK".parse::<ImageFormat>().unwrap(), ImageFormat::Vmdk);
    assert!("vhdx".parse::<ImageFormat>().is_err());
}

/// The guest size a qcow2's header declares is the "virtual-size" of `qemu-img info`,
/// read from the header alone; anything that is not a qcow2 has none.
#[test]
fn qcow2_guest_size_is_qemu_img_info_virtual_size() {
    let work = Work::new();
    work.qemu_img("create -f qcow2 odd.qcow2 1000000512");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(work.path("odd.qcow2"))
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let virtual_size = info["virtual-size"].as_u64().unwrap();
    let qcow2 = imghash_engine::FileSource::open(work.path("odd.qcow2")).unwrap();
    assert_eq!(ImageFormat::qcow2_guest_size(&qcow2), Some(virtual_size));
    let raw = disk(&work, "disk.raw");
    let raw = imghash_engine::FileSource::open(work.path(&raw)).unwrap();
    assert_eq!(ImageFormat::qcow2_guest_size(&raw), None);
}
