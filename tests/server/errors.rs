//! Each row of docs/errors.md's table that a client can produce.

use std::time::Duration;

use imghash::grpc::proto::*;
use tonic::{Code, Request};

use crate::harness::*;

const NO_SUCH_UUID: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn missing_malformed_unknown_and_expired_sessions_are_id_1001_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.session_timeout = Duration::from_millis(700);
    })
    .await;
    let query = || QueryImageRequest::default();

    let missing = server.images().query_image(Request::new(query())).await;
    assert_zstack_error(missing, Code::Unauthenticated, "ID.1001");
    let mut malformed = Request::new(query());
    malformed
        .metadata_mut()
        .insert("authorization", "Bearer something".parse().unwrap());
    assert_zstack_error(
        server.images().query_image(malformed).await,
        Code::Unauthenticated,
        "ID.1001",
    );
    let unknown = server
        .images()
        .query_image(authed(NO_SUCH_UUID, query()))
        .await;
    assert_zstack_error(unknown, Code::Unauthenticated, "ID.1001");

    // Every call renews the session: three calls 400 ms apart outlive a 700 ms timeout...
    let session = server.login().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        server
            .images()
            .query_image(authed(&session, query()))
            .await
            .unwrap();
    }
    // ...and idleness beyond it expires the session.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let expired = server.images().query_image(authed(&session, query())).await;
    assert_zstack_error(expired, Code::Unauthenticated, "ID.1001");
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_or_account_is_id_1000_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    for (name, password) in [("admin", "wrong"), ("nobody", ADMIN_PASSWORD)] {
        let result = server
            .accounts()
            .log_in_by_account(LogInByAccountRequest {
                account_name: name.into(),
                password: password.into(),
                ..Default::default()
            })
            .await;
        assert_zstack_error(result, Code::Unauthenticated, "ID.1000");
    }
    server.stop().await;
}

#[tokio::test]
async fn error_details_carry_the_zstack_error_code_in_a_google_rpc_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let result = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(NO_SUCH_UUID, &storage.uuid, "MD5"),
        ))
        .await;
    let status = assert_zstack_error(result, Code::NotFound, "SYS.1003");
    assert_eq!(
        status.message(),
        format!("SYS.1003: Cannot find image[uuid:{NO_SUCH_UUID}], it may have been deleted")
    );
    let code = error_code_of(&status);
    assert_eq!(code.code, "SYS.1003");
    assert_eq!(code.description, "Resource not found");
    assert!(code.details.contains(NO_SUCH_UUID));
    server.stop().await;
}

#[tokio::test]
async fn bad_uuids_algorithms_chunk_sizes_and_missing_fields_are_sys_1007() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let file = std::path::Path::new(&storage.url).join("small.raw");
    make_random(&file, 4096);
    let image = server.add_image(&session, &file, "raw").await.unwrap();

    let with_chunk = |alg: &str, chunk: &str| {
        let mut r = hash_request(&image.uuid, &storage.uuid, alg);
        r.calculate_image_hash.as_mut().unwrap().chunk_size = chunk.into();
        r
    };
    let bad = [
        (
            hash_request("NOT-A-UUID", &storage.uuid, "md5"),
            "NOT-A-UUID",
        ),
        (hash_request(&image.uuid, "0123", "md5"), "0123"),
        (hash_request(&image.uuid, &storage.uuid, "md4"), "md4"),
        (with_chunk("merkle-sha256", "4096"), "4096"),
        (with_chunk("md5", "4MiB"), "4MiB"),
        (hash_request(&image.uuid, "", "md5"), "backupStorageUuid"),
        (
            CalculateImageHashRequest {
                uuid: image.uuid.clone(),
                ..Default::default()
            },
            "backupStorageUuid",
        ),
    ];
    for (request, named) in bad {
        let result = server
            .images()
            .calculate_image_hash(authed(&session, request))
            .await;
        let status = assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
        assert!(
            status.message().contains(named),
            "names {named}: {status:?}"
        );
    }

    // AddBackupStorage: relative path, a file, an unknown type.
    for (url, kind) in [
        ("relative/dir".to_string(), "Local"),
        (file.display().to_string(), "Local"),
        (dir.path().join("x").display().to_string(), "Ceph"),
    ] {
        let result = server
            .storages()
            .add_backup_storage(authed(
                &session,
                AddBackupStorageRequest {
                    name: "bad".into(),
                    r#type: kind.into(),
                    url,
                    ..Default::default()
                },
            ))
            .await;
        assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
    }

    // AddImage: an unknown format and a missing storage list.
    let mut add = AddImageRequest {
        name: "x".into(),
        url: format!("file://{}", file.display()),
        format: "qcow3".into(),
        backup_storage_uuids: vec![storage.uuid.clone()],
        ..Default::default()
    };
    let result = server
        .images()
        .add_image(authed(&session, add.clone()))
        .await;
    assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
    add.format = "raw".into();
    add.backup_storage_uuids.clear();
    let result = server.images().add_image(authed(&session, add)).await;
    assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
    server.stop().await;
}

