//! Faults while hashing and copying: the file changed under a running hash, unreadable
//! paths, a vanished storage, and the server killed in the middle of an AddImage copy.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use imghash::grpc::proto::*;
use tonic::transport::Channel;
use tonic::Code;

use crate::harness::*;
use crate::tmpfs::Tmpfs;

/// Zeros of a sparse file are still hashed by sequential digests: 1 GiB takes seconds with
/// sha512 or md5 (0.4-0.7 GB/s), long enough to change the file under a running job.
const SLOW_LEN: u64 = 1 << 30;

/// Starts a streaming hash of a 1 GiB sparse image, waits until progress shows the job is
/// reading, applies `fault` to the file, and returns how the call ended; then checks that
/// nothing was recorded for the image.
async fn fault_while_hashing(algorithm: &str, fault: impl FnOnce(&Path)) -> tonic::Status {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let path = Path::new(&storage.url).join("slow.raw");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(SLOW_LEN)
        .unwrap();
    let image = server.add_image(&session, &path, "raw").await.unwrap();
    assert_eq!(image.md5_sum, None, "registered in place: not hashed yet");

    let mut stream = server
        .images()
        .calculate_image_hash_stream(authed(
            &session,
            hash_request(&image.uuid, &storage.uuid, algorithm),
        ))
        .await
        .unwrap()
        .into_inner();
    // The first progress event with bytes done: the engine has the file open.
    loop {
        let event = stream.message().await.unwrap().expect("an event");
        match event.event.unwrap() {
            calculate_image_hash_event::Event::Progress(p) if p.bytes_done > 0 => {
                assert!(p.bytes_done < p.bytes_total, "still running: {p:?}");
                break;
            }
            calculate_image_hash_event::Event::Progress(_) => {}
            calculate_image_hash_event::Event::Result(r) => panic!("finished too soon: {r:?}"),
        }
    }
    fault(&path);
    let status = loop {
        match stream.message().await {
            Ok(Some(event)) => {
                if let Some(calculate_image_hash_event::Event::Result(r)) = event.event {
                    panic!("a changed file was hashed: {r:?}");
                }
            }
            Ok(None) => panic!("the stream ended without a result"),
            Err(status) => break status,
        }
    };

    // Nothing recorded: md5Sum unchanged, no hash record, and a query agrees.
    let after = server.get_image(&session, &image.uuid).await;
    assert_eq!(after.md5_sum, None);
    assert_eq!(after.last_op_date, image.last_op_date);
    let unhashed = server
        .images()
        .query_image(authed(
            &session,
            QueryImageRequest {
                conditions: vec![format!("uuid={}", image.uuid), "md5Sum is null".into()],
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert_eq!(unhashed.len(), 1);
    let records: Vec<String> = server
        .inventory_dump()
        .into_iter()
        .filter(|row| row.starts_with("hash_record:"))
        .collect();
    assert_eq!(records, Vec::<String>::new());
    assert!(server.healthy().await);
    server.stop().await;
    status
}

#[tokio::test]
async fn a_file_appended_to_while_hashed_is_sys_1016_and_nothing_is_recorded() {
    let status = fault_while_hashing("md5", |path| {
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(b"appended").unwrap();
    })
    .await;
    assert_zstack_error::<()>(Err(status.clone()), Code::DataLoss, "SYS.1016");
    assert!(status.message().contains("grew"), "{status:?}");
}

#[tokio::test]
async fn a_file_renamed_over_while_hashed_is_sys_1016_and_nothing_is_recorded() {
    let status = fault_while_hashing("sha512", |path| {
        // Same length, so only the identity of the file tells.
        let other = path.with_file_name("other.raw");
        std::fs::File::create(&other)
            .unwrap()
            .set_len(SLOW_LEN)
            .unwrap();
        std::fs::rename(&other, path).unwrap();
    })
    .await;
    assert_zstack_error::<()>(Err(status.clone()), Code::DataLoss, "SYS.1016");
    assert!(status.message().contains("replaced"), "{status:?}");
}

#[tokio::test]
async fn a_file_deleted_while_hashed_is_sys_1016_and_nothing_is_recorded() {
    let status = fault_while_hashing("sha512", |path| std::fs::remove_file(path).unwrap()).await;
    assert_zstack_error::<()>(Err(status.clone()), Code::DataLoss, "SYS.1016");
    assert!(status.message().contains("deleted"), "{status:?}");
}

#[tokio::test]
async fn an_unreadable_image_path_or_a_removed_storage_directory_is_sys_1016() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let storage_dir = PathBuf::from(&storage.url);
    let hash = |image: &str| {
        let mut images = server.images();
        let request = authed(&session, hash_request(image, &storage.uuid, "md5"));
        async move { images.calculate_image_hash(request).await }
    };

    // chmod 000 does not stop root, which these tests may run as; a directory at the image's
    // path is unreadable as an image for everyone.
    let path = storage_dir.join("becomes-a-dir.raw");
    make_random(&path, 4096);
    let image = server.add_image(&session, &path, "raw").await.unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let status = assert_zstack_error(hash(&image.uuid).await, Code::DataLoss, "SYS.1016");
    assert!(
        status.message().contains("not a regular file") || status.message().contains("no longer")
    );

    // When not root, chmod 000 makes the file unreadable.
    let path = storage_dir.join("unreadable.raw");
    make_random(&path, 4096);
    let image = server.add_image(&session, &path, "raw").await.unwrap();
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !is_root {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert_zstack_error(hash(&image.uuid).await, Code::DataLoss, "SYS.1016");
    }

    // The whole storage directory removed.
    std::fs::remove_dir_all(&storage_dir).unwrap();
    let status = assert_zstack_error(hash(&image.uuid).await, Code::Unavailable, "SYS.1016");
    assert!(status.message().contains("unreadable.raw"), "{status:?}");
    assert!(server.healthy().await);
    server.stop().await;
}

/// `imghash serve` as a child process on 127.0.0.1:<any port>, with its address read from
/// its log.
struct ServeProcess {
    child: Child,
    addr: String,
}

impl ServeProcess {
    fn start(data_dir: &Path) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imghash"))
            .args(["serve", "--listen", "127.0.0.1:0", "--hash-threads", "1"])
            .args(["--rest-listen", "off"])
            .arg("--data-dir")
            .arg(data_dir)
            // Test sources are made next to the data dir.
            .arg("--import-root")
            .arg(data_dir.parent().unwrap())
            .args(["--admin-password", ADMIN_PASSWORD])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // The log line "serving address=Some(127.0.0.1:PORT) ..." gives the port.
        let addr = loop {
            let line = lines
                .next()
                .expect("the server logs 'serving' before exiting")
                .unwrap();
            if line.contains("serving") {
                let at = line.find("127.0.0.1:").expect("the address is logged");
                let addr: String = line[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                break addr;
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServeProcess { child, addr }
    }

    async fn channel(&self) -> Channel {
        let endpoint = Channel::from_shared(format!("http://{}", self.addr)).unwrap();
        for _ in 0..200 {
            if let Ok(channel) = endpoint.connect().await {
                let mut health =
                    tonic_health::pb::health_client::HealthClient::new(channel.clone());
                if health
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .is_ok()
                {
                    return channel;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("imghash serve did not become healthy");
    }

    async fn login(channel: &Channel) -> String {
        account_service_client::AccountServiceClient::new(channel.clone())
            .log_in_by_account(LogInByAccountRequest {
                account_name: "admin".into(),
                password: ADMIN_PASSWORD.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .inventory
            .unwrap()
            .uuid
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigkill_during_an_add_image_copy_leaves_no_downloading_image_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let source = dir.path().join("big.raw");
    // 8 GiB of holes: the copy keeps them as holes but MD5 still reads 8 GiB of zeros,
    // seconds of work, so it is still running when the process is killed; the kill comes
    // once the copy's temp file exists.
    std::fs::File::create(&source)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();

    let mut server = ServeProcess::start(&data_dir);
    let channel = server.channel().await;
    let session = ServeProcess::login(&channel).await;
    let storage = backup_storage_service_client::BackupStorageServiceClient::new(channel.clone())
        .query_backup_storage(authed(
            &session,
            QueryBackupStorageRequest {
                conditions: vec!["name=default".into()],
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventories
        .remove(0);
    let storage_dir = PathBuf::from(&storage.url);
    let add = {
        let mut images = image_service_client::ImageServiceClient::new(channel.clone());
        let request = authed(
            &session,
            AddImageRequest {
                name: "big".into(),
                url: format!("file://{}", source.display()),
                format: "raw".into(),
                backup_storage_uuids: vec![storage.uuid.clone()],
                ..Default::default()
            },
        );
        tokio::spawn(async move { images.add_image(request).await })
    };
    let temp_files = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with('.') && name.ends_with(".tmp")
            })
            .collect()
    };
    let mut copying = false;
    for _ in 0..1000 {
        if !temp_files(&storage_dir).is_empty() {
            copying = true;
            break;
        }
        assert!(
            !add.is_finished(),
            "AddImage ended before the kill: {add:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(copying, "the copy started");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let status = add.await.unwrap().unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    assert_eq!(
        temp_files(&storage_dir).len(),
        1,
        "the kill left the half copy"
    );

    // Restart on the same data dir: the half-copied image and its temp file are gone.
    let server = ServeProcess::start(&data_dir);
    let channel = server.channel().await;
    let session = ServeProcess::login(&channel).await;
    let mut images = image_service_client::ImageServiceClient::new(channel);
    let all = images
        .query_image(authed(&session, QueryImageRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert_eq!(all, vec![], "no image row remains");
    let downloading = images
        .query_image(authed(
            &session,
            QueryImageRequest {
                conditions: vec!["status=Downloading".into()],
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert!(downloading.is_empty());
    assert_eq!(temp_files(&storage_dir), Vec::<PathBuf>::new());
    drop(server);
}

#[tokio::test]
async fn a_copy_that_cannot_fit_is_refused_up_front_with_no_partial_file_or_image() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    // A 4 MiB tmpfs as the backup storage.
    let small = dir.path().join("small");
    let _mounted = Tmpfs::mount(&small, "size=4m");
    let storage = server.add_local_storage(&session, &small).await;
    let big = dir.path().join("big.raw");
    make_random(&big, 16 << 20);
    let before = server.inventory_dump();

    let result = server
        .images()
        .add_image(authed(
            &session,
            AddImageRequest {
                name: "too big".into(),
                url: format!("file://{}", big.display()),
                format: "raw".into(),
                backup_storage_uuids: vec![storage.uuid.clone()],
                ..Default::default()
            },
        ))
        .await;
    // Refused before anything is written: 16 MiB do not fit in 4 MiB.
    let status = assert_zstack_error(result, Code::FailedPrecondition, "SYS.1006");
    let message = status.message();
    assert!(message.contains("Not enough space"), "{status:?}");
    assert!(message.contains(&small.display().to_string()), "{status:?}");
    assert!(message.contains(&(16u64 << 20).to_string()), "{status:?}");
    assert_eq!(
        server.inventory_dump(),
        before,
        "no image row, not even a failed one"
    );
    assert_eq!(
        dir_listing(&small),
        Vec::<String>::new(),
        "no partial or temp file"
    );
    assert!(server.healthy().await);
}
