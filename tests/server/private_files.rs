//! Nothing the server writes is readable by other local users: image copies may hold
//! secrets and the inventory holds live session ids (files 0600, directories 0700).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::harness::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_inventory_copies_and_storage_directories_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let source = dir.path().join("secret.raw");
    make_random(&source, 4096);
    std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o644)).unwrap();
    let image = server.add_image(&session, &source, "raw").await.unwrap();
    let copy = &image.backup_storage_refs[0].install_path;
    assert_ne!(Path::new(copy), source, "copied into the storage");

    let mut files = vec![Path::new(copy).to_owned()];
    // On PostgreSQL the inventory is the database server's to keep.
    if let Inventory::Sqlite(db) = &server.inventory {
        for suffix in ["", "-wal", "-shm"] {
            files.push(format!("{}{suffix}", db.display()).into());
        }
    }
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    for directory in [&server.data_dir, Path::new(&storage.url)] {
        assert_eq!(mode(directory), 0o700, "{}", directory.display());
    }
    server.stop().await;
}

#[tokio::test]
async fn an_inventory_left_readable_by_an_older_version_is_made_private_at_start() {
    if on_postgres() {
        eprintln!("skipped: the inventory is a PostgreSQL database, not a file");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.stop().await;
    let db = dir.path().join("data/imghash.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(mode(&db), 0o600);
    server.stop().await;
}
