//! The store on a real SQLite file in a temporary directory, or on a fresh PostgreSQL
//! database when `IMGHASH_TEST_DATABASE_URL` is set (see `support/`).

use imghash_store::{
    new_uuid, Account, BackupStorage, CephSettings, Condition, HashRecord, Image, ImageRef, Op,
    Session, Store, StoreError, SCHEMA_VERSION,
};

const T0: i64 = 1_700_000_000_000;

#[path = "support/mod.rs"]
mod support;

use support::{fixture, sqlite_fixture, Fixture};

fn storage(name: &str) -> BackupStorage {
    BackupStorage {
        uuid: new_uuid(),
        name: name.into(),
        description: format!("{name} storage"),
        storage_type: "Local".into(),
        url: format!("/srv/{name}"),
        state: "Enabled".into(),
        status: "Connected".into(),
        total_capacity: 1 << 40,
        available_capacity: 1 << 39,
        create_date: T0,
        last_op_date: T0,
    }
}

fn image(name: &str, create_date: i64) -> Image {
    Image {
        uuid: new_uuid(),
        name: name.into(),
        description: String::new(),
        state: "Enabled".into(),
        status: "Ready".into(),
        size: 10 << 30,
        actual_size: 2 << 30,
        md5_sum: None,
        url: format!("file:///images/{name}.qcow2"),
        media_type: "RootVolumeTemplate".into(),
        guest_os_type: "CentOS 7".into(),
        image_type: "zstack".into(),
        platform: "Linux".into(),
        architecture: "x86_64".into(),
        format: "qcow2".into(),
        virtio: true,
        system: false,
        create_date,
        last_op_date: create_date,
    }
}

fn image_ref(image: &Image, bs: &BackupStorage) -> ImageRef {
    ImageRef {
        image_uuid: image.uuid.clone(),
        backup_storage_uuid: bs.uuid.clone(),
        install_path: format!("{}/{}.qcow2", bs.url, image.uuid),
        export_url: None,
        export_md5_sum: None,
        status: "Ready".into(),
        create_date: image.create_date,
        last_op_date: image.create_date,
    }
}

fn hash(image: &Image, bs: &BackupStorage, algorithm: &str, value: &str) -> HashRecord {
    HashRecord {
        image_uuid: image.uuid.clone(),
        backup_storage_uuid: bs.uuid.clone(),
        algorithm: algorithm.into(),
        chunk_size: None,
        mode: "file".into(),
        value: value.into(),
        bytes: image.actual_size,
        seconds: 1.5,
        create_date: T0 + 1000,
    }
}

/// A storage and one image on it.
fn with_image(f: &Fixture) -> (BackupStorage, Image) {
    let bs = storage("local");
    f.store.add_backup_storage(&bs).unwrap();
    let img = image("centos", T0);
    f.store.add_image(&img, &[image_ref(&img, &bs)]).unwrap();
    (bs, img)
}

fn account(name: &str) -> Account {
    Account {
        uuid: new_uuid(),
        name: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        create_date: T0,
        last_op_date: T0,
    }
}

// ---- opening and migrations ----

#[test]
fn open_creates_the_schema_in_wal_mode() {
    let f = sqlite_fixture();
    assert_eq!(f.store.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = support::raw(f.path())
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn opening_twice_is_idempotent_and_keeps_data() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let again = f.reopen().unwrap();
    assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(again.get_image(&img.uuid).unwrap(), Some(img));
    assert_eq!(again.get_backup_storage(&bs.uuid).unwrap(), Some(bs));
}

#[test]
fn data_persists_after_close_and_reopen() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let updated = f
        .store
        .record_hash(
            &hash(&img, &bs, "md5", "0123456789abcdef0123456789abcdef"),
            Some("0123456789abcdef0123456789abcdef"),
            T0 + 5,
        )
        .unwrap();
    let acc = account("admin");
    f.store.add_account(&acc).unwrap();
    let Fixture {
        store,
        backend,
        _dir,
    } = f;
    drop(store);

    let store = backend.reopen().unwrap();
    assert_eq!(store.get_image(&img.uuid).unwrap(), Some(updated));
    assert_eq!(store.image_refs(&img.uuid).unwrap(), [image_ref(&img, &bs)]);
    assert_eq!(store.hash_records(&img.uuid).unwrap().len(), 1);
    assert_eq!(store.account_by_name("admin").unwrap(), Some(acc));
}

