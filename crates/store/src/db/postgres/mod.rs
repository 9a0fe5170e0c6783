//! The PostgreSQL back-end: a bounded pool of connections, each with its own prepared
//! statements.
//!
//! The synchronous `postgres` client fits the store's synchronous API (callers are already on
//! blocking threads); `r2d2` bounds the number of connections and how long a caller waits for
//! one. A connection that the server closed (restart, `pg_terminate_backend`) is dropped when
//! it is handed back, and a pooled connection is checked before it is handed out, so the
//! store recovers by itself when the database comes back.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, GenericClient, Statement};
use r2d2::ManageConnection as _;

use super::{Conn, Row, Value};
use crate::error::{Result, StoreError};
use crate::schema::{postgres as schema, Migrated};

mod test_database;
mod tls;
pub(crate) mod url;
mod values;

pub use test_database::TestDatabase;
use url::DatabaseUrl;

/// Connections one store opens at most. Each serves one operation at a time; operations are
/// short, so a few connections serve many concurrent requests.
const POOL_SIZE: u32 = 16;
/// How long an operation waits for a connection (all busy, or the database unreachable)
/// before it fails as unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection before the cache starts over: every fixed
/// statement of the store fits many times; dynamic queries could otherwise grow it forever.
const STATEMENT_CACHE: usize = 256;

pub(crate) struct Postgres {
    pool: Option<r2d2::Pool<Manager>>,
    redacted: String,
}

impl Postgres {
    /// Connects to the database of `url` and migrates its schema.
    pub(crate) fn connect(url: &str) -> Result<(Postgres, Migrated)> {
        let url = DatabaseUrl::parse(url)?;
        let redacted = url.redacted.clone();
        let tls = tls::connector(url.tls, url.root_cert.as_deref()).map_err(|reason| {
            StoreError::InvalidUrl {
                url: redacted.clone(),
                reason,
            }
        })?;
        let manager = Manager {
            config: url.config,
            tls,
        };
        // The first connection made here, so that a wrong password or an unreachable host is
        // reported as such at startup, not as a pool time-out.
        let mut first = manager.connect().map_err(|e| unavailable(&redacted, &e))?;
        let migrated = schema::migrate(&mut first.client).map_err(|e| classify(&redacted, e))?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        let db = Postgres {
            pool: Some(pool),
            redacted,
        };
        Ok((db, migrated))
    }

    /// The URL, password hidden.
    pub(crate) fn redacted_url(&self) -> &str {
        &self.redacted
    }

    pub(crate) fn schema_version(&self) -> Result<i64> {
        self.with_conn(|c| {
            let value = c.query_value(schema::VERSION_QUERY, &[])?;
            crate::store::read_count(value)
        })
    }

    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.checkout()?;
        let PgConn { client, statements } = &mut *conn;
        f(&mut PgRun {
            client,
            statements,
            url: &self.redacted,
        })
    }

    pub(crate) fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.checkout()?;
        let PgConn { client, statements } = &mut *conn;
        let mut tx = client
            .transaction()
            .map_err(|e| classify(&self.redacted, e))?;
        let out = f(&mut PgRun {
            client: &mut tx,
            statements,
            url: &self.redacted,
        })?;
        tx.commit().map_err(|e| classify(&self.redacted, e))?;
        Ok(out)
    }

    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>> {
        let pool = self.pool.as_ref().expect("the pool lives until drop");
        pool.get().map_err(|e| StoreError::Unavailable {
            database: self.redacted.clone(),
            reason: format!(
                "no connection within {} s ({e})",
                CHECKOUT_TIMEOUT.as_secs()
            ),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Each client closes through its own small runtime, which must not run on an async
        // thread: a server drops its store at shutdown, from async code.
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

/// A pooled connection: the client and its prepared statements by SQL text.
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct Manager {
    config: postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(self.tls.clone())?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// A connection or a transaction, with the connection's statement cache.
struct PgRun<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
    url: &'a str,
}

impl<C: GenericClient> PgRun<'_, C> {
    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        let statement = self
            .client
            .prepare(&dollar_placeholders(sql))
            .map_err(|e| classify(self.url, e))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl<C: GenericClient> Conn for PgRun<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize> {
        let statement = self.prepare(sql)?;
        let changed = self
            .client
            .execute(&statement, &as_params(params))
            .map_err(|e| classify(self.url, e))?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let statement = self.prepare(sql)?;
        let rows = self
            .client
            .query(&statement, &as_params(params))
            .map_err(|e| classify(self.url, e))?;
        rows.iter().map(values::read_row).collect()
    }
}

fn as_params(params: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p as _).collect()
}

/// `?1` → `$1`. The store's SQL has no `?` in a string literal or a comment.
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// An error from the server or the connection, as the store reports it: the database being
/// gone or refusing work is [`StoreError::Unavailable`]; anything else is kept as it is.
pub(crate) fn classify(url: &str, err: postgres::Error) -> StoreError {
    if is_unavailable(&err) {
        unavailable(url, &err)
    } else {
        StoreError::Postgres(err)
    }
}

fn unavailable(url: &str, err: &postgres::Error) -> StoreError {
    StoreError::Unavailable {
        database: url.to_owned(),
        reason: with_causes(err),
    }
}

/// The error and its causes: the client's own message is often only "error connecting to
/// server", the cause says "Connection refused".
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

fn is_unavailable(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        return code.code().starts_with("08") // connection exception
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::QUERY_CANCELED, // statement_timeout
            ]
            .contains(code);
    }
    // No server error: the connection itself (refused, reset, timed out) failed.
    std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>())
}

/// Whether `err` is a UNIQUE or PRIMARY KEY violation, and if so whether the key is the `name`
/// column (PostgreSQL names the constraint `<table>_name_key`).
pub(crate) fn unique_violation(err: &postgres::Error) -> Option<bool> {
    let db = err.as_db_error()?;
    (db.code() == &SqlState::UNIQUE_VIOLATION)
        .then(|| db.constraint().is_some_and(|c| c.ends_with("_name_key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_dollars() {
        assert_eq!(
            dollar_placeholders("a = ?1 AND b IN (?2, ?10) AND c ? d"),
            "a = $1 AND b IN ($2, $10) AND c ? d"
        );
    }
}
