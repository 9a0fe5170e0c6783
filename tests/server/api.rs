//! Happy paths of every RPC.

use imghash::grpc::proto::*;
use sha2::{Digest as _, Sha512};
use tokio_stream::StreamExt as _;

use crate::harness::*;

#[tokio::test]
async fn login_accepts_the_password_and_its_sha512_hex_and_logout_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let hex: String = Sha512::digest(ADMIN_PASSWORD.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let session = server
        .accounts()
        .log_in_by_account(LogInByAccountRequest {
            account_name: "admin".into(),
            password: hex,
            ..Default::default()
        })
        .await
        .expect("the SHA-512 hex logs in")
        .into_inner()
        .inventory
        .unwrap();
    assert_eq!(session.uuid.len(), 32);
    assert_eq!(session.account_uuid, session.user_uuid);
    assert!(session.expired_date > session.create_date, "{session:?}");
    assert!(session.create_date.ends_with('Z'), "RFC 3339: {session:?}");
    let typed = server.login().await;
    assert_ne!(typed, session.uuid);

    server
        .accounts()
        .log_out(LogOutRequest {
            session_uuid: typed.clone(),
        })
        .await
        .unwrap();
    let after = server.default_storage_result(&typed).await;
    assert_zstack_error(after, tonic::Code::Unauthenticated, "ID.1001");
    server.stop().await;
}

