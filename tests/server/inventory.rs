//! Where a test server keeps its inventory, and looking into it behind the server's back.
//!
//! With `IMGHASH_TEST_DATABASE_URL` (a PostgreSQL superuser URL) set, a test directory gets a
//! fresh database in that cluster, and every server started on that directory (a restart, say)
//! uses it; without it, the server's SQLite file in the data directory. Several servers share
//! one database through [`shared_database`] and `TestServer::start_on_database`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use imghash_store::{Store, TestDatabase};

/// The database of each test directory, kept while the directory exists so that a restart on
/// it finds the same database; dropped once the directory is gone (noticed when a later server
/// starts). The databases of the last tests of a run outlive it: the clusters the tests run
/// against are thrown away (`scripts/test`), and their names start with `imghash_test_`.
static DATABASES: Mutex<Vec<(PathBuf, Arc<TestDatabase>)>> = Mutex::new(Vec::new());

/// One test's inventory.
#[derive(Clone)]
pub enum Inventory {
    /// The server's `imghash.db`.
    Sqlite(PathBuf),
    /// A PostgreSQL database, possibly shared by several servers.
    Postgres(Arc<TestDatabase>),
}

/// Whether the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os(TestDatabase::ENV).is_some_and(|v| !v.is_empty())
}

/// A new database for several servers to share; `None` on SQLite.
pub fn shared_database() -> Option<Arc<TestDatabase>> {
    on_postgres().then(|| Arc::new(TestDatabase::from_env().expect("set")))
}

impl Inventory {
    /// The inventory of servers started on `dir` (their data directory is `data_dir`), made
    /// on first use; `given` attaches a shared database to `dir`.
    pub fn for_dir(dir: &Path, data_dir: &Path, given: Option<Arc<TestDatabase>>) -> Inventory {
        if given.is_none() && !on_postgres() {
            return Inventory::Sqlite(data_dir.join("imghash.db"));
        }
        let mut databases = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
        // Directories of finished tests are gone: drop their databases.
        databases.retain(|(d, _)| d.exists());
        if let Some(db) = given {
            databases.retain(|(d, _)| d != dir);
            databases.push((dir.to_owned(), db.clone()));
            return Inventory::Postgres(db);
        }
        if let Some((_, db)) = databases.iter().find(|(d, _)| d == dir) {
            return Inventory::Postgres(db.clone());
        }
        let db = Arc::new(TestDatabase::from_env().expect("set"));
        databases.push((dir.to_owned(), db.clone()));
        Inventory::Postgres(db)
    }

    /// The `--database-url` a server on this inventory gets.
    pub fn database_url(&self) -> Option<String> {
        match self {
            Inventory::Sqlite(_) => None,
            Inventory::Postgres(db) => Some(db.url().to_owned()),
        }
    }

    /// A store on this inventory, for a test that writes what no API call can (a crash's
    /// leftovers). Call it off the async threads (`spawn_blocking`).
    pub fn open_store(&self) -> Store {
        match self {
            Inventory::Sqlite(path) => Store::open(path).unwrap(),
            Inventory::Postgres(db) => Store::connect(db.url()).unwrap(),
        }
    }

    /// The logical content: every row of every table as text, ordered by primary key. A
    /// session's `expired_date` is left out, since every authenticated call renews it (by
    /// design, like ZStack).
    pub fn dump(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for (table, columns, key) in TABLES {
            let sql = format!("SELECT {columns} FROM {table} ORDER BY {key}");
            for row in self.rows(&sql) {
                rows.push(format!("{table}: {row}"));
            }
        }
        rows
    }

    /// From now on, counts every row inserted into `hash_record` (see [`Self::record_inserts`]).
    pub fn count_record_inserts(&self) {
        match self {
            Inventory::Sqlite(path) => sqlite(path)
                .execute_batch(
                    "CREATE TABLE inserts (n INTEGER); \
                     CREATE TRIGGER count_inserts AFTER INSERT ON hash_record \
                     BEGIN INSERT INTO inserts VALUES (1); END;",
                )
                .unwrap(),
            Inventory::Postgres(db) => db
                .batch(
                    "CREATE TABLE inserts (n INTEGER); \
                     CREATE FUNCTION count_insert() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN INSERT INTO inserts VALUES (1); RETURN NEW; END $$; \
                     CREATE TRIGGER count_inserts AFTER INSERT ON hash_record \
                     FOR EACH ROW EXECUTE FUNCTION count_insert();",
                )
                .unwrap(),
        }
    }

    /// Rows inserted into `hash_record` since [`Self::count_record_inserts`].
    pub fn record_inserts(&self) -> i64 {
        self.number("SELECT count(*) FROM inserts")
    }

    /// A session's expiry as stored.
    pub fn session_expiry(&self, session: &str) -> i64 {
        assert!(session.bytes().all(|b| b.is_ascii_hexdigit()), "a uuid");
        self.number(&format!(
            "SELECT expired_date FROM session WHERE uuid = '{session}'"
        ))
    }

    fn number(&self, sql: &str) -> i64 {
        match self {
            Inventory::Sqlite(path) => sqlite(path).query_row(sql, [], |r| r.get(0)).unwrap(),
            Inventory::Postgres(db) => db
                .query_text(sql)
                .unwrap()
                .expect("a number")
                .parse()
                .unwrap(),
        }
    }

    /// Each row of `sql` as one line of text.
    fn rows(&self, sql: &str) -> Vec<String> {
        match self {
            Inventory::Sqlite(path) => sqlite_rows(path, sql),
            // Every value comes as text: quoted as SQLite's text is, so that a row reads alike.
            Inventory::Postgres(db) => db
                .query_rows(sql)
                .unwrap()
                .into_iter()
                .map(|row| {
                    let fields: Vec<String> = row
                        .iter()
                        .map(|v| v.as_ref().map_or("NULL".to_owned(), |v| format!("{v:?}")))
                        .collect();
                    fields.join(" | ")
                })
                .collect(),
        }
    }
}

/// The tables of [`Inventory::dump`]: name, columns, order.
const TABLES: &[(&str, &str, &str)] = &[
    ("backup_storage", "*", "uuid"),
    ("image", "*", "uuid"),
    (
        "image_backup_storage_ref",
        "*",
        "image_uuid, backup_storage_uuid",
    ),
    (
        "hash_record",
        "*",
        "image_uuid, backup_storage_uuid, algorithm, chunk_size, mode",
    ),
    ("ceph_backup_storage", "*", "uuid"),
    (
        "ceph_backup_storage_mon",
        "*",
        "backup_storage_uuid, position",
    ),
    ("account", "*", "uuid"),
    (
        "session",
        "uuid, account_uuid, user_uuid, create_date",
        "uuid",
    ),
];

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn sqlite_rows(path: &Path, sql: &str) -> Vec<String> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the inventory read-only");
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut query = stmt.query([]).unwrap();
    let mut rows = Vec::new();
    while let Some(row) = query.next().unwrap() {
        let fields: Vec<String> = (0..n)
            .map(|i| match row.get_ref(i).unwrap() {
                ValueRef::Null => "NULL".to_string(),
                ValueRef::Integer(v) => v.to_string(),
                ValueRef::Real(v) => format!("{v:?}"),
                ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
                ValueRef::Blob(b) => format!("blob{b:?}"),
            })
            .collect();
        rows.push(fields.join(" | "));
    }
    rows
}