#[test]
fn open_refuses_a_database_from_a_newer_schema() {
    let f = fixture();
    f.set_schema_version(SCHEMA_VERSION + 1);
    let err = f.reopen().err().unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
}

#[test]
fn open_reports_the_path_it_could_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/inventory.db");
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Open { .. }));
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn add_image_on_unknown_backup_storage_is_not_found_and_adds_nothing() {
    let f = fixture();
    let img = image("orphan", T0);
    let missing = storage("missing");
    let err = f
        .store
        .add_image(&img, &[image_ref(&img, &missing)])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { kind: "backup storage", uuid } if *uuid == missing.uuid),
        "{err}"
    );
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), None);
}

// ---- backup storages ----

#[test]
fn backup_storage_add_get_and_capacity_update() {
    let f = fixture();
    let bs = storage("local");
    f.store.add_backup_storage(&bs).unwrap();
    assert_eq!(
        f.store.get_backup_storage(&bs.uuid).unwrap(),
        Some(bs.clone())
    );
    assert_eq!(f.store.get_backup_storage(&new_uuid()).unwrap(), None);

    let updated = f
        .store
        .update_backup_storage_capacity(&bs.uuid, 100, 40, T0 + 9)
        .unwrap();
    assert_eq!(
        updated,
        BackupStorage {
            total_capacity: 100,
            available_capacity: 40,
            last_op_date: T0 + 9,
            ..bs
        }
    );
    assert_eq!(
        f.store.get_backup_storage(&updated.uuid).unwrap(),
        Some(updated)
    );
    let missing = new_uuid();
    assert!(matches!(
        f.store.update_backup_storage_capacity(&missing, 1, 1, T0),
        Err(StoreError::NotFound {
            kind: "backup storage",
            ..
        })
    ));
}

#[test]
fn backup_storage_duplicate_name_or_uuid_is_reported_as_such() {
    let f = fixture();
    let bs = storage("local");
    f.store.add_backup_storage(&bs).unwrap();

    let same_name = storage("local");
    let err = f.store.add_backup_storage(&same_name).unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate { kind: "backup storage", field: "name", value } if value == "local"),
        "{err}"
    );

    let same_uuid = BackupStorage {
        name: "other".into(),
        ..bs.clone()
    };
    let err = f.store.add_backup_storage(&same_uuid).unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate { field: "uuid", value, .. } if *value == bs.uuid),
        "{err}"
    );
    assert!(err.to_string().contains(&bs.uuid));
}

#[test]
fn delete_backup_storage_in_use_deletes_nothing_and_counts_images() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let second = image("second", T0 + 1);
    f.store
        .add_image(&second, &[image_ref(&second, &bs)])
        .unwrap();

    let err = f.store.delete_backup_storage(&bs.uuid).unwrap_err();
    assert!(
        matches!(&err, StoreError::InUse { images: 2, uuid, .. } if *uuid == bs.uuid),
        "{err}"
    );
    assert!(err.to_string().contains("2 image"), "{err}");
    assert!(f.store.get_backup_storage(&bs.uuid).unwrap().is_some());

    f.store.delete_image(&img.uuid).unwrap();
    f.store.delete_image(&second.uuid).unwrap();
    f.store.delete_backup_storage(&bs.uuid).unwrap();
    assert_eq!(f.store.get_backup_storage(&bs.uuid).unwrap(), None);
    assert!(matches!(
        f.store.delete_backup_storage(&bs.uuid),
        Err(StoreError::NotFound { .. })
    ));
}

// ---- Ceph backup storages ----