#[tokio::test]
async fn unknown_image_or_backup_storage_is_sys_1003_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let file = std::path::Path::new(&storage.url).join("small.raw");
    make_random(&file, 4096);
    let image = server.add_image(&session, &file, "raw").await.unwrap();
    for request in [
        hash_request(NO_SUCH_UUID, &storage.uuid, "md5"),
        hash_request(&image.uuid, NO_SUCH_UUID, "md5"),
    ] {
        let result = server
            .images()
            .calculate_image_hash(authed(&session, request))
            .await;
        let status = assert_zstack_error(result, Code::NotFound, "SYS.1003");
        assert!(status.message().contains(NO_SUCH_UUID));
    }
    let result = server
        .images()
        .get_image(authed(
            &session,
            GetImageRequest {
                uuid: NO_SUCH_UUID.into(),
            },
        ))
        .await;
    assert_zstack_error(result, Code::NotFound, "SYS.1003");
    server.stop().await;
}

#[tokio::test]
async fn image_not_on_that_backup_storage_is_sys_1006_failed_precondition() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let file = std::path::Path::new(&storage.url).join("small.raw");
    make_random(&file, 4096);
    let image = server.add_image(&session, &file, "raw").await.unwrap();
    let other = server
        .storages()
        .add_backup_storage(authed(
            &session,
            AddBackupStorageRequest {
                name: "other".into(),
                r#type: "Local".into(),
                url: dir.path().join("other").display().to_string(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventory
        .unwrap();
    let result = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image.uuid, &other.uuid, "md5"),
        ))
        .await;
    assert_zstack_error(result, Code::FailedPrecondition, "SYS.1006");
    // And a storage that still holds images cannot be deleted.
    let result = server
        .storages()
        .delete_backup_storage(authed(
            &session,
            DeleteBackupStorageRequest {
                uuid: storage.uuid.clone(),
            },
        ))
        .await;
    assert_zstack_error(result, Code::FailedPrecondition, "SYS.1006");
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_or_truncated_image_file_is_sys_1016() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let truncated = std::path::Path::new(&storage.url).join("truncated.raw");
    make_random(&truncated, 1 << 20);
    let deleted = std::path::Path::new(&storage.url).join("deleted.raw");
    make_random(&deleted, 1 << 20);
    let image_t = server.add_image(&session, &truncated, "raw").await.unwrap();
    let image_d = server.add_image(&session, &deleted, "raw").await.unwrap();

    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let result = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image_t.uuid, &storage.uuid, "md5"),
        ))
        .await;
    assert_zstack_error(result, Code::DataLoss, "SYS.1016");

    std::fs::remove_file(&deleted).unwrap();
    let result = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image_d.uuid, &storage.uuid, "md5"),
        ))
        .await;
    assert_zstack_error(result, Code::Unavailable, "SYS.1016");
    server.stop().await;
}

/// Without the `ceph` feature the contract is the same, and Ceph calls say why they cannot
/// work; ceph:// urls on a Local storage are a bad request either way.
#[cfg(not(feature = "ceph"))]
#[tokio::test]
async fn a_build_without_ceph_answers_ceph_calls_with_sys_1006_unimplemented() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let before = server.inventory_dump();
    let status = assert_zstack_error(
        server
            .storages()
            .add_ceph_backup_storage(authed(
                &session,
                AddCephBackupStorageRequest {
                    name: "ceph".into(),
                    pool_name: "zs-images".into(),
                    mon_urls: vec!["127.0.0.1:6789".into()],
                    ..Default::default()
                },
            ))
            .await,
        Code::Unimplemented,
        "SYS.1006",
    );
    assert!(
        status.message().contains("without Ceph support")
            && status.message().contains("--features ceph"),
        "{status:?}"
    );
    let local = server.default_storage(&session).await;
    let status = assert_zstack_error(
        server
            .images()
            .add_image(authed(
                &session,
                AddImageRequest {
                    name: "rbd".into(),
                    url: "ceph://zs-images/disk".into(),
                    format: "raw".into(),
                    backup_storage_uuids: vec![local.uuid],
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
        "SYS.1007",
    );
    assert!(
        status.message().contains("only a Ceph backup storage"),
        "{status:?}"
    );
    assert_eq!(server.inventory_dump(), before, "nothing recorded");
    server.stop().await;
}
