//! Confinement: `file://` sources only from import roots, storage directories only in
//! storage roots, with neither `..` nor a symlink leading out, and one refusal sentence
//! whatever the reason (no oracle on files outside); and RFC 8089 `file:` urls.

use std::path::{Path, PathBuf};

use imghash::grpc::proto::*;
use tonic::Code;

use crate::harness::*;

/// A server whose only import and storage root is `<dir>/root`.
async fn confined(dir: &Path) -> (TestServer, PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let roots = root.clone();
    let server = TestServer::start_with(dir, move |c| {
        c.import_roots = vec![roots.clone()];
        c.storage_roots = vec![roots];
    })
    .await;
    (server, root)
}

async fn add_url(
    server: &TestServer,
    session: &str,
    url: &str,
) -> Result<ImageInventory, tonic::Status> {
    let bs = server.default_storage(session).await;
    server
        .images()
        .add_image(authed(
            session,
            AddImageRequest {
                name: "confined".into(),
                url: url.into(),
                format: "raw".into(),
                backup_storage_uuids: vec![bs.uuid],
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner().inventory.unwrap())
}

#[tokio::test]
async fn sources_outside_the_import_roots_get_one_refusal_whatever_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (server, root) = confined(dir.path()).await;
    let session = server.login().await;
    let secret = dir.path().join("secret.raw");
    make_random(&secret, 4096);
    std::os::unix::fs::symlink(&secret, root.join("link-out.raw")).unwrap();
    std::os::unix::fs::symlink("../secret.raw", root.join("relative-out.raw")).unwrap();
    let before = server.inventory_dump();

    let refused = [
        format!("file://{}", root.join("link-out.raw").display()),
        format!("file://{}", root.join("relative-out.raw").display()),
        format!("file://{}/../secret.raw", root.display()),
        format!("file://{}", secret.display()),
        "file:///etc/shadow".to_string(),
        format!("file://{}", root.join("missing.raw").display()),
        format!("file://{}", root.display()),
    ];
    let mut sentences = Vec::new();
    for url in &refused {
        let status = assert_zstack_error(
            add_url(&server, &session, url).await,
            Code::InvalidArgument,
            "SYS.1007",
        );
        assert!(status.message().contains(url.as_str()), "{status:?}");
        sentences.push(status.message().replace(url.as_str(), "<url>"));
    }
    sentences.dedup();
    assert_eq!(
        sentences.len(),
        1,
        "one sentence for every reason: {sentences:?}"
    );
    assert_eq!(server.inventory_dump(), before);

    // Inside the root, through a symlink that stays inside: fine.
    let inside = root.join("inside.raw");
    make_random(&inside, 4096);
    std::os::unix::fs::symlink("inside.raw", root.join("link-in.raw")).unwrap();
    let url = format!("file://{}", root.join("link-in.raw").display());
    let added = add_url(&server, &session, &url).await.unwrap();
    assert_eq!(
        added.md5_sum.as_deref(),
        Some(reference_digest("md5sum", &inside).as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn storage_directories_outside_the_storage_roots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, root) = confined(dir.path()).await;
    let session = server.login().await;
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
    let add = |url: String| {
        let mut storages = server.storages();
        let session = session.clone();
        async move {
            storages
                .add_backup_storage(authed(
                    &session,
                    AddBackupStorageRequest {
                        name: url.clone(),
                        r#type: "Local".into(),
                        url,
                        ..Default::default()
                    },
                ))
                .await
        }
    };
    let before = server.inventory_dump();
    for url in [
        "/etc".to_string(),
        "/".to_string(),
        format!("{}/../outside", root.display()),
        format!("{}/etc-link", root.display()),
        format!("{}/etc-link/imghash", root.display()),
    ] {
        let status = assert_zstack_error(add(url.clone()).await, Code::InvalidArgument, "SYS.1007");
        assert!(status.message().contains(&url), "{status:?}");
    }
    assert_eq!(server.inventory_dump(), before);
    assert!(!dir.path().join("outside").exists());
    assert!(!Path::new("/etc/imghash").exists());

    // A new directory inside the root is created, private.
    use std::os::unix::fs::PermissionsExt;
    let wanted = root.join("a/b");
    add(wanted.display().to_string()).await.unwrap();
    let mode = std::fs::metadata(&wanted).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    server.stop().await;
}

#[tokio::test]
async fn file_urls_take_localhost_and_percent_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let spaced = dir.path().join("a b.raw");
    make_random(&spaced, 4096);
    let md5 = reference_digest("md5sum", &spaced);
    let escaped = format!("{}/a%20b.raw", dir.path().display());
    for url in [
        format!("file://{escaped}"),
        format!("file://localhost{escaped}"),
    ] {
        let added = add_url(&server, &session, &url).await.unwrap();
        assert_eq!(added.md5_sum.as_deref(), Some(md5.as_str()), "{url}");
        assert_eq!(added.url, url);
    }
    let bad = format!("file://{}/a%2.raw", dir.path().display());
    let status = assert_zstack_error(
        add_url(&server, &session, &bad).await,
        Code::InvalidArgument,
        "SYS.1007",
    );
    assert!(status.message().contains(&bad), "{status:?}");
    assert!(status.message().contains("percent-escape"), "{status:?}");
    server.stop().await;
}

#[test]
fn the_roots_come_from_the_environment_colon_separated_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-root");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imghash"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env(
            "IMGHASH_IMPORT_ROOTS",
            format!("{}:{}", dir.path().display(), missing.display()),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--import-root"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
