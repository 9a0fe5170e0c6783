//! What survives a restart on the same data dir, and what startup cleans.

use std::path::Path;

use imghash::grpc::proto::*;
use imghash_store::{Image, ImageRef};

use crate::harness::*;

#[tokio::test]
async fn images_hashes_sessions_and_the_password_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let source = dir.path().join("disk.qcow2");
    make_qcow2(&source);
    let image = server.add_image(&session, &source, "qcow2").await.unwrap();
    server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image.uuid, &storage.uuid, "sha256"),
        ))
        .await
        .unwrap();
    let before = server.get_image(&session, &image.uuid).await;
    server.stop().await;

    // No password this time: the stored one stays.
    let server = TestServer::start_with(dir.path(), |c| c.admin_password = None).await;
    server.login().await;
    let after = server
        .images()
        .get_image(authed(
            &session,
            GetImageRequest {
                uuid: image.uuid.clone(),
            },
        ))
        .await
        .expect("the session survived")
        .into_inner()
        .inventory
        .unwrap();
    assert_eq!(after, before);
    assert_eq!(
        after.md5_sum.as_deref(),
        Some(reference_digest("md5sum", &source).as_str())
    );
    let storages = server
        .storages()
        .query_backup_storage(authed(&session, QueryBackupStorageRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .inventories;
    assert_eq!(
        storages.len(),
        1,
        "the default storage is created only once"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_generated_admin_password_is_written_0600_and_a_given_one_replaces_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.admin_password = None).await;
    let file = server.data_dir.join("admin-password");
    let generated = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let login = |password: String| LogInByAccountRequest {
        account_name: "admin".into(),
        password,
        ..Default::default()
    };
    server
        .accounts()
        .log_in_by_account(login(generated.clone()))
        .await
        .unwrap();
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    assert!(server
        .accounts()
        .log_in_by_account(login(generated))
        .await
        .is_err());
    server.login().await;
    server.stop().await;
}

#[tokio::test]
async fn startup_removes_images_a_crash_left_downloading_with_their_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let inventory = server.inventory.clone();
    server.stop().await;

    // Simulate a crash in the middle of a copy.
    let store = tokio::task::spawn_blocking(move || inventory.open_store())
        .await
        .unwrap();
    let uuid = imghash_store::new_uuid();
    let temp = Path::new(&storage.url).join(format!(".{uuid}.tmp"));
    std::fs::write(&temp, b"half a copy").unwrap();
    let image = Image {
        uuid: uuid.clone(),
        name: "interrupted".into(),
        description: String::new(),
        state: "Enabled".into(),
        status: "Downloading".into(),
        size: 0,
        actual_size: 0,
        md5_sum: None,
        url: "file:///somewhere".into(),
        media_type: "RootVolumeTemplate".into(),
        guest_os_type: String::new(),
        image_type: "zstack".into(),
        platform: "Linux".into(),
        architecture: "x86_64".into(),
        format: "raw".into(),
        virtio: false,
        system: false,
        create_date: 0,
        last_op_date: 0,
    };
    let image_ref = ImageRef {
        image_uuid: uuid.clone(),
        backup_storage_uuid: storage.uuid.clone(),
        install_path: Path::new(&storage.url)
            .join(format!("{uuid}.raw"))
            .display()
            .to_string(),
        export_url: None,
        export_md5_sum: None,
        status: "Ready".into(),
        create_date: 0,
        last_op_date: 0,
    };
    tokio::task::spawn_blocking(move || store.add_image(&image, &[image_ref]).unwrap())
        .await
        .unwrap();

    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let result = server
        .images()
        .get_image(authed(&session, GetImageRequest { uuid }))
        .await;
    assert_zstack_error(result, tonic::Code::NotFound, "SYS.1003");
    assert!(!temp.exists());
    server.stop().await;
}
