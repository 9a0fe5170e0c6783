//! [`ServerConfig`]: everything [`run`](super::run) needs, validated once.

use std::path::PathBuf;
use std::time::Duration;

/// ZStack's idle session timeout.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(7200);

/// The server's settings. The listen address is not here: [`run`](super::run) takes an
/// already bound listener, so a test can bind `127.0.0.1:0`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Holds `imghash.db` (the SQLite inventory), `admin-password` when generated, and
    /// `images/`, the default backup storage.
    pub data_dir: PathBuf,
    /// The admin password: set at first start, replaces the stored one on a later start.
    /// `None`: keep the stored one, or generate one at first start.
    pub admin_password: Option<String>,
    /// Threads of the hashing pool (`None`: one per core).
    pub hash_threads: Option<usize>,
    /// Hash jobs computed at once.
    pub max_jobs: usize,
    /// Hash jobs waiting for a slot; one more is refused with RESOURCE_EXHAUSTED.
    pub max_queued: usize,
    /// Idle time after which a session expires (renewed by every call).
    pub session_timeout: Duration,
}

impl ServerConfig {
    /// Defaults for a data directory: 2 jobs, 16 queued, all cores, 7200 s sessions.
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            admin_password: None,
            hash_threads: None,
            max_jobs: 2,
            max_queued: 16,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
        }
    }

    /// The SQLite file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("imghash.db")
    }

    /// Where a generated admin password is written (mode 0600).
    pub fn admin_password_path(&self) -> PathBuf {
        self.data_dir.join("admin-password")
    }

    /// The directory of the default "Local" backup storage.
    pub fn default_storage_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }
}
