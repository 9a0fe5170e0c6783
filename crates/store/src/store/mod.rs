//! [`Store`]: the back-end, and the operations on the inventory, one file per resource.
//!
//! The store records what it is told: which status an image takes, what its md5Sum becomes
//! and when a session is renewed are the service's decisions, passed in as values.

use std::path::Path;

use crate::db::{postgres::Postgres, sqlite::Sqlite, Conn};
use crate::error::{Result, StoreError};
use crate::schema::{Migrated, SCHEMA_VERSION};

pub use api_jobs::{ApiJob, ApiJobState};
pub use leases::{HashLease, LeaseTaken};
pub use nodes::Node;

mod accounts;
mod api_jobs;
mod backup_storages;
mod hashes;
mod images;
mod leases;
mod nodes;
mod sessions;

/// The inventory, on one of the back-ends; `Send + Sync`, shared by all threads.
pub struct Store {
    backend: Backend,
}

/// Where the inventory lives. Each operation is written once against [`Conn`]; this is the
/// only place that knows which back-end runs it.
enum Backend {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

impl Store {
    /// Opens the database file, creating it if needed, and brings its schema up to
    /// [`SCHEMA_VERSION`].
    ///
    /// The file is put in WAL mode with `synchronous=NORMAL`: a commit is durable against a
    /// process crash, and against power loss loses at most the last transactions, never
    /// consistency. Takes a `Path` because SQLite also creates `-wal` and `-shm` files next to it.
    pub fn open(path: &Path) -> Result<Store> {
        make_private(path).map_err(|source| StoreError::Private {
            path: path.to_owned(),
            source,
        })?;
        let (db, migrated) = Sqlite::open(path)?;
        Self::checked(Backend::Sqlite(db), migrated, &path.display().to_string())
    }

    /// Opens a private in-memory database (for tests and examples); it vanishes when dropped.
    pub fn open_in_memory() -> Result<Store> {
        let (db, migrated) = Sqlite::open_in_memory()?;
        Self::checked(Backend::Sqlite(db), migrated, ":memory:")
    }

    /// Connects to a PostgreSQL database (15 or newer) given as a `postgres://` URL, and
    /// brings its schema up to [`SCHEMA_VERSION`]; several servers may do so at once.
    ///
    /// The URL takes libpq's parameters that the `postgres` crate knows, plus `sslmode`
    /// (`disable`, `prefer` (the default), `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert` (a PEM file, or `system` for the Mozilla roots). The password never
    /// appears in an error: see [`Store::describe`].
    ///
    /// Must not be called from async code (the client blocks on a runtime of its own); an
    /// async caller uses `spawn_blocking`, as for every other call.
    pub fn connect(url: &str) -> Result<Store> {
        let (db, migrated) = Postgres::connect(url)?;
        let name = db.redacted_url().to_owned();
        Self::checked(Backend::Postgres(db), migrated, &name)
    }

    /// Where the inventory is, fit for a log line: "SQLite" or the PostgreSQL URL with its
    /// password hidden.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(_) => "SQLite".to_owned(),
            Backend::Postgres(db) => db.redacted_url().to_owned(),
        }
    }

    fn checked(backend: Backend, migrated: Migrated, name: &str) -> Result<Store> {
        match migrated {
            Migrated::Current => Ok(Store { backend }),
            Migrated::TooNew(found) => Err(StoreError::SchemaTooNew {
                path: name.into(),
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    /// The schema version of the open database; [`SCHEMA_VERSION`] once open.
    pub fn schema_version(&self) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(db) => db.schema_version(),
            Backend::Postgres(db) => db.schema_version(),
        }
    }

    /// Runs `f` with a connection, each statement committed on its own: for a single
    /// statement, or reads that need not see one instant.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(db) => db.with_conn(f),
            Backend::Postgres(db) => db.with_conn(f),
        }
    }

    /// Runs `f` in one transaction: committed if `f` returns `Ok`, rolled back otherwise.
    pub(crate) fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(db) => db.with_tx(f),
            Backend::Postgres(db) => db.with_tx(f),
        }
    }
}

/// Creates the database file readable by its owner only (it holds live session ids), and
/// takes that right away from an older file and its `-wal`/`-shm`. SQLite gives the `-wal`
/// and `-shm` files it creates the database file's mode.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        // A file that cannot be created here cannot be opened by SQLite either: leave the
        // report to SQLite, whose error names what went wrong.
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path);
        if created.is_err() {
            return Ok(());
        }
        let mut names = vec![path.to_owned()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(name.into());
        }
        for name in names.iter().filter(|name| name.exists()) {
            std::fs::set_permissions(name, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub(crate) fn not_found(kind: &'static str, uuid: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        uuid: uuid.to_owned(),
    }
}

/// Whether `table` has a row with this uuid. `table` is one of ours, never input.
pub(crate) fn exists(conn: &mut dyn Conn, table: &'static str, uuid: &str) -> Result<bool> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE uuid = ?1)");
    read_bool(conn.query_value(&sql, crate::db::params![uuid])?)
}

/// An `EXISTS` answer: SQLite gives 0 or 1, PostgreSQL a boolean.
pub(crate) fn read_bool(value: crate::db::Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| StoreError::Decode(format!("{value:?} is not a boolean")))
}

/// A `count(…)`.
pub(crate) fn read_count(value: crate::db::Value) -> Result<i64> {
    value
        .as_int()
        .ok_or_else(|| StoreError::Decode(format!("{value:?} is not a count")))
}
