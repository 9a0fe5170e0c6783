//! Malformed requests across every RPC: each is refused with the ZStack code and gRPC status
//! of docs/errors.md's table, and none changes the inventory or the storage directories; the
//! server still answers the health check afterwards.
//!
//! Decisions this table pins down:
//! - An empty (or blank) `algorithm` is taken as absent, which ZStack defaults to MD5: not an
//!   error (checked in the setup, against md5sum).
//! - A url that leads out of a backup storage (`..`, a symlink) is never registered in place:
//!   it is canonicalised first, so it is either refused (not a regular file, missing) or
//!   copied into the storage like any outside file.
//! - A message beyond tonic's 4 MiB decode limit is refused by tonic before our handler runs,
//!   so it carries OUT_OF_RANGE and no ZStack ErrorCode.

use std::path::Path;

use imghash::grpc::proto::*;
use tonic::{Code, Status};

use crate::harness::*;

const NO_SUCH_UUID: &str = "0123456789abcdef0123456789abcdef";

/// One RPC call with its request.
#[derive(Clone, Debug)]
enum Call {
    Hash(CalculateImageHashRequest),
    HashStream(CalculateImageHashRequest),
    AddImage(AddImageRequest),
    GetImage(String),
    DeleteImage(String),
    QueryImage(Vec<String>),
    AddStorage(AddBackupStorageRequest),
    QueryStorage(Vec<String>),
    DeleteStorage(String),
    LogIn(String, String),
    LogOut(String),
}

