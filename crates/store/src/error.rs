//! The one error type of the store.

use std::path::PathBuf;

/// What can go wrong in the inventory.
///
/// The variants carry the values a caller needs to build a ZStack error sentence
/// (`NotFound` becomes SYS.1003, `NotOnBackupStorage` and `InUse` SYS.1006,
/// `InvalidCondition` SYS.1007); everything else is an internal error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or configured.
    #[error("cannot open the inventory database {path}: {source}")]
    Open {
        /// The file given to [`crate::Store::open`].
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },

    /// The database file (or its `-wal`/`-shm`) could not be made private (mode 0600).
    #[error("cannot make the inventory database {path} private: {source}")]
    Private {
        /// The file given to [`crate::Store::open`].
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The database was written by a newer imghash whose schema this build does not know.
    #[error(
        "the inventory database {path} has schema version {found}, but this build knows only \
         up to version {supported}; run a newer imghash"
    )]
    SchemaTooNew {
        /// The file given to [`crate::Store::open`], or the database URL (password hidden).
        path: PathBuf,
        /// The version found in the database.
        found: i64,
        /// The number of migrations this build has.
        supported: i64,
    },

    /// Any other SQLite failure (I/O error, disk full, corruption, a bug of ours).
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// Any other PostgreSQL failure (a constraint, a bug of ours).
    #[error("PostgreSQL error: {}", crate::db::postgres::with_causes(.0))]
    Postgres(#[source] postgres::Error),

    /// The database server cannot be reached or refuses work (down, restarting, too many
    /// connections, a statement past its time-out). Worth retrying later.
    #[error("the inventory database {database} is unavailable: {reason}")]
    Unavailable {
        /// The database URL, password hidden.
        database: String,
        /// What went wrong, as the client library said.
        reason: String,
    },

    /// The database URL cannot be used.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The resource does not exist (any more).
    #[error("cannot find {kind}[uuid:{uuid}], it may have been deleted")]
    NotFound {
        /// "image", "backup storage", "account", …
        kind: &'static str,
        /// The uuid looked up.
        uuid: String,
    },

    /// The image exists but has no ref on that backup storage.
    #[error("image[uuid:{image_uuid}] is not on backup storage[uuid:{backup_storage_uuid}]")]
    NotOnBackupStorage {
        /// The image.
        image_uuid: String,
        /// The backup storage it is not on.
        backup_storage_uuid: String,
    },

    /// A UNIQUE constraint refused the insert.
    #[error("a {kind} with {field} '{value}' already exists")]
    Duplicate {
        /// "image", "backup storage", "account", …
        kind: &'static str,
        /// The REST name of the field that must be unique ("uuid", "name", …).
        field: &'static str,
        /// The value that is already taken.
        value: String,
    },

    /// The resource cannot be deleted while other resources depend on it.
    #[error("cannot delete {kind}[uuid:{uuid}]: {images} image(s) are still on it")]
    InUse {
        /// "backup storage".
        kind: &'static str,
        /// The uuid of the resource that was kept.
        uuid: String,
        /// How many images still have a ref on it.
        images: u64,
    },

    /// A query condition names an unknown field or operator, or a value of the wrong type.
    #[error("invalid query condition: {0}")]
    InvalidCondition(String),

    /// A value read back does not have the type its column should have (a bug of ours, or a
    /// database changed behind our back).
    #[error("unexpected value in the inventory database: {0}")]
    Decode(String),

    /// A record passed in is inconsistent (e.g. a ref whose image uuid is not the image's).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
}

/// Result of every store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Turns a UNIQUE or PRIMARY KEY violation into [`StoreError::Duplicate`]; anything else is
/// returned as it is.
///
/// The back-end tells whether the violated key has a column called `name`, which is how a
/// caller with two unique columns (uuid and name) tells them apart: `name` is the (field, value)
/// pair reported then, `uuid` otherwise.
pub(crate) fn map_unique(
    err: StoreError,
    kind: &'static str,
    uuid: &str,
    name: Option<&str>,
) -> StoreError {
    let on_name = match &err {
        StoreError::Sqlite(e) => crate::db::sqlite::unique_violation(e),
        StoreError::Postgres(e) => crate::db::postgres::unique_violation(e),
        _ => None,
    };
    match (on_name, name) {
        (None, _) => err,
        (Some(true), Some(name)) => StoreError::Duplicate {
            kind,
            field: "name",
            value: name.to_owned(),
        },
        (Some(_), _) => StoreError::Duplicate {
            kind,
            field: "uuid",
            value: uuid.to_owned(),
        },
    }
}