#[tokio::test]
async fn backup_storages_are_added_queried_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let default = server.default_storage(&session).await;
    assert_eq!(default.r#type, "Local");
    assert!(std::path::Path::new(&default.url).is_dir());

    let wanted = dir.path().join("more/storage");
    let added = server
        .storages()
        .add_backup_storage(authed(
            &session,
            AddBackupStorageRequest {
                name: "second".into(),
                description: "for tests".into(),
                r#type: "Local".into(),
                url: wanted.display().to_string(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventory
        .unwrap();
    assert!(wanted.is_dir(), "the directory is created");
    assert_eq!(added.state, "Enabled");

    let all = server
        .storages()
        .query_backup_storage(authed(&session, QueryBackupStorageRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert_eq!(all.len(), 2);

    server
        .storages()
        .delete_backup_storage(authed(
            &session,
            DeleteBackupStorageRequest {
                uuid: added.uuid.clone(),
            },
        ))
        .await
        .unwrap();
    let left = server
        .storages()
        .query_backup_storage(authed(
            &session,
            QueryBackupStorageRequest {
                conditions: vec![format!("uuid={}", added.uuid)],
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert!(left.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn add_image_copies_a_qcow2_into_the_storage_with_the_md5_of_md5sum() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let source = dir.path().join("disk.qcow2");
    make_qcow2(&source);
    let image = server.add_image(&session, &source, "qcow2").await.unwrap();

    assert_eq!(image.status, "Ready");
    assert_eq!(image.r#type, "zstack");
    assert_eq!(image.media_type, "RootVolumeTemplate");
    assert_eq!(image.size, 64 << 20, "a qcow2's size is its virtual size");
    let actual = std::fs::metadata(&source).unwrap().len();
    assert_eq!(image.actual_size as u64, actual);
    assert_eq!(
        image.md5_sum.as_deref(),
        Some(reference_digest("md5sum", &source).as_str())
    );
    let install = &image.backup_storage_refs[0].install_path;
    assert!(
        install.ends_with(&format!("{}.qcow2", image.uuid)),
        "{install}"
    );
    assert_eq!(
        reference_digest("md5sum", install.as_ref()),
        reference_digest("md5sum", &source)
    );

    let fetched = server.get_image(&session, &image.uuid).await;
    assert_eq!(fetched, image);
    let queried = server
        .images()
        .query_image(authed(
            &session,
            QueryImageRequest {
                conditions: vec!["format=qcow2".into()],
                limit: 10,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert_eq!(queried, vec![image.clone()]);

    server
        .images()
        .delete_image(authed(
            &session,
            DeleteImageRequest {
                uuid: image.uuid.clone(),
            },
        ))
        .await
        .unwrap();
    assert!(
        !std::path::Path::new(install).exists(),
        "the copy is deleted"
    );
    assert!(source.exists(), "the original stays");
    server.stop().await;
}

#[tokio::test]
async fn add_image_registers_a_file_inside_the_storage_in_place_and_keeps_it_on_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let inside = std::path::Path::new(&storage.url).join("mine.raw");
    make_random(&inside, 100_000);
    let image = server.add_image(&session, &inside, "raw").await.unwrap();
    assert_eq!(
        image.backup_storage_refs[0].install_path,
        inside.display().to_string()
    );
    assert_eq!(
        image.md5_sum, None,
        "nothing was copied, so nothing hashed yet"
    );
    assert_eq!(image.size, 100_000);

    // A symlink in the storage pointing outside it is not "inside": the target is copied.
    let outside = dir.path().join("outside.raw");
    make_random(&outside, 10_000);
    let link = std::path::Path::new(&storage.url).join("link.raw");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let linked = server.add_image(&session, &link, "raw").await.unwrap();
    assert!(linked.backup_storage_refs[0]
        .install_path
        .ends_with(&format!("{}.raw", linked.uuid)));

    server
        .images()
        .delete_image(authed(&session, DeleteImageRequest { uuid: image.uuid }))
        .await
        .unwrap();
    assert!(inside.exists(), "a file registered in place is the user's");
    server.stop().await;
}

#[tokio::test]
async fn calculate_image_hash_matches_md5sum_and_sha256sum_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let inside = std::path::Path::new(&storage.url).join("random.raw");
    make_random(&inside, 3 << 20);
    let image = server.add_image(&session, &inside, "raw").await.unwrap();

    let sha = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image.uuid, &storage.uuid, "SHA256"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(sha.success);
    assert_eq!(sha.error, None);
    let hash = sha.hash.unwrap();
    assert_eq!(hash.algorithm, "sha256");
    assert_eq!(hash.value, reference_digest("sha256sum", &inside));
    assert_eq!(hash.chunk_size, "");
    assert_eq!(hash.bytes, 3 << 20);
    let inventory = sha.inventory.unwrap();
    assert_eq!(inventory.md5_sum, None, "md5Sum is only ever set by MD5");
    assert!(inventory.last_op_date >= image.last_op_date);
    assert_eq!(inventory.backup_storage_refs.len(), 1);

    // No algorithm: MD5, ZStack's default.
    let md5 = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image.uuid, &storage.uuid, ""),
        ))
        .await
        .unwrap()
        .into_inner();
    let expected = reference_digest("md5sum", &inside);
    assert_eq!(md5.hash.unwrap().value, expected);
    assert_eq!(
        md5.inventory.unwrap().md5_sum.as_deref(),
        Some(expected.as_str())
    );
    let stored = server
        .images()
        .get_image(authed(&session, GetImageRequest { uuid: image.uuid }))
        .await
        .unwrap()
        .into_inner()
        .inventory
        .unwrap();
    assert_eq!(stored.md5_sum.as_deref(), Some(expected.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn chunked_algorithms_report_the_chunk_size_they_used() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let source = dir.path().join("disk.qcow2");
    make_qcow2(&source);
    let image = server.add_image(&session, &source, "qcow2").await.unwrap();
    let mut request = hash_request(&image.uuid, &storage.uuid, "merkle-sha256");
    request.calculate_image_hash.as_mut().unwrap().chunk_size = "1MiB".into();
    let response = server
        .images()
        .calculate_image_hash(authed(&session, request))
        .await
        .unwrap()
        .into_inner();
    let hash = response.hash.unwrap();
    assert_eq!(hash.algorithm, "merkle-sha256");
    assert_eq!(hash.chunk_size, "1MiB");
    assert_eq!(hash.value.len(), 64);
    server.stop().await;
}

#[tokio::test]
async fn the_stream_sends_progress_then_the_same_response_as_the_unary_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let inside = std::path::Path::new(&storage.url).join("random.raw");
    make_random(&inside, 1 << 20);
    let image = server.add_image(&session, &inside, "raw").await.unwrap();
    let response = server
        .calculate_streaming(&session, &image.uuid, &storage.uuid, "md5")
        .await;
    assert!(response.success);
    assert_eq!(
        response.hash.unwrap().value,
        reference_digest("md5sum", &inside)
    );
    server.stop().await;
}

#[tokio::test]
async fn the_stream_reports_progress_on_a_long_hash() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let huge = std::path::Path::new(&storage.url).join("huge.raw");
    make_huge_sparse(&huge);
    let image = server.add_image(&session, &huge, "raw").await.unwrap();
    let mut events = server
        .images()
        .calculate_image_hash_stream(authed(
            &session,
            hash_request(&image.uuid, &storage.uuid, "md5"),
        ))
        .await
        .unwrap()
        .into_inner();
    let first = events.next().await.unwrap().unwrap().event;
    match first {
        Some(calculate_image_hash_event::Event::Progress(p)) => {
            assert_eq!(p.bytes_total, 256 << 30);
            assert!(p.bytes_done < p.bytes_total);
        }
        other => panic!("a progress event first, not {other:?}"),
    }
    // Dropping the stream cancels the job; stop() then returns promptly.
    drop(events);
    server.stop().await;
}
