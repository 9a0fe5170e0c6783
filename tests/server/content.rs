//! CalculateImageHash's `mode: "content"` extension: the disk an image holds, hashed through
//! the real server. Expected values come from `qemu-img convert -O raw` followed by
//! md5sum/sha256sum; images are made with qemu-img and qemu-io.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use imghash::grpc::proto::*;
use tonic::Code;

use crate::harness::*;

/// A CalculateImageHash request in `mode`.
pub fn request_in_mode(
    image: &str,
    storage: &str,
    algorithm: &str,
    mode: &str,
) -> CalculateImageHashRequest {
    let mut request = hash_request(image, storage, algorithm);
    request.calculate_image_hash.as_mut().unwrap().mode = mode.into();
    request
}

/// The unary CalculateImageHash of `request`.
pub async fn calculate(
    server: &TestServer,
    session: &str,
    request: CalculateImageHashRequest,
) -> Result<CalculateImageHashResponse, tonic::Status> {
    let answer = server
        .images()
        .calculate_image_hash(authed(session, request))
        .await;
    answer.map(tonic::Response::into_inner)
}

/// Runs `tool args…`; panics with its stderr if it fails.
pub fn run(tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 100 MiB qcow2 with random data at unaligned places, zeros written explicitly and a
/// discarded range; returns it and the raw disk `qemu-img convert` writes out of it.
pub fn qcow2_and_its_disk(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data.bin");
    make_random(&data, 3 << 20);
    let image = dir.join("disk.qcow2");
    let (image_s, data_s) = (image.to_str().unwrap(), data.to_str().unwrap());
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", image_s, "100M"],
    );
    for command in [
        format!("write -q -s {data_s} 1049088 3M"),
        "write -q -P 0x5a 50M 64k".to_string(),
        "write -q -z 20M 1M".to_string(),
        "discard -q 1M 64k".to_string(),
        format!("write -q -s {data_s} 99M 512k"),
    ] {
        run("qemu-io", &["-f", "qcow2", "-c", &command, image_s]);
    }
    let disk = dir.join("disk.raw");
    let disk_s = disk.to_str().unwrap();
    run(
        "qemu-img",
        &["convert", "-f", "qcow2", "-O", "raw", image_s, disk_s],
    );
    (image, disk)
}

/// The hash records of the inventory, as text rows.
fn hash_records(server: &TestServer) -> Vec<String> {
    let rows = server.inventory_dump();
    rows.into_iter()
        .filter(|row| row.starts_with("hash_record:"))
        .collect()
}

#[tokio::test]
async fn content_mode_hashes_the_disk_and_leaves_md5_sum_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (qcow2, disk) = qcow2_and_its_disk(dir.path());
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await.uuid;
    let image = server.add_image(&session, &qcow2, "qcow2").await.unwrap();
    let md5_sum_before = server.get_image(&session, &image.uuid).await.md5_sum;

    let request = request_in_mode(&image.uuid, &storage, "MD5", "Content");
    let answer = calculate(&server, &session, request).await.unwrap();
    let hash = answer.hash.unwrap();
    assert_eq!(hash.value, reference_digest("md5sum", &disk));
    assert_eq!(hash.mode, "content");
    assert_eq!(hash.bytes, 100 << 20);
    assert_eq!(answer.inventory.unwrap().md5_sum, md5_sum_before);

    let request = request_in_mode(&image.uuid, &storage, "sha256", "content");
    let streamed = server.calculate_streaming_request(&session, request).await;
    let hash = streamed.hash.unwrap();
    assert_eq!(hash.value, reference_digest("sha256sum", &disk));
    assert_eq!(hash.mode, "content");

    // The file's MD5 is ZStack's md5Sum; the content records stay beside it.
    let request = request_in_mode(&image.uuid, &storage, "md5", "");
    let answer = calculate(&server, &session, request).await.unwrap();
    let file_md5 = reference_digest("md5sum", &qcow2);
    assert_eq!(answer.hash.as_ref().unwrap().value, file_md5);
    assert_eq!(answer.hash.unwrap().mode, "file");
    assert_eq!(answer.inventory.unwrap().md5_sum, Some(file_md5));
    let records = hash_records(&server);
    assert_eq!(records.len(), 3, "{records:#?}");
    let in_mode = |mode: &str| records.iter().filter(|r| r.ends_with(mode)).count();
    assert_eq!((in_mode("\"content\""), in_mode("\"file\"")), (2, 1));
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_mode_is_sys_1007_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await.uuid;
    let path = Path::new(&server.default_storage(&session).await.url).join("r.raw");
    make_random(&path, 1000);
    let image = server.add_image(&session, &path, "raw").await.unwrap();
    let request = request_in_mode(&image.uuid, &storage, "md5", "guest");
    let result = calculate(&server, &session, request).await;
    let status = assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
    assert!(status.message().contains("'guest'"), "{status:?}");
    server.stop().await;
}

/// Images the content mode cannot read faithfully: a qcow2 with a backing file (the
/// server hashes images that stand alone, and never opens another file of the host), an
/// encrypted one, and one whose L2 table points past the end of the file.
#[tokio::test]
async fn bad_images_in_content_mode_are_sys_1007_and_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let path = |name: &str| work.join(name).to_str().unwrap().to_string();
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", &path("base.qcow2"), "1M"],
    );
    let (top, base) = (path("top.qcow2"), path("base.qcow2"));
    run(
        "qemu-img",
        &[
            "create", "-q", "-f", "qcow2", "-b", &base, "-F", "qcow2", &top,
        ],
    );
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "--object",
            "secret,id=sec0,data=123456",
            "-f",
            "qcow2",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0",
            &path("enc.qcow2"),
            "1M",
        ],
    );
    let far = path("far.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", &far, "1M"]);
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -q -P 0x61 0 64k", &far],
    );
    point_first_l2_entry_past_the_end(Path::new(&far));

    let server = TestServer::start(work).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await.uuid;
    for (name, problem) in [
        ("top.qcow2", "backing file"),
        ("enc.qcow2", "encrypted"),
        ("far.qcow2", "past the end"),
    ] {
        let image = server.add_image(&session, &work.join(name), "qcow2").await;
        let image = image.unwrap().uuid;
        let request = request_in_mode(&image, &storage, "sha256", "content");
        let result = calculate(&server, &session, request).await;
        let status = assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
        assert!(status.message().contains(problem), "{name}: {status:?}");
    }
    assert_eq!(hash_records(&server), Vec::<String>::new());
    server.stop().await;
}

/// Makes the first L2 entry of a qcow2 (64 KiB clusters, data in its first cluster) point
/// 1 TiB into a file of a few hundred KiB.
fn point_first_l2_entry_past_the_end(path: &Path) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let be64_at = |offset: u64| {
        let mut bytes = [0; 8];
        file.read_exact_at(&mut bytes, offset).unwrap();
        u64::from_be_bytes(bytes)
    };
    let l1 = be64_at(40);
    let l2 = be64_at(l1) & 0x00ff_ffff_ffff_fe00;
    let entry = 0x8000_0000_0000_0000u64 | 1 << 40;
    file.write_all_at(&entry.to_be_bytes(), l2).unwrap();
}
