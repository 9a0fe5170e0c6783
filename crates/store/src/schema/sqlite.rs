//! The SQLite schema, as numbered migrations.
//!
//! `PRAGMA user_version` holds how many entries of [`MIGRATIONS`] a file has seen. Opening
//! applies the missing ones in order, each in its own transaction together with the version
//! bump, so a crash leaves the file at a whole version. Never edit a published migration:
//! append a new one.

use rusqlite::{Connection, TransactionBehavior};

use super::{Migrated, SCHEMA_VERSION};

/// One SQL batch per schema version; entry `i` upgrades version `i` to `i + 1`.
///
/// Tables are `STRICT` so a wrong type is an error rather than a silently stored string.
/// Column names follow ZStack's VO tables, in snake case.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the whole inventory.
    r#"
    CREATE TABLE backup_storage (
        uuid               TEXT    NOT NULL PRIMARY KEY,
        name               TEXT    NOT NULL UNIQUE,
        description        TEXT    NOT NULL,
        type               TEXT    NOT NULL,
        url                TEXT    NOT NULL,
        state              TEXT    NOT NULL,
        status             TEXT    NOT NULL,
        total_capacity     INTEGER NOT NULL,
        available_capacity INTEGER NOT NULL,
        create_date        INTEGER NOT NULL,
        last_op_date       INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE image (
        uuid          TEXT    NOT NULL PRIMARY KEY,
        name          TEXT    NOT NULL,
        description   TEXT    NOT NULL,
        state         TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        size          INTEGER NOT NULL,
        actual_size   INTEGER NOT NULL,
        md5_sum       TEXT,
        url           TEXT    NOT NULL,
        media_type    TEXT    NOT NULL,
        guest_os_type TEXT    NOT NULL,
        type          TEXT    NOT NULL,
        platform      TEXT    NOT NULL,
        architecture  TEXT    NOT NULL,
        format        TEXT    NOT NULL,
        virtio        INTEGER NOT NULL,
        system        INTEGER NOT NULL,
        create_date   INTEGER NOT NULL,
        last_op_date  INTEGER NOT NULL
    ) STRICT;
    -- startup looks for images left "Downloading" by a crash
    CREATE INDEX image_status ON image (status);
    CREATE INDEX image_create_date ON image (create_date, uuid);

    -- RESTRICT on the storage: deleting a storage that still holds images must fail even if
    -- a caller forgets the InUse check.
    CREATE TABLE image_backup_storage_ref (
        image_uuid          TEXT    NOT NULL REFERENCES image (uuid) ON DELETE CASCADE,
        backup_storage_uuid TEXT    NOT NULL REFERENCES backup_storage (uuid) ON DELETE RESTRICT,
        install_path        TEXT    NOT NULL,
        export_url          TEXT,
        export_md5_sum      TEXT,
        status              TEXT    NOT NULL,
        create_date         INTEGER NOT NULL,
        last_op_date        INTEGER NOT NULL,
        PRIMARY KEY (image_uuid, backup_storage_uuid)
    ) STRICT;
    CREATE INDEX image_backup_storage_ref_bs ON image_backup_storage_ref (backup_storage_uuid);

    -- A hash is of the file at a ref's install path, so it hangs off the ref and goes with it.
    CREATE TABLE hash_record (
        image_uuid          TEXT    NOT NULL,
        backup_storage_uuid TEXT    NOT NULL,
        algorithm           TEXT    NOT NULL,
        chunk_size          INTEGER,
        value               TEXT    NOT NULL,
        bytes               INTEGER NOT NULL,
        seconds             REAL    NOT NULL,
        create_date         INTEGER NOT NULL,
        FOREIGN KEY (image_uuid, backup_storage_uuid)
            REFERENCES image_backup_storage_ref (image_uuid, backup_storage_uuid)
            ON DELETE CASCADE
    ) STRICT;
    -- NULLs are distinct in a UNIQUE index, so the key uses -1 for "no chunk size" to keep one
    -- row per (image, storage, algorithm, chunk size).
    CREATE UNIQUE INDEX hash_record_key
        ON hash_record (image_uuid, backup_storage_uuid, algorithm, ifnull(chunk_size, -1));

    CREATE TABLE account (
        uuid          TEXT    NOT NULL PRIMARY KEY,
        name          TEXT    NOT NULL UNIQUE,
        password_hash TEXT    NOT NULL,
        create_date   INTEGER NOT NULL,
        last_op_date  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE session (
        uuid         TEXT    NOT NULL PRIMARY KEY,
        account_uuid TEXT    NOT NULL REFERENCES account (uuid) ON DELETE CASCADE,
        user_uuid    TEXT    NOT NULL,
        expired_date INTEGER NOT NULL,
        create_date  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX session_account ON session (account_uuid);
    CREATE INDEX session_expired_date ON session (expired_date);
    "#,
    // 2: the settings of "Ceph" backup storages (ZStack's CephBackupStorageVO and
    // CephBackupStorageMonVO). A row here exists exactly for a storage of type "Ceph" and
    // goes with it.
    r#"
    CREATE TABLE ceph_backup_storage (
        uuid       TEXT NOT NULL PRIMARY KEY REFERENCES backup_storage (uuid) ON DELETE CASCADE,
        pool_name  TEXT NOT NULL,
        -- a ceph.conf to read; NULL when the monitors and keyring are given directly
        conf_path  TEXT,
        client_id  TEXT NOT NULL,
        keyring    TEXT
    ) STRICT;

    -- One row per monitor address as the user gave it, in the order given.
    CREATE TABLE ceph_backup_storage_mon (
        backup_storage_uuid TEXT    NOT NULL
            REFERENCES ceph_backup_storage (uuid) ON DELETE CASCADE,
        position            INTEGER NOT NULL,
        mon_addr            TEXT    NOT NULL,
        PRIMARY KEY (backup_storage_uuid, position)
    ) STRICT;
    "#,
    // 3: a hash is of the file's bytes ("file", ZStack's meaning) or of the disk the image
    // holds ("content"): two different values, both kept, so the mode is part of the key.
    r#"
    ALTER TABLE hash_record ADD COLUMN mode TEXT NOT NULL DEFAULT 'file';
    DROP INDEX hash_record_key;
    CREATE UNIQUE INDEX hash_record_key
        ON hash_record (image_uuid, backup_storage_uuid, algorithm, ifnull(chunk_size, -1), mode);
    "#,
    // 4: asynchronous jobs of the REST front and their results (ZStack's api-jobs), kept
    // across restarts so that a poll after a restart still finds its answer.
    r#"
    CREATE TABLE api_job (
        uuid        TEXT    NOT NULL PRIMARY KEY,
        api         TEXT    NOT NULL,
        state       TEXT    NOT NULL,
        -- the JSON body a poll answers once the job ended
        result      TEXT,
        web_hook    TEXT,
        create_date INTEGER NOT NULL,
        end_date    INTEGER
    ) STRICT;
    CREATE INDEX api_job_state ON api_job (state, create_date);
    "#,
    // 5: several servers on one inventory. Each live server has a `node` row it renews
    // (its heartbeat); a Local backup storage belongs to the node that holds its directory;
    // a hash computation in progress holds a `hash_lease` on its key, renewed with the
    // owner's heartbeat, which other servers wait on or take over once it expires; a REST
    // job records the node running it.
    r#"
    CREATE TABLE node (
        name           TEXT    NOT NULL PRIMARY KEY,
        -- the gRPC address other servers reach it at; NULL when it listens on a wildcard
        advertise      TEXT,
        -- random per process start: tells a restarted server from the one before it
        instance       TEXT    NOT NULL,
        -- hash jobs it admits (running and queued), for the bound across servers
        capacity       INTEGER NOT NULL,
        heartbeat_date INTEGER NOT NULL,
        create_date    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE backup_storage_node (
        backup_storage_uuid TEXT NOT NULL PRIMARY KEY
            REFERENCES backup_storage (uuid) ON DELETE CASCADE,
        node                TEXT NOT NULL
    ) STRICT;

    CREATE TABLE hash_lease (
        -- the computation's key: image, storage, algorithm, chunk size, mode
        key         TEXT    NOT NULL PRIMARY KEY,
        -- random per computation, so that a late write of a taken-over owner changes nothing
        computation TEXT    NOT NULL,
        node        TEXT    NOT NULL,
        instance    TEXT    NOT NULL,
        -- running, done or failed
        state       TEXT    NOT NULL,
        error_kind  TEXT,
        error       TEXT,
        expire_date INTEGER NOT NULL,
        end_date    INTEGER
    ) STRICT;
    CREATE INDEX hash_lease_instance ON hash_lease (instance);
    CREATE INDEX hash_lease_state ON hash_lease (state, expire_date);

    -- The node running an asynchronous REST job, so that a server starting fails only its
    -- own (and dead nodes') jobs left running, never a live server's.
    CREATE TABLE api_job_node (
        uuid TEXT NOT NULL PRIMARY KEY REFERENCES api_job (uuid) ON DELETE CASCADE,
        node TEXT NOT NULL
    ) STRICT;
    "#,
];

/// Brings the file up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    let mut version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    loop {
        if version > SCHEMA_VERSION {
            return Ok(Migrated::TooNew(version));
        }
        if version == SCHEMA_VERSION {
            return Ok(Migrated::Current);
        }
        // IMMEDIATE takes the write lock first, so two processes opening a fresh file at
        // once serialise here instead of both running the same migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let locked: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if locked != version {
            // Another process migrated meanwhile; start over from what it left.
            version = locked;
            continue;
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        version += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_upgrades_keeping_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO backup_storage VALUES ('u', 'n', '', 'Local', '/srv', 'Enabled', \
             'Connected', 0, 0, 1, 1)",
            [],
        )
        .unwrap();
        assert!(matches!(migrate(&mut conn).unwrap(), Migrated::Current));
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM backup_storage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
        let ceph: i64 = conn
            .query_row("SELECT count(*) FROM ceph_backup_storage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ceph, 0);
    }

    /// Hashes recorded before the mode existed were of the file's bytes.
    #[test]
    fn hashes_recorded_before_the_mode_existed_read_as_file_hashes() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO hash_record VALUES ('i', 'b', 'md5', NULL, 'v', 1, 0.5, 1);",
        )
        .unwrap();
        assert!(matches!(migrate(&mut conn).unwrap(), Migrated::Current));
        let mode: String = conn
            .query_row("SELECT mode FROM hash_record", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "file");
    }
}
