//! [`Store`]: the connection, and the operations on the inventory, one file per resource.
//!
//! The store records what it is told: which status an image takes, what its md5Sum becomes
//! and when a session is renewed are the service's decisions, passed in as values.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Result, StoreError};
use crate::schema::{self, Migrated, SCHEMA_VERSION};

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
        make_private(path).map_err(|source| StoreError::Private {
            path: path.to_owned(),
            source,
        })?;
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

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped any open Transaction, which rolled back, so
        // the connection is consistent and the poison can be ignored.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
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