fn ceph_storage(name: &str) -> (BackupStorage, CephSettings) {
    let bs = BackupStorage {
        storage_type: "Ceph".into(),
        url: "ceph://zs-images".into(),
        ..storage(name)
    };
    let settings = CephSettings {
        pool_name: "zs-images".into(),
        // Order matters to librados only for the first tried; keep it as given.
        mons: vec![
            "[v2:10.0.0.2:3300,v1:10.0.0.2:6789]".into(),
            "10.0.0.1:6789".into(),
        ],
        conf_path: None,
        client_id: "zstack".into(),
        keyring: Some("/etc/ceph/ceph.client.zstack.keyring".into()),
    };
    (bs, settings)
}

#[test]
fn ceph_backup_storage_settings_round_trip_with_mons_in_order() {
    let f = fixture();
    let (bs, settings) = ceph_storage("ceph");
    f.store.add_ceph_backup_storage(&bs, &settings).unwrap();
    assert_eq!(
        f.store.get_backup_storage(&bs.uuid).unwrap(),
        Some(bs.clone())
    );
    assert_eq!(f.store.ceph_settings(&bs.uuid).unwrap(), Some(settings));

    let (conf_only, mut from_conf) = ceph_storage("ceph-conf");
    from_conf.mons.clear();
    from_conf.conf_path = Some("/etc/ceph/ceph.conf".into());
    from_conf.keyring = None;
    f.store
        .add_ceph_backup_storage(&conf_only, &from_conf)
        .unwrap();
    assert_eq!(
        f.store.ceph_settings(&conf_only.uuid).unwrap(),
        Some(from_conf)
    );
    // Reopened, too.
    let again = f.reopen().unwrap();
    assert_eq!(
        again.ceph_settings(&bs.uuid).unwrap().unwrap().mons.len(),
        2
    );
}

#[test]
fn ceph_settings_of_a_local_or_unknown_storage_are_none() {
    let f = fixture();
    let local = storage("local");
    f.store.add_backup_storage(&local).unwrap();
    assert_eq!(f.store.ceph_settings(&local.uuid).unwrap(), None);
    assert_eq!(f.store.ceph_settings(&new_uuid()).unwrap(), None);
}

#[test]
fn ceph_backup_storage_with_a_taken_name_writes_nothing() {
    let f = fixture();
    let (first, settings) = ceph_storage("ceph");
    f.store.add_ceph_backup_storage(&first, &settings).unwrap();
    let (second, settings) = ceph_storage("ceph");
    let err = f
        .store
        .add_ceph_backup_storage(&second, &settings)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate { field: "name", value, .. } if value == "ceph"),
        "{err}"
    );
    assert_eq!(f.count("backup_storage"), 1);
    assert_eq!(f.count("ceph_backup_storage"), 1);
    assert_eq!(f.count("ceph_backup_storage_mon"), 2);
}

#[test]
fn deleting_a_ceph_backup_storage_deletes_its_settings() {
    let f = fixture();
    let (bs, settings) = ceph_storage("ceph");
    f.store.add_ceph_backup_storage(&bs, &settings).unwrap();
    let img = image("on-ceph", T0);
    let on_ceph = ImageRef {
        install_path: "ceph://zs-images/on-ceph".into(),
        ..image_ref(&img, &bs)
    };
    f.store.add_image(&img, &[on_ceph]).unwrap();
    assert!(matches!(
        f.store.delete_backup_storage(&bs.uuid),
        Err(StoreError::InUse { images: 1, .. })
    ));
    assert!(f.store.ceph_settings(&bs.uuid).unwrap().is_some());

    f.store.delete_image(&img.uuid).unwrap();
    f.store.delete_backup_storage(&bs.uuid).unwrap();
    assert_eq!(f.store.ceph_settings(&bs.uuid).unwrap(), None);
    assert_eq!(f.count("ceph_backup_storage"), 0);
    assert_eq!(f.count("ceph_backup_storage_mon"), 0);
}

// ---- images ----

