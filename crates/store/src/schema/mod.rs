//! The schema of each back-end, as numbered migrations: the same tables and the same version
//! numbers in both dialects, so that [`SCHEMA_VERSION`] means one thing.

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// The schema version this build writes: the number of migrations.
pub const SCHEMA_VERSION: i64 = sqlite::MIGRATIONS.len() as i64;

/// What a migration run found.
pub(crate) enum Migrated {
    /// The database is now at [`SCHEMA_VERSION`].
    Current,
    /// The database is at a later version than this build knows; nothing was touched.
    TooNew(i64),
}
