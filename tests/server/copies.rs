//! AddImage's copies: they stop when their caller goes away, count as jobs, keep holes,
//! check the free space, name the file a write failed on, and leave nothing behind.
//!
//! `/proc/kmsg` is the source whose reads block: stat says it is a regular file, and once
//! the kernel's buffered messages are read, a read waits for the next message. Reading it
//! needs root (CAP_SYSLOG), as mounting the small file systems does; CI runs as root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use imghash::grpc::proto::*;
use tonic::{Code, Status};

use crate::harness::*;
use crate::tmpfs::Tmpfs;

/// A server with the test's temp dir and /proc as import roots and these job bounds,
/// logged in: the temp dir (keep it alive), the server, the session, the default storage.
async fn setup(
    max_jobs: usize,
    max_queued: usize,
) -> (
    tempfile::TempDir,
    TestServer,
    String,
    BackupStorageInventory,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.import_roots.push(PathBuf::from("/proc"));
        c.max_jobs = max_jobs;
        c.max_queued = max_queued;
    })
    .await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    (dir, server, session, storage)
}

fn add_request(session: &str, url: &str, storage: &str) -> tonic::Request<AddImageRequest> {
    authed(
        session,
        AddImageRequest {
            name: "copied".into(),
            url: url.into(),
            format: "raw".into(),
            backup_storage_uuids: vec![storage.into()],
            ..Default::default()
        },
    )
}

/// Every image row, as QueryImage lists them.
async fn all_images(server: &TestServer, session: &str) -> Vec<ImageInventory> {
    server
        .images()
        .query_image(authed(session, QueryImageRequest::default()))
        .await
        .expect("QueryImage answers")
        .into_inner()
        .inventories
}

/// Waits (polling, at most 30 s so a broken build fails rather than hangs) until the
/// inventory holds no image and the storage directory is empty: the copy has stopped and
/// cleaned up. How fast is not asserted here.
async fn assert_nothing_left(server: &TestServer, session: &str, storage_dir: &Path) {
    for _ in 0..300 {
        if all_images(server, session).await.is_empty() && dir_listing(storage_dir).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the copy left {:?} and files {:?}",
        all_images(server, session).await,
        dir_listing(storage_dir)
    );
}

/// A small image copies and hashes right: the copy's run slot is free again.
async fn assert_a_copy_runs(server: &TestServer, session: &str, dir: &Path) {
    let small = dir.join("small.raw");
    make_random(&small, 100_000);
    let added = server.add_image(session, &small, "raw").await.unwrap();
    assert_eq!(
        added.md5_sum.as_deref(),
        Some(reference_digest("md5sum", &small).as_str())
    );
    server.delete_image(session, &added.uuid).await.unwrap();
}