#[test]
fn add_image_stores_image_and_refs() {
    let f = fixture();
    let a = storage("a");
    let b = storage("b");
    f.store.add_backup_storage(&a).unwrap();
    f.store.add_backup_storage(&b).unwrap();
    let mut img = image("centos", T0);
    img.md5_sum = Some("d41d8cd98f00b204e9800998ecf8427e".into());
    let mut ref_b = image_ref(&img, &b);
    ref_b.export_url = Some("http://example/export".into());
    ref_b.export_md5_sum = Some("abc".into());
    ref_b.create_date += 1;
    f.store
        .add_image(&img, &[image_ref(&img, &a), ref_b.clone()])
        .unwrap();

    assert_eq!(f.store.get_image(&img.uuid).unwrap(), Some(img.clone()));
    assert_eq!(
        f.store.image_refs(&img.uuid).unwrap(),
        [image_ref(&img, &a), ref_b.clone()]
    );
    assert_eq!(
        f.store.get_image_ref(&img.uuid, &b.uuid).unwrap(),
        Some(ref_b)
    );
    assert_eq!(f.store.get_image_ref(&img.uuid, &new_uuid()).unwrap(), None);
    assert_eq!(f.store.get_image(&new_uuid()).unwrap(), None);
    assert!(f.store.image_refs(&new_uuid()).unwrap().is_empty());
}

#[test]
fn add_image_is_all_or_nothing_when_a_ref_fails() {
    let f = fixture();
    let a = storage("a");
    f.store.add_backup_storage(&a).unwrap();
    let img = image("centos", T0);

    // The second ref repeats the storage: the image and the first ref must not stay.
    let err = f
        .store
        .add_image(&img, &[image_ref(&img, &a), image_ref(&img, &a)])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate { field: "backupStorageUuid", value, .. } if *value == a.uuid),
        "{err}"
    );
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), None);
    assert_eq!(f.count("image_backup_storage_ref"), 0);

    let mut foreign = image_ref(&img, &a);
    foreign.image_uuid = new_uuid();
    let err = f.store.add_image(&img, &[foreign]).unwrap_err();
    assert!(matches!(err, StoreError::InvalidRecord(_)), "{err}");
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), None);
}

#[test]
fn add_image_with_taken_uuid_is_a_duplicate() {
    let f = fixture();
    let (_, img) = with_image(&f);
    let err = f.store.add_image(&img, &[]).unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate { kind: "image", field: "uuid", value } if *value == img.uuid),
        "{err}"
    );
}

#[test]
fn image_status_updates_and_finish_sets_ready_sizes_and_md5() {
    let f = fixture();
    let bs = storage("local");
    f.store.add_backup_storage(&bs).unwrap();
    let mut img = image("new", T0);
    img.status = "Downloading".into();
    img.size = 0;
    img.actual_size = 0;
    f.store.add_image(&img, &[image_ref(&img, &bs)]).unwrap();
    assert_eq!(
        f.store.images_with_status("Downloading").unwrap(),
        [img.clone()]
    );

    let creating = f
        .store
        .update_image_status(&img.uuid, "Creating", T0 + 1)
        .unwrap();
    assert_eq!(
        (creating.status.as_str(), creating.last_op_date),
        ("Creating", T0 + 1)
    );
    assert!(f
        .store
        .images_with_status("Downloading")
        .unwrap()
        .is_empty());

    let ready = f
        .store
        .finish_image(
            &img.uuid,
            "Ready",
            4096,
            1024,
            Some("5d41402abc4b2a76b9719d911017c592"),
            T0 + 2,
        )
        .unwrap();
    assert_eq!(
        ready,
        Image {
            status: "Ready".into(),
            size: 4096,
            actual_size: 1024,
            md5_sum: Some("5d41402abc4b2a76b9719d911017c592".into()),
            last_op_date: T0 + 2,
            ..img.clone()
        }
    );
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), Some(ready));

    let missing = new_uuid();
    assert!(matches!(
        f.store.update_image_status(&missing, "Ready", T0),
        Err(StoreError::NotFound { kind: "image", .. })
    ));
    assert!(matches!(
        f.store.finish_image(&missing, "Ready", 1, 1, None, T0),
        Err(StoreError::NotFound { kind: "image", .. })
    ));
}

