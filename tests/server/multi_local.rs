//! A Local backup storage belongs to the server that added it: AddImage, CalculateImageHash
//! and DeleteImage about it arriving at another server are forwarded there and answered as
//! if local; with that server down, SYS.1006 names it.

use imghash::grpc::proto::*;
use tonic::Code;

use crate::harness::{assert_zstack_error, authed, hash_request};
use crate::multi::{digest_of, random_file, Node, Shared};

/// Adds a Local storage in `<shared>/<name>` through `node`; its uuid.
async fn add_local_storage(node: &Node, session: &str, shared: &Shared, name: &str) -> String {
    let dir = shared.dir.path().join(name);
    let add = AddBackupStorageRequest {
        name: name.into(),
        r#type: "Local".into(),
        url: dir.display().to_string(),
        ..Default::default()
    };
    let added = node
        .storages()
        .add_backup_storage(authed(session, add))
        .await;
    added.unwrap().into_inner().inventory.unwrap().uuid
}

/// AddImage of the file `source` into `storage`, through `node`.
async fn add_file_image(
    node: &Node,
    session: &str,
    storage: &str,
    source: &std::path::Path,
) -> ImageInventory {
    let add = AddImageRequest {
        name: "on a Local storage".into(),
        url: format!("file://{}", source.display()),
        format: "raw".into(),
        backup_storage_uuids: vec![storage.to_string()],
        ..Default::default()
    };
    let added = node.images().add_image(authed(session, add)).await.unwrap();
    added.into_inner().inventory.unwrap()
}

#[tokio::test]
async fn a_local_image_is_added_hashed_and_deleted_through_a_server_that_does_not_hold_it() {
    let shared = Shared::new();
    let a = Node::start(&shared, "a").await;
    let b = Node::start(&shared, "b").await;
    let session = b.login().await;
    let storage = add_local_storage(&a, &session, &shared, "on-a").await;
    let source = shared.dir.path().join("source.raw");
    random_file(&source, 3 << 20);

    let image = add_file_image(&b, &session, &storage, &source).await;
    assert!(b.logged("forwarding AddImage to the node holding the storage"));
    let copy = std::path::PathBuf::from(&image.backup_storage_refs[0].install_path);
    assert!(copy.starts_with(shared.dir.path().join("on-a")), "{copy:?}");

    let request = authed(&session, hash_request(&image.uuid, &storage, "md5"));
    let answer = b.images().calculate_image_hash(request).await.unwrap();
    let hash = answer.into_inner().hash.unwrap();
    assert_eq!(hash.value, digest_of("md5sum", &source));
    assert!(b.logged("forwarding CalculateImageHash to the node holding the storage"));

    let delete = DeleteImageRequest {
        uuid: image.uuid.clone(),
    };
    b.images()
        .delete_image(authed(&session, delete))
        .await
        .unwrap();
    assert!(b.logged("forwarding DeleteImage to the node holding the storage"));
    assert!(!copy.exists(), "the copy made on a stays after the delete");
}

#[tokio::test]
async fn with_the_server_holding_the_storage_down_a_call_about_it_is_sys_1006_naming_it() {
    let shared = Shared::new();
    let mut a = Node::start(&shared, "a").await;
    let b = Node::start(&shared, "b").await;
    let session = a.login().await;
    let storage = add_local_storage(&a, &session, &shared, "on-a").await;
    let source = shared.dir.path().join("source.raw");
    random_file(&source, 1 << 20);
    let image = add_file_image(&a, &session, &storage, &source).await.uuid;
    let a_addr = a.addr.to_string();
    a.kill();

    let request = authed(&session, hash_request(&image, &storage, "md5"));
    let answer = b.images().calculate_image_hash(request).await;
    let status = assert_zstack_error(answer, Code::Unavailable, "SYS.1006");
    assert!(status.message().contains("node 'a'"), "{status:?}");
    assert!(status.message().contains(&a_addr), "{status:?}");
}

#[tokio::test]
async fn a_server_starting_leaves_another_servers_copy_in_progress_alone() {
    let shared = Shared::new();
    let a = Node::start(&shared, "a").await;
    let session = a.login().await;
    let storage = add_local_storage(&a, &session, &shared, "on-a").await;
    // 4 GiB of holes: MD5 still reads every byte, seconds of copying.
    let source = shared.dir.path().join("big.raw");
    std::fs::File::create(&source)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let adding = {
        let (a_images, session, storage, source) =
            (a.images(), session.clone(), storage.clone(), source.clone());
        tokio::spawn(async move {
            let add = AddImageRequest {
                name: "copying".into(),
                url: format!("file://{}", source.display()),
                format: "raw".into(),
                backup_storage_uuids: vec![storage],
                ..Default::default()
            };
            let mut images = a_images;
            images.add_image(authed(&session, add)).await
        })
    };
    let storage_dir = shared.dir.path().join("on-a");
    let copying = || {
        std::fs::read_dir(&storage_dir)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
    };
    while !copying() {
        assert!(!adding.is_finished(), "the copy ended before b started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _b = Node::start(&shared, "b").await;
    assert!(
        copying(),
        "b's start removed a's temp file (or the copy already ended)"
    );
    let added = adding.await.unwrap().expect("a's copy survives b's start");
    let image = added.into_inner().inventory.unwrap();
    assert_eq!(image.status, "Ready");
}
