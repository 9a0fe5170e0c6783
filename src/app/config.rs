//! [`ServerConfig`]: everything the server needs, validated once.

use std::path::PathBuf;
use std::time::Duration;

pub use super::login_limit::LoginLimits;

/// ZStack's idle session timeout.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(7200);

/// The server's settings. The listen address is not here: `crate::run` takes an
/// already bound listener, so a test can bind `127.0.0.1:0`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Holds `imghash.db` (the SQLite inventory, unless `database_url` is set),
    /// `admin-password` when generated, and `images/`, the default backup storage.
    pub data_dir: PathBuf,
    /// A PostgreSQL database to keep the inventory in instead of `imghash.db`.
    pub database_url: Option<DatabaseUrl>,
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
    /// Back-off of an account after repeated failed logins.
    pub login_limits: LoginLimits,
    /// Certificate chain and private key to serve TLS with (`None`: plaintext).
    pub tls: Option<TlsIdentity>,
    /// How long to wait for a Ceph cluster (connecting, and each request to a monitor or
    /// OSD) before failing; librados's own default is to wait forever. Whole seconds, at
    /// least 1. Used only by a build with the `ceph` feature.
    pub ceph_timeout: Duration,
    /// Connection cap and time-outs of the listener.
    pub connections: crate::net::Limits,
    /// Directories AddImage may read `file://` sources from (empty: the data directory).
    pub import_roots: Vec<PathBuf>,
    /// Directories Local backup storages may be in (empty: the data directory).
    pub storage_roots: Vec<PathBuf>,
    /// This server's name among the servers sharing the inventory (`--node-name`).
    pub node_name: String,
    /// The gRPC address other servers reach this one at (`--advertise`, `host:port`);
    /// `None`: the listen address, unless it is a wildcard.
    pub advertise: Option<String>,
    /// A server whose heartbeat is older than this is down: its name may be taken again,
    /// its hash jobs taken over. It beats five times per time-out.
    pub node_timeout: Duration,
}

/// The default of [`ServerConfig::node_timeout`].
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// The default of [`ServerConfig::ceph_timeout`].
pub const DEFAULT_CEPH_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate chain and private key of a TLS server, PEM. Its `Debug` does not print
/// the key, so that logging a [`ServerConfig`] cannot leak it.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain.
    pub cert_pem: Vec<u8>,
    /// Its private key.
    pub key_pem: Vec<u8>,
}

impl TlsIdentity {
    /// From PEM: the certificate chain and its private key.
    pub fn from_pem(cert: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> TlsIdentity {
        TlsIdentity {
            cert_pem: cert.as_ref().to_vec(),
            key_pem: key.as_ref().to_vec(),
        }
    }
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(<certificate and key>)")
    }
}

/// A `postgres://` URL. Its `Debug` hides the password, so that logging a [`ServerConfig`]
/// cannot leak it.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL; it is checked when the server connects.
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", imghash_store::redact_url(&self.0))
    }
}

impl ServerConfig {
    /// Defaults for a data directory: 2 jobs, 16 queued, all cores, 7200 s sessions, 5
    /// failed logins in 60 s lock an account for 60 s, plaintext, 10 s Ceph time-out, and
    /// the connection limits of [`crate::net::Limits::default`].
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            database_url: None,
            admin_password: None,
            hash_threads: None,
            max_jobs: 2,
            max_queued: 16,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            login_limits: LoginLimits::default(),
            tls: None,
            ceph_timeout: DEFAULT_CEPH_TIMEOUT,
            connections: crate::net::Limits::default(),
            import_roots: Vec::new(),
            storage_roots: Vec::new(),
            node_name: host_name(),
            advertise: None,
            node_timeout: DEFAULT_NODE_TIMEOUT,
        }
    }

    /// Fills in [`ServerConfig::advertise`] from the address the gRPC listener is bound to,
    /// unless it was given or that address is a wildcard (no one could reach it there).
    pub fn advertise_listener(&mut self, bound: Option<std::net::SocketAddr>) {
        if self.advertise.is_none() {
            self.advertise = bound
                .filter(|addr| !addr.ip().is_unspecified())
                .map(|addr| addr.to_string());
        }
    }

    /// The SQLite file (unused with a `database_url`).
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("imghash.db")
    }

    /// Where a generated admin password is written (mode 0600).
    pub fn admin_password_path(&self) -> PathBuf {
        self.data_dir.join("admin-password")
    }

    /// The import roots in force: the configured ones, or the data directory.
    pub fn import_roots(&self) -> Vec<PathBuf> {
        self.or_data_dir(&self.import_roots)
    }

    /// The storage roots in force: the configured ones, or the data directory.
    pub fn storage_roots(&self) -> Vec<PathBuf> {
        self.or_data_dir(&self.storage_roots)
    }

    fn or_data_dir(&self, roots: &[PathBuf]) -> Vec<PathBuf> {
        match roots {
            [] => vec![self.data_dir.clone()],
            roots => roots.to_vec(),
        }
    }

    /// The directory of the default "Local" backup storage.
    pub fn default_storage_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }
}

/// The host's name, the default node name ("localhost" if the system has none).
pub fn host_name() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().trim().to_string();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}