#[test]
fn delete_image_cascades_to_refs_and_hash_records() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let keep = image("keep", T0 + 1);
    f.store.add_image(&keep, &[image_ref(&keep, &bs)]).unwrap();
    f.store
        .record_hash(&hash(&img, &bs, "sha256", "aa"), None, T0)
        .unwrap();
    f.store
        .record_hash(&hash(&keep, &bs, "sha256", "bb"), None, T0)
        .unwrap();

    f.store.delete_image(&img.uuid).unwrap();
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), None);
    assert!(f.store.image_refs(&img.uuid).unwrap().is_empty());
    assert!(f.store.hash_records(&img.uuid).unwrap().is_empty());
    assert_eq!(f.count("image_backup_storage_ref"), 1);
    assert_eq!(f.count("hash_record"), 1);
    assert_eq!(f.store.hash_records(&keep.uuid).unwrap().len(), 1);

    assert!(matches!(
        f.store.delete_image(&img.uuid),
        Err(StoreError::NotFound { kind: "image", .. })
    ));
}

// ---- hashes ----

#[test]
fn record_hash_with_an_md5_sum_sets_it_and_last_op_date() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let rec = hash(&img, &bs, "md5", "9e107d9d372bb6826bd81d3542a419d6");
    let updated = f
        .store
        .record_hash(&rec, Some(&rec.value), T0 + 60_000)
        .unwrap();
    assert_eq!(
        updated,
        Image {
            md5_sum: Some(rec.value.clone()),
            last_op_date: T0 + 60_000,
            ..img.clone()
        }
    );
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), Some(updated));
    assert_eq!(f.store.hash_records(&img.uuid).unwrap(), [rec]);
}

#[test]
fn record_hash_without_an_md5_sum_never_touches_it() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let md5 = "9e107d9d372bb6826bd81d3542a419d6";
    f.store
        .record_hash(&hash(&img, &bs, "md5", md5), Some(md5), T0 + 1)
        .unwrap();

    let mut chunked_md5 = hash(&img, &bs, "md5", "ffff");
    chunked_md5.chunk_size = Some(4 << 20);
    for (i, rec) in [
        hash(&img, &bs, "sha256", "d7a8fbb3"),
        hash(&img, &bs, "merkle-sha256", "beef"),
        hash(&img, &bs, "MD5", "0000"),
        chunked_md5,
    ]
    .iter()
    .enumerate()
    {
        let now = T0 + 10 + i as i64;
        let updated = f.store.record_hash(rec, None, now).unwrap();
        assert_eq!(updated.md5_sum.as_deref(), Some(md5), "{}", rec.algorithm);
        assert_eq!(updated.last_op_date, now);
    }
    assert_eq!(f.store.hash_records(&img.uuid).unwrap().len(), 5);
}

#[test]
fn record_hash_replaces_same_key_and_keeps_other_chunk_sizes() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let mut a = hash(&img, &bs, "merkle-sha256", "first");
    a.chunk_size = Some(4 << 20);
    let mut b = a.clone();
    b.chunk_size = Some(1 << 20);
    let plain = hash(&img, &bs, "sha256", "plain1");
    f.store.record_hash(&a, None, T0).unwrap();
    f.store.record_hash(&b, None, T0).unwrap();
    f.store.record_hash(&plain, None, T0).unwrap();

    let a2 = HashRecord {
        value: "second".into(),
        seconds: 0.5,
        ..a.clone()
    };
    let plain2 = HashRecord {
        value: "plain2".into(),
        ..plain.clone()
    };
    f.store.record_hash(&a2, None, T0 + 1).unwrap();
    f.store.record_hash(&plain2, None, T0 + 1).unwrap();

    // Ordered by storage, algorithm, chunk size.
    assert_eq!(f.store.hash_records(&img.uuid).unwrap(), [b, a2, plain2]);
}