#[tokio::test]
async fn a_copy_that_blocks_or_runs_long_stops_with_its_deadline_or_its_client() {
    // One job slot and no queue: a copy that never stopped would refuse the next one.
    let (dir, server, session, storage) = setup(1, 0).await;
    let storage_dir = PathBuf::from(&storage.url);

    // The deadline passes while the read blocks.
    let mut request = add_request(&session, "file:///proc/kmsg", &storage.uuid);
    request.set_timeout(Duration::from_secs(1));
    let status = server.images().add_image(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    assert_nothing_left(&server, &session, &storage_dir).await;
    assert_a_copy_runs(&server, &session, dir.path()).await;

    // The client goes away (its call is dropped: the stream is reset).
    let request = add_request(&session, "file:///proc/kmsg", &storage.uuid);
    let mut images = server.images();
    let gone = tokio::time::timeout(Duration::from_millis(500), images.add_image(request)).await;
    assert!(gone.is_err(), "the copy of /proc/kmsg never ends by itself");
    assert_nothing_left(&server, &session, &storage_dir).await;
    assert_a_copy_runs(&server, &session, dir.path()).await;

    // A long copy: 64 GiB of holes are minutes of MD5.
    let huge = dir.path().join("huge.raw");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let url = format!("file://{}", huge.display());
    let mut request = add_request(&session, &url, &storage.uuid);
    request.set_timeout(Duration::from_secs(1));
    let status = server.images().add_image(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    assert_nothing_left(&server, &session, &storage_dir).await;
    assert_a_copy_runs(&server, &session, dir.path()).await;
    server.stop().await;
}

#[tokio::test]
async fn hung_copies_beyond_the_job_bounds_are_refused_and_the_server_keeps_answering() {
    let (_dir, server, session, storage) = setup(2, 4).await;
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let mut request = add_request(&session, "file:///proc/kmsg", &storage.uuid);
            request.set_timeout(Duration::from_secs(3));
            let mut images = server.images();
            tokio::spawn(async move { images.add_image(request).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Log-in (argon2 on a blocking thread) and QueryImage still answer.
    server.login().await;
    all_images(&server, &session).await;
    let mut refused = 0;
    for call in calls {
        let status: Status = call.await.unwrap().unwrap_err();
        match status.code() {
            Code::ResourceExhausted => {
                assert_zstack_error::<()>(Err(status), Code::ResourceExhausted, "SYS.1006");
                refused += 1;
            }
            Code::DeadlineExceeded | Code::Cancelled => {}
            _ => panic!("unexpected {status:?}"),
        }
    }
    // 2 run and 4 wait; the rest are refused at once.
    assert_eq!(refused, 200 - 6);
    assert_nothing_left(&server, &session, Path::new(&storage.url)).await;
    server.stop().await;
}

#[tokio::test]
async fn delete_image_during_its_copy_stops_the_copy_and_removes_the_partial_file() {
    let (dir, server, session, storage) = setup(2, 16).await;
    // Data first, then 64 GiB of holes: minutes of MD5, so the copy is still running.
    let source = dir.path().join("big.raw");
    make_random(&source, 1 << 20);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&source)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let url = format!("file://{}", source.display());
    let request = add_request(&session, &url, &storage.uuid);
    let mut images = server.images();
    let add = tokio::spawn(async move { images.add_image(request).await });
    let image = loop {
        if let Some(image) = all_images(&server, &session).await.pop() {
            break image;
        }
        assert!(!add.is_finished(), "AddImage ended early: {add:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // While copying, the image and its ref say Downloading.
    assert_eq!(image.status, "Downloading");
    assert_eq!(image.backup_storage_refs[0].status, "Downloading");

    server
        .delete_image(&session, &image.uuid)
        .await
        .expect("DeleteImage of an image being copied");
    // DeleteImage returned once the copy had stopped and cleaned up.
    assert_eq!(dir_listing(Path::new(&storage.url)), Vec::<String>::new());
    assert_eq!(all_images(&server, &session).await, vec![]);
    let status = add.await.unwrap().unwrap_err();
    assert_zstack_error::<()>(Err(status), Code::Cancelled, "SYS.1017");
    server.stop().await;
}

#[tokio::test]
async fn a_sparse_source_is_copied_sparsely_with_the_md5_of_all_its_bytes() {
    use std::os::unix::fs::FileExt;
    let (dir, server, session, _) = setup(2, 16).await;
    // 64 MiB: 1 MiB of data at 0 and at 40 MiB, holes elsewhere (a trailing one too).
    let source = dir.path().join("sparse.raw");
    let file = std::fs::File::create(&source).unwrap();
    file.set_len(64 << 20).unwrap();
    let mut data = vec![0u8; 1 << 20];
    getrandom::fill(&mut data).unwrap();
    file.write_all_at(&data, 0).unwrap();
    file.write_all_at(&data, 40 << 20).unwrap();
    drop(file);

    let added = server.add_image(&session, &source, "raw").await.unwrap();
    assert_eq!(
        added.md5_sum.as_deref(),
        Some(reference_digest("md5sum", &source).as_str())
    );
    let copy = PathBuf::from(&added.backup_storage_refs[0].install_path);
    assert_eq!(added.backup_storage_refs[0].status, "Ready");
    assert_eq!(
        reference_digest("md5sum", &copy),
        reference_digest("md5sum", &source)
    );
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!(meta.len(), 64 << 20);
    // 2 MiB of data; a dense copy would take 64 MiB. Room for file-system rounding.
    assert!(meta.blocks() * 512 <= 4 << 20, "{} blocks", meta.blocks());
    let du = Command::new("du").arg("-k").arg(&copy).output().unwrap();
    let kib: u64 = first_field(du.stdout).parse().unwrap();
    assert!(kib <= 4096, "du says {kib} KiB");
    server.stop().await;
}

#[tokio::test]
async fn a_disk_filling_up_during_a_copy_names_the_file_and_leaves_nothing() {
    let (dir, server, session, _) = setup(2, 16).await;
    let small = dir.path().join("small");
    let _mounted = Tmpfs::mount(&small, "size=1m");
    let storage = server.add_local_storage(&session, &small).await;
    let before = server.inventory_dump();
    // /proc/kallsyms: stat says 0 bytes, so the free-space check lets it through, and it
    // holds megabytes, so the 1 MiB file system fills up during the copy.
    let result = server
        .images()
        .add_image(add_request(
            &session,
            "file:///proc/kallsyms",
            &storage.uuid,
        ))
        .await;
    let status = assert_zstack_error(result, Code::FailedPrecondition, "SYS.1006");
    let message = status.message();
    assert!(message.contains("No space left"), "{status:?}");
    assert!(
        message.contains(&format!("{}/.", small.display())) && message.contains(".tmp"),
        "the message names the copy's file: {status:?}"
    );
    assert!(!message.contains("standard input"), "{status:?}");
    assert_eq!(server.inventory_dump(), before);
    assert_eq!(dir_listing(&small), Vec::<String>::new());
    server.stop().await;
}

#[tokio::test]
async fn an_unwritable_storage_directory_is_sys_1006() {
    let (dir, server, session, _) = setup(2, 16).await;
    let frozen = dir.path().join("frozen");
    let mounted = Tmpfs::mount(&frozen, "size=4m");
    let storage = server.add_local_storage(&session, &frozen).await;
    // Read-only: even root cannot write there (file modes would not stop root).
    mounted.remount("ro");
    let source = dir.path().join("small.raw");
    make_random(&source, 4096);
    let url = format!("file://{}", source.display());
    let result = server
        .images()
        .add_image(add_request(&session, &url, &storage.uuid))
        .await;
    let status = assert_zstack_error(result, Code::FailedPrecondition, "SYS.1006");
    assert!(
        status.message().contains(&frozen.display().to_string()),
        "{status:?}"
    );
    assert_eq!(all_images(&server, &session).await, vec![]);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_a_hung_copy_and_a_restart_finds_nothing_of_it() {
    let (dir, server, session, storage) = setup(2, 16).await;
    let storage_dir = PathBuf::from(&storage.url);
    let request = add_request(&session, "file:///proc/kmsg", &storage.uuid);
    let mut images = server.images();
    let add = tokio::spawn(async move { images.add_image(request).await });
    while all_images(&server, &session).await.is_empty() {
        assert!(!add.is_finished(), "AddImage ended early: {add:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A temp file with no row, as a server killed after DeleteImage removed the row but
    // before the copy removed its file would leave.
    let stray = storage_dir.join(".0123456789abcdef0123456789abcdef.tmp");
    std::fs::write(&stray, b"half").unwrap();
    // The harness waits at most 10 s for the server to stop.
    server.stop().await;
    assert!(add.await.unwrap().is_err());

    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    assert_eq!(all_images(&server, &session).await, vec![]);
    assert_eq!(dir_listing(&storage_dir), Vec::<String>::new());
    server.stop().await;
}
