//! The back-end a test runs on: a SQLite file in a temporary directory, or, when
//! `IMGHASH_TEST_DATABASE_URL` names a PostgreSQL superuser URL, a fresh database in that
//! cluster (dropped after the test). Raw access for what the store cannot show goes through
//! here, in each dialect.

#![allow(dead_code)] // each test target uses its own part

use std::path::{Path, PathBuf};

use imghash_store::{Store, TestDatabase};
use tempfile::TempDir;

pub struct Fixture {
    pub store: Store,
    pub backend: Backend,
    pub _dir: TempDir,
}

pub enum Backend {
    Sqlite(PathBuf),
    Postgres(TestDatabase),
}

impl Backend {
    /// A store on this database.
    pub fn reopen(&self) -> imghash_store::Result<Store> {
        match self {
            Backend::Sqlite(path) => Store::open(path),
            Backend::Postgres(db) => Store::connect(db.url()),
        }
    }
}

/// A store on the back-end the environment asks for.
pub fn fixture() -> Fixture {
    match TestDatabase::from_env() {
        Some(db) => {
            let store = Store::connect(db.url()).unwrap();
            Fixture {
                store,
                backend: Backend::Postgres(db),
                _dir: tempfile::tempdir().unwrap(),
            }
        }
        None => sqlite_fixture(),
    }
}

/// A store on a SQLite file, whatever the environment: for what only a file has.
pub fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.db");
    let store = Store::open(&path).unwrap();
    Fixture {
        store,
        backend: Backend::Sqlite(path),
        _dir: dir,
    }
}

impl Fixture {
    /// The SQLite file; panics on PostgreSQL.
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Sqlite(path) => path,
            Backend::Postgres(_) => panic!("a SQLite-only test ran on PostgreSQL"),
        }
    }

    /// A second store on the same database, as a restarted server opens it.
    pub fn reopen(&self) -> imghash_store::Result<Store> {
        self.backend.reopen()
    }

    /// Rows in `table`, counted behind the store's back.
    pub fn count(&self, table: &str) -> i64 {
        match &self.backend {
            Backend::Sqlite(path) => raw(path)
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap(),
            Backend::Postgres(db) => db
                .query_text(&format!("SELECT count(*)::text FROM {table}"))
                .unwrap()
                .unwrap()
                .parse()
                .unwrap(),
        }
    }

    /// Makes every later UPDATE of an image fail inside the database.
    pub fn fail_image_updates(&self) {
        match &self.backend {
            Backend::Sqlite(path) => raw(path)
                .execute_batch(
                    "CREATE TRIGGER fail_image_update BEFORE UPDATE ON image \
                     BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
                )
                .unwrap(),
            Backend::Postgres(db) => {
                db.batch(
                    "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'simulated failure'; END $$; \
                     CREATE TRIGGER fail_image_update BEFORE UPDATE ON image \
                     FOR EACH ROW EXECUTE FUNCTION fail();",
                )
                .unwrap();
            }
        }
    }

    /// Records a schema version this build does not know, as a newer imghash would.
    pub fn set_schema_version(&self, version: i64) {
        match &self.backend {
            Backend::Sqlite(path) => raw(path)
                .pragma_update(None, "user_version", version)
                .unwrap(),
            Backend::Postgres(db) => {
                db.batch(&format!(
                    "INSERT INTO imghash_schema_version (version) VALUES ({version})"
                ))
                .unwrap();
            }
        }
    }
}

/// A second, raw connection to a SQLite file.
pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}