#[test]
fn a_file_and_a_content_hash_of_one_image_are_two_records() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let file = hash(&img, &bs, "sha256", "of-the-file");
    let content = HashRecord {
        mode: "content".into(),
        value: "of-the-disk".into(),
        ..file.clone()
    };
    f.store.record_hash(&file, None, T0).unwrap();
    f.store.record_hash(&content, None, T0).unwrap();
    let again = HashRecord {
        value: "of-the-disk-again".into(),
        ..content.clone()
    };
    f.store.record_hash(&again, None, T0 + 1).unwrap();
    // Ordered by storage, algorithm, chunk size, mode: "content" before "file".
    assert_eq!(f.store.hash_records(&img.uuid).unwrap(), [again, file]);
}

#[test]
fn record_hash_on_vanished_image_or_missing_ref_is_an_error_and_writes_nothing() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    let other = storage("other");
    f.store.add_backup_storage(&other).unwrap();

    let err = f
        .store
        .record_hash(&hash(&img, &other, "md5", "aa"), None, T0 + 1)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotOnBackupStorage { backup_storage_uuid, .. } if *backup_storage_uuid == other.uuid),
        "{err}"
    );

    f.store.delete_image(&img.uuid).unwrap();
    let err = f
        .store
        .record_hash(&hash(&img, &bs, "md5", "aa"), None, T0 + 1)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { kind: "image", uuid } if *uuid == img.uuid),
        "{err}"
    );
    assert!(err.to_string().contains(&img.uuid));
    assert_eq!(f.count("hash_record"), 0);
}

#[test]
fn record_hash_is_atomic_when_the_image_update_fails() {
    let f = fixture();
    let (bs, img) = with_image(&f);
    // Make the last statement of the transaction fail, after the record was inserted.
    f.fail_image_updates();

    let err = f
        .store
        .record_hash(&hash(&img, &bs, "md5", "aa"), None, T0 + 1)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Sqlite(_) | StoreError::Postgres(_)),
        "{err}"
    );
    assert!(f.store.hash_records(&img.uuid).unwrap().is_empty());
    assert_eq!(f.store.get_image(&img.uuid).unwrap(), Some(img));
}

// ---- accounts ----

#[test]
fn account_add_lookup_and_password_change() {
    let f = fixture();
    let acc = account("admin");
    f.store.add_account(&acc).unwrap();
    assert_eq!(f.store.account_by_name("admin").unwrap(), Some(acc.clone()));
    assert_eq!(f.store.account_by_name("Admin").unwrap(), None);
    assert_eq!(f.store.get_account(&acc.uuid).unwrap(), Some(acc.clone()));
    assert_eq!(f.store.get_account(&new_uuid()).unwrap(), None);

    f.store
        .set_account_password(&acc.uuid, "$argon2id$new", T0 + 1)
        .unwrap();
    let changed = f.store.get_account(&acc.uuid).unwrap().unwrap();
    assert_eq!(
        (changed.password_hash.as_str(), changed.last_op_date),
        ("$argon2id$new", T0 + 1)
    );
    assert!(matches!(
        f.store.set_account_password(&new_uuid(), "x", T0),
        Err(StoreError::NotFound {
            kind: "account",
            ..
        })
    ));
}

#[test]
fn account_duplicate_name_is_reported_with_the_name() {
    let f = fixture();
    f.store.add_account(&account("admin")).unwrap();
    let err = f.store.add_account(&account("admin")).unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate { kind: "account", field: "name", value } if value == "admin"),
        "{err}"
    );
    assert!(err.to_string().contains("'admin'"), "{err}");
}

// ---- sessions ----

const IDLE: i64 = 7_200_000;

fn session(acc: &Account, now: i64) -> Session {
    Session {
        uuid: new_uuid(),
        account_uuid: acc.uuid.clone(),
        user_uuid: acc.uuid.clone(),
        expired_date: now + IDLE,
        create_date: now,
    }
}

#[test]
fn touch_session_renews_before_expiry() {
    let f = fixture();
    let acc = account("admin");
    f.store.add_account(&acc).unwrap();
    let s = session(&acc, T0);
    f.store.add_session(&s).unwrap();

    let now = T0 + IDLE - 1;
    let renewed = f.store.touch_session(&s.uuid, now, IDLE).unwrap();
    assert_eq!(
        renewed,
        Some(Session {
            expired_date: now + IDLE,
            ..s.clone()
        })
    );
    // Renewed, so still alive past the original expiry.
    assert!(f
        .store
        .touch_session(&s.uuid, T0 + IDLE + 1, IDLE)
        .unwrap()
        .is_some());
}

