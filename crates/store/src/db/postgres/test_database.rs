//! [`TestDatabase`]: a throw-away PostgreSQL database for tests.

use super::url::DatabaseUrl;
use crate::error::{Result, StoreError};

/// A fresh, empty database created in a PostgreSQL cluster for one test (or one group of test
/// servers sharing it), dropped when this value is.
///
/// Made for tests: the store's own, and the server's. Safe to create and drop from async code
/// (the work runs on a thread of its own).
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// The environment variable naming a superuser URL of the cluster that tests create their
    /// databases in. Unset: the tests run on SQLite only.
    pub const ENV: &'static str = "IMGHASH_TEST_DATABASE_URL";

    /// A new database in the cluster of [`TestDatabase::ENV`], or `None` if it is not set.
    ///
    /// # Panics
    ///
    /// If the variable is set but the database cannot be created: a test asked for
    /// PostgreSQL and must not quietly pass without it.
    pub fn from_env() -> Option<TestDatabase> {
        let admin_url = std::env::var(Self::ENV).ok().filter(|u| !u.is_empty())?;
        Some(Self::create(&admin_url).unwrap_or_else(|e| panic!("{}: {e}", Self::ENV)))
    }

    /// Creates a new database with a random name in the cluster that `admin_url` (a user
    /// allowed to `CREATE DATABASE`) reaches.
    pub fn create(admin_url: &str) -> Result<TestDatabase> {
        let prefix = std::env::var("IMGHASH_TEST_DATABASE_PREFIX")
            .unwrap_or_else(|_| "imghash_test".to_owned());
        let name = format!("{prefix}_{}", crate::new_uuid());
        let url = with_database(admin_url, &name);
        admin(admin_url, format!("CREATE DATABASE \"{name}\""))?;
        Ok(TestDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// The URL of the new database (same user and password as the admin URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL (one or more statements, as `psql` would) as the admin user in the new
    /// database: for a test that must set up or break what the store cannot (triggers,
    /// terminated connections).
    pub fn batch(&self, sql: &str) -> Result<()> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        on_own_thread(move || {
            connect(&url)?
                .batch_execute(&sql)
                .map_err(StoreError::Postgres)
        })
    }

    /// Every row of `sql`, each column as PostgreSQL prints it (`NULL` as `None`): read with
    /// the simple query protocol, which sends every value as text.
    pub fn query_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        on_own_thread(move || {
            let messages = connect(&url)?
                .simple_query(&sql)
                .map_err(StoreError::Postgres)?;
            Ok(messages
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect())
        })
    }

    /// The first column of the first row of `sql`, as text.
    pub fn query_text(&self, sql: &str) -> Result<Option<String>> {
        let rows = self.query_rows(sql)?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE ends the connections a test server may still hold.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.admin_url, sql) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

fn admin(url: &str, sql: String) -> Result<()> {
    let url = url.to_owned();
    on_own_thread(move || {
        connect(&url)?
            .batch_execute(&sql)
            .map_err(StoreError::Postgres)
    })
}

fn connect(url: &str) -> Result<postgres::Client> {
    let parsed = DatabaseUrl::parse(url)?;
    let tls = super::tls::connector(parsed.tls, parsed.root_cert.as_deref()).map_err(|reason| {
        StoreError::InvalidUrl {
            url: parsed.redacted.clone(),
            reason,
        }
    })?;
    parsed
        .config
        .connect(tls)
        .map_err(|e| super::classify(&parsed.redacted, e))
}

/// The client blocks on a runtime of its own, which cannot start on an async thread.
fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    std::thread::spawn(work)
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `admin_url` with its database name replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &base[..host_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_admin_one() {
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=disable", "t_1"),
            "postgres://u:p@h:1/t_1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
    }
}
