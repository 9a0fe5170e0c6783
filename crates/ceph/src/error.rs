//! What can go wrong between us and a Ceph cluster.

use std::io;

/// Errors from connecting to a cluster and opening an RBD image.
///
/// Each variant names the thing that failed, so that a caller can pass the message on as
/// it is; [`CephError::kind`] sorts them for callers that map errors to codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CephError {
    /// A `ceph://` address that cannot be parsed.
    #[error("invalid RBD address \"{spec}\": {reason}")]
    InvalidSpec {
        /// The address as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cluster could not be reached or refused us (monitors down, bad key, bad config).
    #[error("cannot connect to the Ceph cluster ({what}): {error}")]
    Connect {
        /// What was being done: reading the config, authenticating, ...
        what: String,
        /// The underlying error.
        error: io::Error,
    },
    /// The pool does not exist on the cluster.
    #[error("Ceph pool \"{pool}\" does not exist")]
    PoolNotFound {
        /// The pool name.
        pool: String,
    },
    /// No RBD image of that name in the pool.
    #[error("RBD image \"{image}\" does not exist in pool \"{pool}\"")]
    ImageNotFound {
        /// The pool name.
        pool: String,
        /// The image name.
        image: String,
    },
    /// The image has no snapshot of that name.
    #[error("RBD image \"{pool}/{image}\" has no snapshot \"{snapshot}\"")]
    SnapshotNotFound {
        /// The pool name.
        pool: String,
        /// The image name.
        image: String,
        /// The snapshot name.
        snapshot: String,
    },
    /// The image uses a layout whose bytes this reader cannot assemble correctly.
    #[error("RBD image \"{image}\" cannot be hashed in place: {reason}")]
    Unsupported {
        /// The image as `pool/image[@snap]`.
        image: String,
        /// Which feature or layout is the obstacle.
        reason: String,
    },
    /// A request to the cluster failed or timed out.
    #[error("Ceph I/O error while {what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        error: io::Error,
    },
}

/// Coarse classes of [`CephError`], for mapping to API error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is malformed.
    InvalidRequest,
    /// The cluster or pool cannot be used.
    StorageUnusable,
    /// The image or snapshot does not exist.
    NotFound,
    /// The image exists but cannot be read as asked.
    Unsupported,
    /// A read or metadata request failed.
    Io,
}

impl CephError {
    /// Which class of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CephError::InvalidSpec { .. } => ErrorKind::InvalidRequest,
            CephError::Connect { .. } | CephError::PoolNotFound { .. } => {
                ErrorKind::StorageUnusable
            }
            CephError::ImageNotFound { .. } | CephError::SnapshotNotFound { .. } => {
                ErrorKind::NotFound
            }
            CephError::Unsupported { .. } => ErrorKind::Unsupported,
            CephError::Io { .. } => ErrorKind::Io,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = CephError> = std::result::Result<T, E>;