#[test]
fn touch_session_at_or_after_expiry_returns_none_and_deletes_it() {
    let f = fixture();
    let acc = account("admin");
    f.store.add_account(&acc).unwrap();
    let s = session(&acc, T0);
    f.store.add_session(&s).unwrap();

    assert_eq!(
        f.store
            .touch_session(&s.uuid, s.expired_date, IDLE)
            .unwrap(),
        None
    );
    assert_eq!(f.count("session"), 0);
    assert_eq!(f.store.touch_session(&s.uuid, T0, IDLE).unwrap(), None);
    assert_eq!(f.store.touch_session(&new_uuid(), T0, IDLE).unwrap(), None);
}

#[test]
fn delete_session_and_sweep_expired_sessions() {
    let f = fixture();
    let acc = account("admin");
    f.store.add_account(&acc).unwrap();
    let early = session(&acc, T0);
    let late = session(&acc, T0 + 1000);
    let gone = session(&acc, T0);
    for s in [&early, &late, &gone] {
        f.store.add_session(s).unwrap();
    }

    assert!(f.store.delete_session(&gone.uuid).unwrap());
    assert!(!f.store.delete_session(&gone.uuid).unwrap());
    assert_eq!(
        f.store
            .delete_expired_sessions(early.expired_date - 1)
            .unwrap(),
        0
    );
    assert_eq!(
        f.store.delete_expired_sessions(early.expired_date).unwrap(),
        1
    );
    assert!(f
        .store
        .touch_session(&late.uuid, T0, IDLE)
        .unwrap()
        .is_some());
}

#[test]
fn add_session_for_unknown_account_is_not_found() {
    let f = fixture();
    let ghost = account("ghost");
    let err = f.store.add_session(&session(&ghost, T0)).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { kind: "account", uuid } if *uuid == ghost.uuid),
        "{err}"
    );
}

// ---- queries ----

/// Three images with distinct fields, created in order a, b, c.
fn query_fixture() -> (Fixture, [Image; 3]) {
    let f = fixture();
    let mut a = image("alpha-web", T0);
    a.size = 100;
    a.md5_sum = Some("aaaa".into());
    let mut b = image("beta-db", T0 + 1);
    b.size = 200;
    b.format = "raw".into();
    b.virtio = false;
    let mut c = image("gamma-web", T0 + 2);
    c.size = 300;
    c.media_type = "ISO".into();
    c.format = "iso".into();
    // Added out of order: results must still come by createDate.
    for img in [&c, &a, &b] {
        f.store.add_image(img, &[]).unwrap();
    }
    (f, [a, b, c])
}

fn names(images: &[Image]) -> Vec<&str> {
    images.iter().map(|i| i.name.as_str()).collect()
}

