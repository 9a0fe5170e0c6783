//! The SQLite back-end: one connection to a file (or memory) behind a mutex.
//!
//! A single connection is enough: every operation is a few indexed statements (well under a
//! millisecond), while the work they bracket — hashing gigabytes — runs outside. The file is in
//! WAL mode, so a second process (say, a backup reading it) does not block the server.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, TransactionBehavior};

use super::{Conn, Row, Value};
use crate::error::{Result, StoreError};
use crate::schema::{sqlite as schema, Migrated};

/// How long a statement waits for another process's write lock before failing with
/// SQLITE_BUSY. Our own writes are short; this covers a concurrent `sqlite3` shell or backup.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: every fixed statement of the store, with room
/// for the dynamic query SQL of the latest calls.
const STATEMENT_CACHE: usize = 128;

pub(crate) struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    /// Opens `path` (":memory:" is never a file name here: see [`Sqlite::open_in_memory`]),
    /// configures the connection and migrates the schema.
    pub(crate) fn open(path: &Path) -> Result<(Sqlite, Migrated)> {
        let conn = Connection::open(path).map_err(|source| open_err(path, source))?;
        Self::init(conn, path)
    }

    pub(crate) fn open_in_memory() -> Result<(Sqlite, Migrated)> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| open_err(path, source))?;
        Self::init(conn, path)
    }

    fn init(mut conn: Connection, path: &Path) -> Result<(Sqlite, Migrated)> {
        let err = |source| open_err(path, source);
        // busy_timeout first, so that switching to WAL waits for another process's lock.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // Answers "memory" for an in-memory database, which is fine.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(err)?;
        // A commit is durable against a process crash; against power loss at most the last
        // transactions are lost, never consistency.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        // Off by default in SQLite, and per connection: the cascades depend on it.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let migrated = schema::migrate(&mut conn).map_err(err)?;
        Ok((
            Sqlite {
                conn: Mutex::new(conn),
            },
            migrated,
        ))
    }

    /// `PRAGMA user_version`: how many migrations the file has seen.
    pub(crate) fn schema_version(&self) -> Result<i64> {
        Ok(self
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Runs `f` on the connection, each statement on its own (autocommit).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let conn = self.lock();
        f(&mut SqliteConn(&conn))
    }

    /// Runs `f` in one transaction, committed if `f` succeeds and rolled back otherwise.
    ///
    /// IMMEDIATE takes the write lock at the start, so a transaction that reads then writes
    /// never fails half-way with SQLITE_BUSY because another process wrote in between.
    pub(crate) fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&mut SqliteConn(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped any open Transaction, which rolled back, so
        // the connection is consistent and the poison can be ignored.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn open_err(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Open {
        path: path.to_owned(),
        source,
    }
}

/// A connection or a transaction (which derefs to its connection).
struct SqliteConn<'a>(&'a Connection);

impl Conn for SqliteConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| from_sqlite(row.get_ref(i)?))
                .collect::<Result<_>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput::Borrowed;
        Ok(match self {
            Value::Null => Borrowed(ValueRef::Null),
            Value::Int(v) => Borrowed(ValueRef::Integer(*v)),
            Value::Real(v) => Borrowed(ValueRef::Real(*v)),
            Value::Text(s) => Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bool(b) => Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
}

fn from_sqlite(value: ValueRef<'_>) -> Result<Value> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(bytes) => Value::Text(
            std::str::from_utf8(bytes)
                .map_err(|e| StoreError::Decode(format!("text column not UTF-8: {e}")))?
                .to_owned(),
        ),
        ValueRef::Blob(_) => return Err(StoreError::Decode("unexpected blob column".into())),
    })
}

/// Whether `err` is a UNIQUE or PRIMARY KEY violation, and if so whether a column called
/// `name` is part of the key (SQLite names the columns: "UNIQUE constraint failed: account.name").
pub(crate) fn unique_violation(err: &rusqlite::Error) -> Option<bool> {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(e, msg) = err else {
        return None;
    };
    (e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
        || e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
        .then(|| msg.as_deref().is_some_and(|m| m.contains(".name")))
}