async fn send(server: &TestServer, session: &str, call: Call) -> Result<(), Status> {
    match call {
        Call::Hash(r) => server
            .images()
            .calculate_image_hash(authed(session, r))
            .await
            .map(drop),
        Call::HashStream(r) => {
            let mut stream = server
                .images()
                .calculate_image_hash_stream(authed(session, r))
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
        Call::AddImage(r) => server
            .images()
            .add_image(authed(session, r))
            .await
            .map(drop),
        Call::GetImage(uuid) => server
            .images()
            .get_image(authed(session, GetImageRequest { uuid }))
            .await
            .map(drop),
        Call::DeleteImage(uuid) => server
            .images()
            .delete_image(authed(session, DeleteImageRequest { uuid }))
            .await
            .map(drop),
        Call::QueryImage(conditions) => server
            .images()
            .query_image(authed(
                session,
                QueryImageRequest {
                    conditions,
                    limit: 0,
                },
            ))
            .await
            .map(drop),
        Call::AddStorage(r) => server
            .storages()
            .add_backup_storage(authed(session, r))
            .await
            .map(drop),
        Call::QueryStorage(conditions) => server
            .storages()
            .query_backup_storage(authed(
                session,
                QueryBackupStorageRequest {
                    conditions,
                    limit: 0,
                },
            ))
            .await
            .map(drop),
        Call::DeleteStorage(uuid) => server
            .storages()
            .delete_backup_storage(authed(session, DeleteBackupStorageRequest { uuid }))
            .await
            .map(drop),
        Call::LogIn(account_name, password) => server
            .accounts()
            .log_in_by_account(LogInByAccountRequest {
                account_name,
                password,
                ..Default::default()
            })
            .await
            .map(drop),
        Call::LogOut(session_uuid) => server
            .accounts()
            .log_out(LogOutRequest { session_uuid })
            .await
            .map(drop),
    }
}

#[tokio::test]
async fn malformed_requests_get_their_zstack_code_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let storage_dir = Path::new(&storage.url).to_path_buf();
    let file = storage_dir.join("small.raw");
    make_random(&file, 4096);
    let image = server.add_image(&session, &file, "raw").await.unwrap();

    // An empty algorithm is absent, and absent is MD5 (ZStack's default); the result is
    // recorded, so the snapshot below holds an md5Sum and a hash record.
    for blank in ["", "  "] {
        let hashed = server
            .images()
            .calculate_image_hash(authed(
                &session,
                hash_request(&image.uuid, &storage.uuid, blank),
            ))
            .await
            .expect("an empty algorithm means MD5")
            .into_inner();
        let hash = hashed.hash.unwrap();
        assert_eq!(hash.algorithm, "md5");
        assert_eq!(hash.value, reference_digest("md5sum", &file));
    }

    // Things a url can lead to from inside the storage.
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let link_to_dir = storage_dir.join("link-to-dir.raw");
    std::os::unix::fs::symlink(&outside, &link_to_dir).unwrap();
    let dangling = storage_dir.join("dangling.raw");
    std::os::unix::fs::symlink(outside.join("nothing"), &dangling).unwrap();
    let looping = storage_dir.join("loop.raw");
    std::os::unix::fs::symlink(&looping, &looping).unwrap();
    let a_file = file.display().to_string();
    let new_dir = dir.path().join("never-created");

    let hash = |uuid: &str, bs: &str, alg: &str, chunk: &str| {
        let mut r = hash_request(uuid, bs, alg);
        r.calculate_image_hash.as_mut().unwrap().chunk_size = chunk.into();
        r
    };
    let img = image.uuid.as_str();
    let bs = storage.uuid.as_str();
    let add = |url: &str, format: &str, storages: Vec<String>| AddImageRequest {
        name: "bad".into(),
        url: url.to_string(),
        format: format.into(),
        backup_storage_uuids: storages,
        ..Default::default()
    };
    let file_url = format!("file://{a_file}");
    let ok_storages = vec![bs.to_string()];
    let add_storage = |name: &str, kind: &str, url: &str| AddBackupStorageRequest {
        name: name.into(),
        r#type: kind.into(),
        url: url.into(),
        ..Default::default()
    };
    let long = |n: usize| "x".repeat(n);

    use Call::*;
    let invalid = (Code::InvalidArgument, "SYS.1007");
    let cases: Vec<(&str, Call, (Code, &str))> = vec![
        // CalculateImageHash: uuids.
        ("empty image uuid", Hash(hash("", bs, "md5", "")), invalid),
        (
            "non-hex image uuid",
            Hash(hash("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", bs, "md5", "")),
            invalid,
        ),
        (
            "upper-case image uuid",
            Hash(hash(&img.to_uppercase(), bs, "md5", "")),
            invalid,
        ),
        (
            "over-long image uuid",
            Hash(hash(&format!("{img}0"), bs, "md5", "")),
            invalid,
        ),
        (
            "10 KiB image uuid",
            Hash(hash(&"a".repeat(10 << 10), bs, "md5", "")),
            invalid,
        ),
        (
            // 16 two-byte characters: 32 bytes, as long as a uuid.
            "unicode image uuid of 32 bytes",
            Hash(hash(&"é".repeat(16), bs, "md5", "")),
            invalid,
        ),
        (
            "image uuid with a NUL",
            Hash(hash(&format!("{}\0", &img[..31]), bs, "md5", "")),
            invalid,
        ),
        (
            "no calculateImageHash body",
            Hash(CalculateImageHashRequest {
                uuid: img.into(),
                ..Default::default()
            }),
            invalid,
        ),
        (
            "missing backupStorageUuid",
            Hash(hash(img, "", "md5", "")),
            invalid,
        ),
        (
            "non-hex backupStorageUuid",
            Hash(hash(img, "../../etc", "md5", "")),
            invalid,
        ),
        // Algorithms and chunk sizes.
        ("unknown algorithm", Hash(hash(img, bs, "md4", "")), invalid),
        (
            "algorithm with SQL in it",
            Hash(hash(img, bs, "md5'; DROP TABLE image;--", "")),
            invalid,
        ),
        (
            "zero chunk size",
            Hash(hash(img, bs, "merkle-sha256", "0B")),
            invalid,
        ),
        (
            "negative chunk size",
            Hash(hash(img, bs, "merkle-sha256", "-1MiB")),
            invalid,
        ),
        (
            "chunk size above 1 GiB",
            Hash(hash(img, bs, "merkle-sha256", "2GiB")),
            invalid,
        ),
        (
            "chunk size that overflows",
            Hash(hash(img, bs, "merkle-sha256", "99999999999GiB")),
            invalid,
        ),
        (
            "unit-less chunk size",
            Hash(hash(img, bs, "merkle-sha256", "4096")),
            invalid,
        ),
        (
            "chunk size with an unknown unit",
            Hash(hash(img, bs, "merkle-sha256", "4MiBs")),
            invalid,
        ),
        (
            "chunk size for an algorithm that takes none",
            Hash(hash(img, bs, "md5", "4MiB")),
            invalid,
        ),
        (
            "unknown image",
            Hash(hash(NO_SUCH_UUID, bs, "md5", "")),
            (Code::NotFound, "SYS.1003"),
        ),
        (
            "stream: unicode uuid",
            HashStream(hash("ü", bs, "md5", "")),
            invalid,
        ),
        (
            "stream: unknown algorithm",
            HashStream(hash(img, bs, "crc32", "")),
            invalid,
        ),
        // AddImage.
        (
            "add image: empty name",
            AddImage(AddImageRequest {
                name: String::new(),
                ..add(&file_url, "raw", ok_storages.clone())
            }),
            invalid,
        ),
        (
            "add image: 256-character name",
            AddImage(AddImageRequest {
                name: long(256),
                ..add(&file_url, "raw", ok_storages.clone())
            }),
            invalid,
        ),
        (
            "add image: 1 MiB description",
            AddImage(AddImageRequest {
                description: long(1 << 20),
                ..add(&file_url, "raw", ok_storages.clone())
            }),
            invalid,
        ),
        (
            "add image: empty url",
            AddImage(add("", "raw", ok_storages.clone())),
            invalid,
        ),
        (
            "add image: http url",
            AddImage(add(
                "http://example.com/a.qcow2",
                "raw",
                ok_storages.clone(),
            )),
            invalid,
        ),
        (
            "add image: relative file url",
            AddImage(add("file://small.raw", "raw", ok_storages.clone())),
            invalid,
        ),
        (
            "add image: traversal to a directory",
            AddImage(add(
                &format!("file://{}/../..", storage_dir.display()),
                "raw",
                ok_storages.clone(),
            )),
            invalid,
        ),
        (
            "add image: traversal to a missing file",
            AddImage(add(
                &format!("file://{}/../../../no/such/file", storage_dir.display()),
                "raw",
                ok_storages.clone(),
            )),
            invalid,
        ),
        (
            "add image: symlink out of the storage to a directory",
            AddImage(add(
                &format!("file://{}", link_to_dir.display()),
                "raw",
                ok_storages.clone(),
            )),
            invalid,
        ),
        (
            "add image: dangling symlink",
            AddImage(add(
                &format!("file://{}", dangling.display()),
                "raw",
                ok_storages.clone(),
            )),
            invalid,
        ),
        (
            "add image: symlink loop",
            AddImage(add(
                &format!("file://{}", looping.display()),
                "raw",
                ok_storages.clone(),
            )),
            invalid,
        ),
        (
            "add image: a character device (endless /dev/zero)",
            AddImage(add("file:///dev/zero", "raw", ok_storages.clone())),
            invalid,
        ),
        (
            "add image: unknown format",
            AddImage(add(&file_url, "qcow3", ok_storages.clone())),
            invalid,
        ),
        (
            "add image: empty format",
            AddImage(add(&file_url, "", ok_storages.clone())),
            invalid,
        ),
        (
            "add image: media type in the wrong case",
            AddImage(AddImageRequest {
                media_type: "iso".into(),
                ..add(&file_url, "raw", ok_storages.clone())
            }),
            invalid,
        ),
        (
            "add image: unknown architecture",
            AddImage(AddImageRequest {
                architecture: "amd64".into(),
                ..add(&file_url, "raw", ok_storages.clone())
            }),
            invalid,
        ),
        (
            "add image: no backup storage",
            AddImage(add(&file_url, "raw", vec![])),
            invalid,
        ),
        (
            "add image: malformed backup storage uuid",
            AddImage(add(&file_url, "raw", vec!["default".into()])),
            invalid,
        ),
        (
            "add image: unknown backup storage",
            AddImage(add(&file_url, "raw", vec![NO_SUCH_UUID.into()])),
            (Code::NotFound, "SYS.1003"),
        ),
        (
            "add image: the same backup storage twice",
            AddImage(add(&file_url, "raw", vec![bs.into(), bs.into()])),
            invalid,
        ),
        // AddBackupStorage.
        (
            "add storage: relative url",
            AddStorage(add_storage("s", "Local", "relative/dir")),
            invalid,
        ),
        (
            "add storage: url is a file",
            AddStorage(add_storage("s", "Local", &a_file)),
            invalid,
        ),
        (
            "add storage: unknown type",
            AddStorage(add_storage("s", "Ceph", &new_dir.display().to_string())),
            invalid,
        ),
        (
            "add storage: empty type",
            AddStorage(add_storage("s", "", &new_dir.display().to_string())),
            invalid,
        ),
        (
            "add storage: empty name",
            AddStorage(add_storage("", "Local", &new_dir.display().to_string())),
            invalid,
        ),
        (
            "add storage: duplicate name",
            AddStorage(add_storage(
                "default",
                "Local",
                &new_dir.display().to_string(),
            )),
            invalid,
        ),
        (
            "add storage: url with a NUL",
            AddStorage(add_storage("s", "Local", "/tmp/a\0b")),
            invalid,
        ),
        // Queries.
        (
            "query image: unknown field",
            QueryImage(vec!["nosuch=1".into()]),
            invalid,
        ),
        (
            "query image: unknown operator",
            QueryImage(vec!["name%%foo".into()]),
            invalid,
        ),
        (
            "query image: no operator",
            QueryImage(vec!["name".into()]),
            invalid,
        ),
        (
            "query image: empty condition",
            QueryImage(vec!["".into()]),
            invalid,
        ),
        (
            "query image: no field",
            QueryImage(vec!["=foo".into()]),
            invalid,
        ),
        (
            "query storage: a field of images",
            QueryStorage(vec!["md5Sum is null".into()]),
            invalid,
        ),
        (
            "query storage: SQL as a field",
            QueryStorage(vec!["name;DROP TABLE image;--=1".into()]),
            invalid,
        ),
        // Get, delete.
        ("get image: empty uuid", GetImage(String::new()), invalid),
        (
            "delete image: non-hex uuid",
            DeleteImage("../../../etc/passwd".into()),
            invalid,
        ),
        (
            "delete storage: unicode uuid",
            DeleteStorage("🦀".repeat(8)),
            invalid,
        ),
        (
            "delete storage: one that holds images",
            DeleteStorage(bs.into()),
            (Code::FailedPrecondition, "SYS.1006"),
        ),
        // Accounts.
        (
            "log in: empty account name",
            LogIn(String::new(), ADMIN_PASSWORD.into()),
            invalid,
        ),
        (
            "log in: empty password",
            LogIn("admin".into(), String::new()),
            invalid,
        ),
        ("log out: malformed uuid", LogOut("x".into()), invalid),
    ];
    assert!(cases.len() >= 30);

    let before = server.inventory_dump();
    let listing = (dir_listing(&storage_dir), dir_listing(dir.path()));
    for (name, call, (code, zstack)) in cases {
        let result = send(&server, &session, call).await;
        let status = match result {
            Err(status) => status,
            Ok(()) => panic!("{name}: accepted"),
        };
        assert_eq!(status.code(), code, "{name}: {status:?}");
        assert!(
            status.message().starts_with(&format!("{zstack}: ")),
            "{name}: {status:?}"
        );
        assert_eq!(error_code_of(&status).code, zstack, "{name}");
        assert_eq!(
            server.inventory_dump(),
            before,
            "{name} changed the inventory"
        );
    }
    assert_eq!(
        (dir_listing(&storage_dir), dir_listing(dir.path())),
        listing,
        "no file was created or removed"
    );
    assert!(server.healthy().await);
    server.stop().await;
}