fn query(f: &Fixture, conditions: &[&str]) -> Vec<String> {
    let conds: Vec<Condition> = conditions
        .iter()
        .map(|c| Condition::parse(c).unwrap())
        .collect();
    names(&f.store.query_images(&conds, None).unwrap())
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn query_images_supports_every_operator() {
    let (f, [a, b, _]) = query_fixture();
    let cases: &[(&str, &[&str])] = &[
        ("name=beta-db", &["beta-db"]),
        ("name!=beta-db", &["alpha-web", "gamma-web"]),
        ("size>200", &["gamma-web"]),
        ("size<200", &["alpha-web"]),
        ("size>=200", &["beta-db", "gamma-web"]),
        ("size<=200", &["alpha-web", "beta-db"]),
        ("format?=raw,iso", &["beta-db", "gamma-web"]),
        ("format!?=raw,iso", &["alpha-web"]),
        ("name~=%-web", &["alpha-web", "gamma-web"]),
        ("name!~=%-web", &["beta-db"]),
        ("md5Sum is null", &["beta-db", "gamma-web"]),
        ("md5Sum not null", &["alpha-web"]),
        ("virtio=false", &["beta-db"]),
        ("mediaType=ISO", &["gamma-web"]),
        ("createDate>1700000000000", &["beta-db", "gamma-web"]),
        ("size?=100,300", &["alpha-web", "gamma-web"]),
    ];
    for (cond, expected) in cases {
        assert_eq!(query(&f, &[cond]), *expected, "{cond}");
    }
    let uuid_in = format!("uuid?={},{}", b.uuid, a.uuid);
    assert_eq!(query(&f, &[&uuid_in]), ["alpha-web", "beta-db"]);
}

#[test]
fn query_images_ands_conditions_orders_by_create_date_and_limits() {
    let (f, _) = query_fixture();
    assert_eq!(query(&f, &[]), ["alpha-web", "beta-db", "gamma-web"]);
    assert_eq!(query(&f, &["name~=%web", "size>100"]), ["gamma-web"]);
    let first_two = f.store.query_images(&[], Some(2)).unwrap();
    assert_eq!(names(&first_two), ["alpha-web", "beta-db"]);
    let built = [Condition::new("name", Op::Eq, "alpha-web")];
    assert_eq!(
        names(&f.store.query_images(&built, None).unwrap()),
        ["alpha-web"]
    );
}

#[test]
fn query_rejects_unknown_fields_naming_them() {
    let (f, _) = query_fixture();
    for field in [
        "password",
        "md5_sum",
        "name; DROP TABLE image",
        "totalCapacity",
    ] {
        let cond = Condition::new(field, Op::Eq, "x");
        let err = f.store.query_images(&[cond], None).unwrap_err();
        assert!(matches!(err, StoreError::InvalidCondition(_)), "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let err = f
        .store
        .query_backup_storages(&[Condition::new("mediaType", Op::Eq, "ISO")], None)
        .unwrap_err();
    assert!(err.to_string().contains("mediaType"), "{err}");
}

#[test]
fn query_rejects_unknown_operators_naming_them() {
    // "=>" reads as "=" with the value ">foo", as ZStack reads it.
    assert_eq!(
        Condition::parse("name=>foo").unwrap(),
        Condition::new("name", Op::Eq, ">foo")
    );
    let err = Condition::parse("name^=foo").unwrap_err();
    assert!(matches!(err, StoreError::InvalidCondition(_)));
    assert!(err.to_string().contains("'^=f'"), "{err}");
}

#[test]
fn sql_injection_looking_values_are_plain_values() {
    let (f, _) = query_fixture();
    let mut evil = image("x' OR '1'='1", T0 + 3);
    evil.description = "'); DROP TABLE image; --".into();
    f.store.add_image(&evil, &[]).unwrap();

    assert_eq!(query(&f, &["name=x' OR '1'='1"]), ["x' OR '1'='1"]);
    assert!(query(&f, &["name=' OR 1=1 --"]).is_empty());
    assert!(query(&f, &["uuid?=a') OR ('1'='1"]).is_empty());
    assert_eq!(
        query(&f, &["description='); DROP TABLE image; --"]),
        ["x' OR '1'='1"]
    );
    assert_eq!(query(&f, &[]).len(), 4);
}

#[test]
fn query_backup_storages_filters_on_rest_field_names() {
    let f = fixture();
    let a = storage("a");
    let mut b = storage("b");
    b.storage_type = "Ceph".into();
    b.state = "Disabled".into();
    b.create_date += 1;
    f.store.add_backup_storage(&a).unwrap();
    f.store.add_backup_storage(&b).unwrap();

    let q = |text: &str| {
        let cond = Condition::parse(text).unwrap();
        f.store
            .query_backup_storages(&[cond], None)
            .unwrap()
            .into_iter()
            .map(|bs| bs.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(q("type=Ceph"), ["b"]);
    assert_eq!(q("state!=Disabled"), ["a"]);
    assert_eq!(q("url~=/srv/%"), ["a", "b"]);
    assert_eq!(q(&format!("uuid={}", a.uuid)), ["a"]);
    assert_eq!(f.store.query_backup_storages(&[], Some(1)).unwrap(), [a]);
}
