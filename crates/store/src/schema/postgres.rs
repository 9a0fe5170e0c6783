//! The PostgreSQL schema, as numbered migrations: the same tables, columns and version numbers
//! as the SQLite ones in [`super::sqlite`], in PostgreSQL's types.
//!
//! `imghash_schema_version` has one row per migration applied. Migrating runs in one
//! transaction (PostgreSQL's DDL is transactional) under an advisory lock, so servers that
//! start at once against an empty database queue up: the first applies the migrations, the
//! others find them done.

use postgres::Client;

use super::{Migrated, SCHEMA_VERSION};

/// Every text column compares and sorts by bytes (`COLLATE "C"`), as SQLite does, whatever the
/// database's default collation: `ORDER BY uuid` and `name > 'x'` must not depend on a locale.
const TEXT: &str = "TEXT COLLATE \"C\"";

/// One SQL batch per schema version; entry `i` upgrades version `i` to `i + 1`. `CTEXT` stands
/// for [`TEXT`]. Never edit a published migration: append a new one, to both back-ends.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the whole inventory.
    r#"
    CREATE TABLE backup_storage (
        uuid               CTEXT   NOT NULL PRIMARY KEY,
        name               CTEXT   NOT NULL UNIQUE,
        description        CTEXT   NOT NULL,
        type               CTEXT   NOT NULL,
        url                CTEXT   NOT NULL,
        state              CTEXT   NOT NULL,
        status             CTEXT   NOT NULL,
        total_capacity     BIGINT  NOT NULL,
        available_capacity BIGINT  NOT NULL,
        create_date        BIGINT  NOT NULL,
        last_op_date       BIGINT  NOT NULL
    );

    CREATE TABLE image (
        uuid          CTEXT   NOT NULL PRIMARY KEY,
        name          CTEXT   NOT NULL,
        description   CTEXT   NOT NULL,
        state         CTEXT   NOT NULL,
        status        CTEXT   NOT NULL,
        size          BIGINT  NOT NULL,
        actual_size   BIGINT  NOT NULL,
        md5_sum       CTEXT,
        url           CTEXT   NOT NULL,
        media_type    CTEXT   NOT NULL,
        guest_os_type CTEXT   NOT NULL,
        type          CTEXT   NOT NULL,
        platform      CTEXT   NOT NULL,
        architecture  CTEXT   NOT NULL,
        format        CTEXT   NOT NULL,
        virtio        BOOLEAN NOT NULL,
        system        BOOLEAN NOT NULL,
        create_date   BIGINT  NOT NULL,
        last_op_date  BIGINT  NOT NULL
    );
    CREATE INDEX image_status ON image (status);
    CREATE INDEX image_create_date ON image (create_date, uuid);

    CREATE TABLE image_backup_storage_ref (
        image_uuid          CTEXT  NOT NULL REFERENCES image (uuid) ON DELETE CASCADE,
        backup_storage_uuid CTEXT  NOT NULL REFERENCES backup_storage (uuid) ON DELETE RESTRICT,
        install_path        CTEXT  NOT NULL,
        export_url          CTEXT,
        export_md5_sum      CTEXT,
        status              CTEXT  NOT NULL,
        create_date         BIGINT NOT NULL,
        last_op_date        BIGINT NOT NULL,
        PRIMARY KEY (image_uuid, backup_storage_uuid)
    );
    CREATE INDEX image_backup_storage_ref_bs ON image_backup_storage_ref (backup_storage_uuid);

    CREATE TABLE hash_record (
        image_uuid          CTEXT  NOT NULL,
        backup_storage_uuid CTEXT  NOT NULL,
        algorithm           CTEXT  NOT NULL,
        chunk_size          BIGINT,
        value               CTEXT  NOT NULL,
        bytes               BIGINT NOT NULL,
        seconds             DOUBLE PRECISION NOT NULL,
        create_date         BIGINT NOT NULL,
        FOREIGN KEY (image_uuid, backup_storage_uuid)
            REFERENCES image_backup_storage_ref (image_uuid, backup_storage_uuid)
            ON DELETE CASCADE
    );
    CREATE UNIQUE INDEX hash_record_key
        ON hash_record (image_uuid, backup_storage_uuid, algorithm, coalesce(chunk_size, -1));

    CREATE TABLE account (
        uuid          CTEXT  NOT NULL PRIMARY KEY,
        name          CTEXT  NOT NULL UNIQUE,
        password_hash CTEXT  NOT NULL,
        create_date   BIGINT NOT NULL,
        last_op_date  BIGINT NOT NULL
    );

    CREATE TABLE session (
        uuid         CTEXT  NOT NULL PRIMARY KEY,
        account_uuid CTEXT  NOT NULL REFERENCES account (uuid) ON DELETE CASCADE,
        user_uuid    CTEXT  NOT NULL,
        expired_date BIGINT NOT NULL,
        create_date  BIGINT NOT NULL
    );
    CREATE INDEX session_account ON session (account_uuid);
    CREATE INDEX session_expired_date ON session (expired_date);
    "#,
    // 2: the settings of "Ceph" backup storages.
    r#"
    CREATE TABLE ceph_backup_storage (
        uuid       CTEXT NOT NULL PRIMARY KEY REFERENCES backup_storage (uuid) ON DELETE CASCADE,
        pool_name  CTEXT NOT NULL,
        conf_path  CTEXT,
        client_id  CTEXT NOT NULL,
        keyring    CTEXT
    );

    CREATE TABLE ceph_backup_storage_mon (
        backup_storage_uuid CTEXT  NOT NULL
            REFERENCES ceph_backup_storage (uuid) ON DELETE CASCADE,
        position            BIGINT NOT NULL,
        mon_addr            CTEXT  NOT NULL,
        PRIMARY KEY (backup_storage_uuid, position)
    );
    "#,
    // 3: the hash mode is part of a record's key.
    r#"
    ALTER TABLE hash_record ADD COLUMN mode CTEXT NOT NULL DEFAULT 'file';
    DROP INDEX hash_record_key;
    CREATE UNIQUE INDEX hash_record_key
        ON hash_record (image_uuid, backup_storage_uuid, algorithm, coalesce(chunk_size, -1), mode);
    "#,
    // 4: asynchronous jobs of the REST front.
    r#"
    CREATE TABLE api_job (
        uuid        CTEXT  NOT NULL PRIMARY KEY,
        api         CTEXT  NOT NULL,
        state       CTEXT  NOT NULL,
        result      CTEXT,
        web_hook    CTEXT,
        create_date BIGINT NOT NULL,
        end_date    BIGINT
    );
    CREATE INDEX api_job_state ON api_job (state, create_date);
    "#,
    // 5: several servers on one inventory: nodes and their heartbeats, the node of each
    // Local backup storage, hash leases, the node running each REST job.
    r#"
    CREATE TABLE node (
        name           CTEXT  NOT NULL PRIMARY KEY,
        advertise      CTEXT,
        instance       CTEXT  NOT NULL,
        capacity       BIGINT NOT NULL,
        heartbeat_date BIGINT NOT NULL,
        create_date    BIGINT NOT NULL
    );

    CREATE TABLE backup_storage_node (
        backup_storage_uuid CTEXT NOT NULL PRIMARY KEY
            REFERENCES backup_storage (uuid) ON DELETE CASCADE,
        node                CTEXT NOT NULL
    );

    CREATE TABLE hash_lease (
        key         CTEXT  NOT NULL PRIMARY KEY,
        computation CTEXT  NOT NULL,
        node        CTEXT  NOT NULL,
        instance    CTEXT  NOT NULL,
        state       CTEXT  NOT NULL,
        error_kind  CTEXT,
        error       CTEXT,
        expire_date BIGINT NOT NULL,
        end_date    BIGINT
    );
    CREATE INDEX hash_lease_instance ON hash_lease (instance);
    CREATE INDEX hash_lease_state ON hash_lease (state, expire_date);

    CREATE TABLE api_job_node (
        uuid CTEXT NOT NULL PRIMARY KEY REFERENCES api_job (uuid) ON DELETE CASCADE,
        node CTEXT NOT NULL
    );
    "#,
];

// Both back-ends must count the same versions.
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// The schema version of a migrated database.
pub(crate) const VERSION_QUERY: &str =
    "SELECT coalesce(max(version), 0) FROM imghash_schema_version";

/// The advisory lock key of migrations: "imghash\0" read as a big-endian number.
const MIGRATION_LOCK: i64 = 0x696d_6768_6173_6800;

/// Brings the database up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(client: &mut Client) -> Result<Migrated, postgres::Error> {
    let mut tx = client.transaction()?;
    // Held until the commit: a second server waits here, then finds the work done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS imghash_schema_version (\
             version BIGINT NOT NULL PRIMARY KEY, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let version: i64 = tx.query_one(VERSION_QUERY, &[])?.get(0);
    if version > SCHEMA_VERSION {
        return Ok(Migrated::TooNew(version));
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(&sql.replace("CTEXT", TEXT))?;
        let reached = done as i64 + 1;
        tx.execute(
            "INSERT INTO imghash_schema_version (version) VALUES ($1)",
            &[&reached],
        )?;
    }
    tx.commit()?;
    Ok(Migrated::Current)
}
