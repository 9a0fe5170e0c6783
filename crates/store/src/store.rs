//! [`Store`]: the operations on the inventory.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{map_unique, Result, StoreError};
use crate::query::{self, Condition, BACKUP_STORAGE_FIELDS, IMAGE_FIELDS};
use crate::records::*;
use crate::schema::{self, Migrated, SCHEMA_VERSION};

/// How long a statement waits for another process's write lock before failing with
/// SQLITE_BUSY. Our own writes are short; this covers a concurrent `sqlite3` shell or backup.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The inventory: one SQLite connection, shared by all threads.
///
/// A single connection behind a mutex is enough: every operation is a few indexed statements
/// (well under a millisecond), while the work they bracket — hashing gigabytes — runs outside.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens the database file, creating it if needed, and brings its schema up to
    /// [`SCHEMA_VERSION`].
    ///
    /// The file is put in WAL mode with `synchronous=NORMAL`: a commit is durable against a
    /// process crash, and against power loss loses at most the last transactions, never
    /// consistency. Takes a `Path` because SQLite also creates `-wal` and `-shm` files next to it.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        Self::init(conn, path)
    }

    /// Opens a private in-memory database (for tests and examples); it vanishes when dropped.
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Self::init(conn, Path::new(":memory:"))
    }

    fn init(mut conn: Connection, path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        // busy_timeout first, so that switching to WAL waits for another process's lock.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Answers "memory" for an in-memory database, which is fine.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // Off by default in SQLite, and per connection: the cascades depend on it.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        match schema::migrate(&mut conn).map_err(open_err)? {
            Migrated::Current => Ok(Store {
                conn: Mutex::new(conn),
            }),
            Migrated::TooNew(found) => Err(StoreError::SchemaTooNew {
                path: path.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    /// The schema version of the open file (`PRAGMA user_version`); [`SCHEMA_VERSION`] once open.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped any open Transaction, which rolled back, so
        // the connection is consistent and the poison can be ignored.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- backup storages ----

    /// Adds a backup storage. [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_backup_storage(&self, bs: &BackupStorage) -> Result<()> {
        insert_backup_storage(&self.conn(), bs)
    }

    /// Adds a "Ceph" backup storage with its settings in one transaction: both or neither.
    /// [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_ceph_backup_storage(&self, bs: &BackupStorage, ceph: &CephSettings) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_backup_storage(&tx, bs)?;
        tx.execute(
            "INSERT INTO ceph_backup_storage (uuid, pool_name, conf_path, client_id, keyring) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                bs.uuid,
                ceph.pool_name,
                ceph.conf_path,
                ceph.client_id,
                ceph.keyring
            ],
        )?;
        for (position, mon) in ceph.mons.iter().enumerate() {
            tx.execute(
                "INSERT INTO ceph_backup_storage_mon (backup_storage_uuid, position, mon_addr) \
                 VALUES (?1, ?2, ?3)",
                params![bs.uuid, position as i64, mon],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The Ceph settings of the backup storage with this uuid; `None` if it does not exist or
    /// is not a Ceph storage.
    pub fn ceph_settings(&self, uuid: &str) -> Result<Option<CephSettings>> {
        let conn = self.conn();
        let Some(mut settings) = conn
            .prepare_cached(
                "SELECT pool_name, conf_path, client_id, keyring FROM ceph_backup_storage \
                 WHERE uuid = ?1",
            )?
            .query_row([uuid], |r| {
                Ok(CephSettings {
                    pool_name: r.get("pool_name")?,
                    mons: Vec::new(),
                    conf_path: r.get("conf_path")?,
                    client_id: r.get("client_id")?,
                    keyring: r.get("keyring")?,
                })
            })
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT mon_addr FROM ceph_backup_storage_mon WHERE backup_storage_uuid = ?1 \
             ORDER BY position",
        )?;
        settings.mons = stmt
            .query_map([uuid], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(settings))
    }

    /// The backup storage with this uuid, if any.
    pub fn get_backup_storage(&self, uuid: &str) -> Result<Option<BackupStorage>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {BACKUP_STORAGE_COLUMNS} FROM backup_storage WHERE uuid = ?1"
            ))?
            .query_row([uuid], backup_storage_from_row)
            .optional()?)
    }

    /// Backup storages matching all `conditions` (fields: uuid, name, description, type, url,
    /// state, status, totalCapacity, availableCapacity, createDate, lastOpDate), oldest first.
    pub fn query_backup_storages(
        &self,
        conditions: &[Condition],
        limit: Option<u32>,
    ) -> Result<Vec<BackupStorage>> {
        let (sql, params) = query::select(
            BACKUP_STORAGE_COLUMNS,
            "backup_storage",
            BACKUP_STORAGE_FIELDS,
            conditions,
            limit,
        )?;
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), backup_storage_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a backup storage that holds no image.
    ///
    /// [`StoreError::InUse`] (nothing deleted) if images still have refs on it,
    /// [`StoreError::NotFound`] if it does not exist.
    pub fn delete_backup_storage(&self, uuid: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let images: u64 = tx.query_row(
            "SELECT count(DISTINCT image_uuid) FROM image_backup_storage_ref \
             WHERE backup_storage_uuid = ?1",
            [uuid],
            |r| r.get(0),
        )?;
        if images > 0 {
            return Err(StoreError::InUse {
                kind: "backup storage",
                uuid: uuid.to_owned(),
                images,
            });
        }
        if tx.execute("DELETE FROM backup_storage WHERE uuid = ?1", [uuid])? == 0 {
            return Err(not_found("backup storage", uuid));
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a new capacity measurement and moves `lastOpDate`; returns the updated storage.
    pub fn update_backup_storage_capacity(
        &self,
        uuid: &str,
        total: i64,
        available: i64,
        now_ms: i64,
    ) -> Result<BackupStorage> {
        self.conn()
            .prepare_cached(&format!(
                "UPDATE backup_storage \
                 SET total_capacity = ?2, available_capacity = ?3, last_op_date = ?4 \
                 WHERE uuid = ?1 RETURNING {BACKUP_STORAGE_COLUMNS}"
            ))?
            .query_row(
                params![uuid, total, available, now_ms],
                backup_storage_from_row,
            )
            .optional()?
            .ok_or_else(|| not_found("backup storage", uuid))
    }

    // ---- images ----

    /// Adds an image and its refs in one transaction: all of them or none.
    ///
    /// Every ref must carry the image's uuid ([`StoreError::InvalidRecord`]) and name an existing
    /// backup storage ([`StoreError::NotFound`]); [`StoreError::Duplicate`] if the image uuid is
    /// taken or a storage appears twice.
    pub fn add_image(&self, image: &Image, refs: &[ImageRef]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            &format!(
                "INSERT INTO image ({IMAGE_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
            ),
            params![
                image.uuid,
                image.name,
                image.description,
                image.state,
                image.status,
                image.size,
                image.actual_size,
                image.md5_sum,
                image.url,
                image.media_type,
                image.guest_os_type,
                image.image_type,
                image.platform,
                image.architecture,
                image.format,
                image.virtio,
                image.system,
                image.create_date,
                image.last_op_date,
            ],
        )
        .map_err(|e| map_unique(e, "image", &image.uuid, None))?;
        for r in refs {
            if r.image_uuid != image.uuid {
                return Err(StoreError::InvalidRecord(format!(
                    "the ref on backup storage[uuid:{}] names image[uuid:{}], not the image \
                     being added, image[uuid:{}]",
                    r.backup_storage_uuid, r.image_uuid, image.uuid
                )));
            }
            // Checked rather than left to the foreign key, whose error does not say which.
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM backup_storage WHERE uuid = ?1)",
                [&r.backup_storage_uuid],
                |row| row.get(0),
            )?;
            if !exists {
                return Err(not_found("backup storage", &r.backup_storage_uuid));
            }
            tx.execute(
                &format!(
                    "INSERT INTO image_backup_storage_ref ({IMAGE_REF_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    r.image_uuid,
                    r.backup_storage_uuid,
                    r.install_path,
                    r.export_url,
                    r.export_md5_sum,
                    r.status,
                    r.create_date,
                    r.last_op_date,
                ],
            )
            .map_err(|e| {
                match map_unique(e, "image backup storage ref", "", None) {
                    StoreError::Duplicate { kind, .. } => StoreError::Duplicate {
                        kind,
                        field: "backupStorageUuid",
                        value: r.backup_storage_uuid.clone(),
                    },
                    other => other,
                }
            })?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The image with this uuid, if any.
    pub fn get_image(&self, uuid: &str) -> Result<Option<Image>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {IMAGE_COLUMNS} FROM image WHERE uuid = ?1"
            ))?
            .query_row([uuid], image_from_row)
            .optional()?)
    }

    /// The image's refs (empty if the image does not exist), ordered by creation.
    pub fn image_refs(&self, image_uuid: &str) -> Result<Vec<ImageRef>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {IMAGE_REF_COLUMNS} FROM image_backup_storage_ref WHERE image_uuid = ?1 \
             ORDER BY create_date, backup_storage_uuid"
        ))?;
        let rows = stmt.query_map([image_uuid], image_ref_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The image's ref on that backup storage, if any.
    pub fn get_image_ref(
        &self,
        image_uuid: &str,
        backup_storage_uuid: &str,
    ) -> Result<Option<ImageRef>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {IMAGE_REF_COLUMNS} FROM image_backup_storage_ref \
                 WHERE image_uuid = ?1 AND backup_storage_uuid = ?2"
            ))?
            .query_row([image_uuid, backup_storage_uuid], image_ref_from_row)
            .optional()?)
    }

    /// Images matching all `conditions` (fields: uuid, name, description, state, status, size,
    /// actualSize, md5Sum, url, mediaType, guestOsType, type, platform, architecture, format,
    /// virtio, system, createDate, lastOpDate), oldest first.
    pub fn query_images(&self, conditions: &[Condition], limit: Option<u32>) -> Result<Vec<Image>> {
        let (sql, params) = query::select(IMAGE_COLUMNS, "image", IMAGE_FIELDS, conditions, limit)?;
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), image_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Images in this status, oldest first; at startup, those left "Downloading" by a crash.
    pub fn images_with_status(&self, status: &str) -> Result<Vec<Image>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {IMAGE_COLUMNS} FROM image WHERE status = ?1 ORDER BY create_date, uuid"
        ))?;
        let rows = stmt.query_map([status], image_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sets the image's status and moves `lastOpDate`; returns the updated image.
    pub fn update_image_status(&self, uuid: &str, status: &str, now_ms: i64) -> Result<Image> {
        self.conn()
            .prepare_cached(&format!(
                "UPDATE image SET status = ?2, last_op_date = ?3 WHERE uuid = ?1 \
                 RETURNING {IMAGE_COLUMNS}"
            ))?
            .query_row(params![uuid, status, now_ms], image_from_row)
            .optional()?
            .ok_or_else(|| not_found("image", uuid))
    }

    /// Marks a downloaded image "Ready" with its sizes and MD5 (computed during the copy);
    /// returns the updated image.
    pub fn finish_image(
        &self,
        uuid: &str,
        size: i64,
        actual_size: i64,
        md5_sum: Option<&str>,
        now_ms: i64,
    ) -> Result<Image> {
        self.conn()
            .prepare_cached(&format!(
                "UPDATE image SET status = 'Ready', size = ?2, actual_size = ?3, md5_sum = ?4, \
                 last_op_date = ?5 WHERE uuid = ?1 RETURNING {IMAGE_COLUMNS}"
            ))?
            .query_row(
                params![uuid, size, actual_size, md5_sum, now_ms],
                image_from_row,
            )
            .optional()?
            .ok_or_else(|| not_found("image", uuid))
    }

    /// Deletes an image with its refs and hash records. Removing the files is the caller's job.
    pub fn delete_image(&self, uuid: &str) -> Result<()> {
        if self
            .conn()
            .execute("DELETE FROM image WHERE uuid = ?1", [uuid])?
            == 0
        {
            return Err(not_found("image", uuid));
        }
        Ok(())
    }

    // ---- hashes ----

    /// Stores a computed hash and returns the image as it now is, in one transaction.
    ///
    /// Replaces an earlier record with the same image, storage, algorithm and chunk size; keeps
    /// `record.create_date` as given. Sets the image's `md5Sum` only for a plain `"md5"` (no
    /// chunk size): ZStack writes any algorithm's value there, a bug we do not copy. Moves the
    /// image's `lastOpDate` to `now_ms`. [`StoreError::NotFound`] if the image was deleted
    /// meanwhile, [`StoreError::NotOnBackupStorage`] if its ref on that storage was.
    pub fn record_hash(&self, record: &HashRecord, now_ms: i64) -> Result<Image> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let image_exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM image WHERE uuid = ?1)",
            [&record.image_uuid],
            |r| r.get(0),
        )?;
        if !image_exists {
            return Err(not_found("image", &record.image_uuid));
        }
        let ref_exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM image_backup_storage_ref \
             WHERE image_uuid = ?1 AND backup_storage_uuid = ?2)",
            [&record.image_uuid, &record.backup_storage_uuid],
            |r| r.get(0),
        )?;
        if !ref_exists {
            return Err(StoreError::NotOnBackupStorage {
                image_uuid: record.image_uuid.clone(),
                backup_storage_uuid: record.backup_storage_uuid.clone(),
            });
        }
        // `IS` rather than `=` so that a NULL chunk size matches NULL.
        tx.execute(
            "DELETE FROM hash_record WHERE image_uuid = ?1 AND backup_storage_uuid = ?2 \
             AND algorithm = ?3 AND chunk_size IS ?4",
            params![
                record.image_uuid,
                record.backup_storage_uuid,
                record.algorithm,
                record.chunk_size
            ],
        )?;
        tx.execute(
            &format!(
                "INSERT INTO hash_record ({HASH_RECORD_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                record.image_uuid,
                record.backup_storage_uuid,
                record.algorithm,
                record.chunk_size,
                record.value,
                record.bytes,
                record.seconds,
                record.create_date,
            ],
        )?;
        let sets_md5 = record.algorithm == "md5" && record.chunk_size.is_none();
        let image = tx.query_row(
            &format!(
                "UPDATE image SET last_op_date = ?2, \
                 md5_sum = CASE WHEN ?3 THEN ?4 ELSE md5_sum END \
                 WHERE uuid = ?1 RETURNING {IMAGE_COLUMNS}"
            ),
            params![record.image_uuid, now_ms, sets_md5, record.value],
            image_from_row,
        )?;
        tx.commit()?;
        Ok(image)
    }

    /// Every hash record of the image, by storage, algorithm and chunk size.
    pub fn hash_records(&self, image_uuid: &str) -> Result<Vec<HashRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {HASH_RECORD_COLUMNS} FROM hash_record WHERE image_uuid = ?1 \
             ORDER BY backup_storage_uuid, algorithm, chunk_size"
        ))?;
        let rows = stmt.query_map([image_uuid], hash_record_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- accounts ----

    /// Adds an account. [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_account(&self, account: &Account) -> Result<()> {
        self.conn()
            .execute(
                &format!("INSERT INTO account ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![
                    account.uuid,
                    account.name,
                    account.password_hash,
                    account.create_date,
                    account.last_op_date,
                ],
            )
            .map_err(|e| map_unique(e, "account", &account.uuid, Some(&account.name)))?;
        Ok(())
    }

    /// The account with this name (exact, case-sensitive), if any.
    pub fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM account WHERE name = ?1"
            ))?
            .query_row([name], account_from_row)
            .optional()?)
    }

    /// The account with this uuid, if any.
    pub fn get_account(&self, uuid: &str) -> Result<Option<Account>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM account WHERE uuid = ?1"
            ))?
            .query_row([uuid], account_from_row)
            .optional()?)
    }

    /// Replaces an account's password hash (e.g. the admin password given again at start).
    pub fn set_account_password(&self, uuid: &str, password_hash: &str, now_ms: i64) -> Result<()> {
        let changed = self.conn().execute(
            "UPDATE account SET password_hash = ?2, last_op_date = ?3 WHERE uuid = ?1",
            params![uuid, password_hash, now_ms],
        )?;
        if changed == 0 {
            return Err(not_found("account", uuid));
        }
        Ok(())
    }

    // ---- sessions ----

    /// Adds a session. [`StoreError::NotFound`] if the account does not exist.
    pub fn add_session(&self, session: &Session) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM account WHERE uuid = ?1)",
            [&session.account_uuid],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(not_found("account", &session.account_uuid));
        }
        tx.execute(
            &format!("INSERT INTO session ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
            params![
                session.uuid,
                session.account_uuid,
                session.user_uuid,
                session.expired_date,
                session.create_date,
            ],
        )
        .map_err(|e| map_unique(e, "session", &session.uuid, None))?;
        tx.commit()?;
        Ok(())
    }

    /// Validates and renews a session: `None` if it does not exist or expired at or before
    /// `now_ms` (an expired one is deleted); otherwise its expiry moves to
    /// `now_ms + idle_timeout_ms` and the renewed session is returned.
    ///
    /// Every authenticated call goes through here, which is what makes the timeout an idle
    /// timeout (7200 s in ZStack).
    pub fn touch_session(
        &self,
        uuid: &str,
        now_ms: i64,
        idle_timeout_ms: i64,
    ) -> Result<Option<Session>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let renewed = tx
            .query_row(
                &format!(
                    "UPDATE session SET expired_date = ?3 \
                     WHERE uuid = ?1 AND expired_date > ?2 RETURNING {SESSION_COLUMNS}"
                ),
                params![uuid, now_ms, now_ms.saturating_add(idle_timeout_ms)],
                session_from_row,
            )
            .optional()?;
        if renewed.is_none() {
            tx.execute(
                "DELETE FROM session WHERE uuid = ?1 AND expired_date <= ?2",
                params![uuid, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(renewed)
    }

    /// Deletes a session (log out); `false` if there was none.
    pub fn delete_session(&self, uuid: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM session WHERE uuid = ?1", [uuid])?
            > 0)
    }

    /// Deletes every session expired at or before `now_ms`; returns how many. Meant for a
    /// periodic sweep, since a session nobody presents again is never touched.
    pub fn delete_expired_sessions(&self, now_ms: i64) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM session WHERE expired_date <= ?1", [now_ms])?)
    }
}

fn insert_backup_storage(conn: &Connection, bs: &BackupStorage) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO backup_storage ({BACKUP_STORAGE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            bs.uuid,
            bs.name,
            bs.description,
            bs.storage_type,
            bs.url,
            bs.state,
            bs.status,
            bs.total_capacity,
            bs.available_capacity,
            bs.create_date,
            bs.last_op_date,
        ],
    )
    .map_err(|e| map_unique(e, "backup storage", &bs.uuid, Some(&bs.name)))?;
    Ok(())
}

fn not_found(kind: &'static str, uuid: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        uuid: uuid.to_owned(),
    }
}