#[tokio::test]
async fn a_message_over_4_mib_is_out_of_range_and_the_server_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let before = server.inventory_dump();
    let huge = AddImageRequest {
        name: "x".repeat(5 << 20),
        url: "file:///dev/null".into(),
        format: "raw".into(),
        backup_storage_uuids: vec![storage.uuid.clone()],
        ..Default::default()
    };
    // Refused by tonic's decoder (4 MiB by default) before our handler: no ZStack code.
    let status = server
        .images()
        .add_image(authed(&session, huge))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    let huge_query = QueryImageRequest {
        conditions: vec!["name=".to_string() + &"y".repeat(5 << 20)],
        limit: 0,
    };
    let status = server
        .images()
        .query_image(authed(&session, huge_query))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(server.inventory_dump(), before);
    assert!(server.healthy().await);
    // The connection is still usable for ordinary calls.
    server.default_storage(&session).await;
    server.stop().await;
}

#[tokio::test]
async fn a_url_leading_out_of_the_storage_is_copied_never_registered_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let storage_dir = Path::new(&storage.url);
    let outside = dir.path().join("outside.raw");
    make_random(&outside, 8192);
    let link = storage_dir.join("link.raw");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let traversal = storage_dir.join("../../outside.raw");
    assert_eq!(
        traversal.canonicalize().unwrap(),
        outside.canonicalize().unwrap()
    );
    for path in [&link, &traversal] {
        let image = server.add_image(&session, path, "raw").await.unwrap();
        let install = Path::new(&image.backup_storage_refs[0].install_path);
        assert_eq!(install.parent(), Some(storage.url.as_ref()), "{image:?}");
        assert_eq!(
            install.file_name().unwrap().to_string_lossy(),
            format!("{}.raw", image.uuid)
        );
        assert!(!install.is_symlink());
        assert_eq!(
            image.md5_sum.as_deref(),
            Some(reference_digest("md5sum", &outside).as_str())
        );
        // Deleting the image removes the copy, never the outside file or the link.
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
        assert!(!install.exists());
    }
    assert!(outside.is_file() && link.is_symlink());
    server.stop().await;
}
