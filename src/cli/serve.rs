//! `imghash serve`: flags (each also an environment variable) and the glue to
//! [`run_fronts`](crate::run_fronts).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use super::UsageError;
use crate::app::{DatabaseUrl, ServerConfig, TlsIdentity};
use crate::rest::RestConfig;
use crate::{run_fronts, RestFront};

/// How the server writes its log on stderr.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Serve CalculateImageHash (ZStack's API) over gRPC.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Directory of the inventory (imghash.db) and of the default backup storage (images/).
    #[arg(long, env = "IMGHASH_DATA_DIR", default_value = "./imghash-data")]
    pub data_dir: PathBuf,
    /// Keep the inventory in this PostgreSQL database (15 or newer) instead of
    /// <data-dir>/imghash.db, e.g. postgres://imghash:PASSWORD@db:5432/imghash?sslmode=verify-full.
    /// Prefer the environment variable: a command line is visible to every local user.
    #[arg(long, env = "IMGHASH_DATABASE_URL", hide_env_values = true, value_name = "URL",
        value_parser = parse_database_url)]
    pub database_url: Option<DatabaseUrl>,
    /// Address to listen on.
    #[arg(long, env = "IMGHASH_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Password of the 'admin' account: set at first start, replaces the stored one later.
    /// Without it, the first start generates one into <data-dir>/admin-password.
    #[arg(long, env = "IMGHASH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Hashing threads (default: one per core).
    #[arg(long, env = "IMGHASH_HASH_THREADS", value_name = "N")]
    pub hash_threads: Option<usize>,
    /// Hash jobs computed at once.
    #[arg(long, env = "IMGHASH_MAX_JOBS", default_value_t = 2, value_name = "N")]
    pub max_jobs: usize,
    /// Hash jobs waiting for a slot before RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "IMGHASH_MAX_QUEUED",
        default_value_t = 16,
        value_name = "N"
    )]
    pub max_queued: usize,
    /// Allow a non-loopback listen address although the traffic (passwords, sessions) is
    /// plaintext. Not needed with --tls-cert.
    #[arg(long, env = "IMGHASH_ALLOW_INSECURE_LISTEN")]
    pub allow_insecure_listen: bool,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(
        long,
        env = "IMGHASH_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// How long to wait for a Ceph cluster before failing a request (connecting, and each
    /// request to a monitor or OSD), e.g. "10s"; whole seconds. Ceph needs the `ceph` feature.
    #[arg(long, env = "IMGHASH_CEPH_TIMEOUT", default_value = "10s", value_name = "DURATION",
        value_parser = humantime::parse_duration)]
    pub ceph_timeout: std::time::Duration,
    /// Address of ZStack's REST API (`/zstack/v1/...`), or "off". Same rules as --listen:
    /// loopback, TLS or --allow-insecure-listen.
    #[arg(long, env = "IMGHASH_REST_LISTEN", default_value = "127.0.0.1:8080",
        value_name = "ADDR|off", value_parser = parse_rest_listen)]
    pub rest_listen: RestListen,
    /// A host (`host` or `host:port`) that REST web hooks (`X-Web-Hook`) may be sent to;
    /// repeat for more. None by default: a request with a web hook is refused.
    #[arg(
        long,
        env = "IMGHASH_WEBHOOK_ALLOW",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    pub webhook_allow: Vec<String>,
    /// How long the result of an asynchronous REST call is kept for polling (ZStack: 3h).
    #[arg(long, env = "IMGHASH_API_JOB_RETENTION", default_value = "3h", value_name = "DURATION",
        value_parser = humantime::parse_duration)]
    pub api_job_retention: std::time::Duration,
    /// Results of asynchronous REST calls kept at most; the oldest go first.
    #[arg(
        long,
        env = "IMGHASH_MAX_API_JOBS",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub max_api_jobs: usize,
    /// Connections open at once; more wait in the kernel's listen backlog until one closes.
    /// Lowered (with a warning) to fit the open-file limit.
    #[arg(
        long,
        env = "IMGHASH_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_name = "N"
    )]
    pub max_connections: usize,
    /// Time from accepting a connection to its first request (TLS and HTTP/2 preface
    /// included); a connection that has not sent one by then is closed.
    #[arg(long, env = "IMGHASH_HANDSHAKE_TIMEOUT", default_value = "10s", value_name = "DURATION",
        value_parser = humantime::parse_duration)]
    pub handshake_timeout: std::time::Duration,
    /// A connection with no request in flight for this long is closed.
    #[arg(long, env = "IMGHASH_IDLE_TIMEOUT", default_value = "300s", value_name = "DURATION",
        value_parser = humantime::parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Log format on stderr: `text` (coloured only when stderr is a terminal and NO_COLOR
    /// is unset) or `json` (one object per line). RUST_LOG filters (default `info`).
    #[arg(long, env = "IMGHASH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "IMGHASH_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// A directory AddImage may read file:// sources from (repeatable; the environment
    /// variable takes a ':'-separated list). Default: the data directory only.
    #[arg(
        long = "import-root",
        env = "IMGHASH_IMPORT_ROOTS",
        value_name = "DIR",
        value_delimiter = ':'
    )]
    pub import_roots: Vec<PathBuf>,
    /// A directory Local backup storages may be in (repeatable; the environment variable
    /// takes a ':'-separated list). Default: the data directory only.
    #[arg(
        long = "storage-root",
        env = "IMGHASH_STORAGE_ROOTS",
        value_name = "DIR",
        value_delimiter = ':'
    )]
    pub storage_roots: Vec<PathBuf>,
    /// This server's name among the servers sharing one inventory (default: the host
    /// name). Two live servers cannot have the same name; Local backup storages belong to
    /// the server that added them.
    #[arg(long, env = "IMGHASH_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// The gRPC address (`host:port`) other servers reach this one at, to forward calls
    /// about its Local backup storages (default: --listen, unless it is a wildcard).
    #[arg(long, env = "IMGHASH_ADVERTISE", value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// A server whose heartbeat is older than this is down: its hash jobs are taken over
    /// and its name may be used again. It beats five times per time-out.
    #[arg(long, env = "IMGHASH_NODE_TIMEOUT", default_value = "10s", value_name = "DURATION",
        value_parser = humantime::parse_duration)]
    pub node_timeout: std::time::Duration,
}

/// `--rest-listen`: an address, or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestListen {
    /// Serve REST here.
    On(SocketAddr),
    /// No REST listener.
    Off,
}

fn parse_rest_listen(text: &str) -> Result<RestListen, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(RestListen::Off);
    }
    text.parse()
        .map(RestListen::On)
        .map_err(|e| format!("'{text}' is neither an address (IP:PORT) nor 'off': {e}"))
}

impl ServeArgs {
    /// The REST front's settings.
    pub fn rest_config(&self) -> RestConfig {
        RestConfig {
            webhook_allow: self.webhook_allow.clone(),
            job_retention: self.api_job_retention,
            max_jobs_kept: self.max_api_jobs,
            ..RestConfig::default()
        }
    }

    /// The validated configuration: a [`UsageError`] for flags that do not go together, a
    /// plain error for a certificate or key that cannot be read.
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        self.check_flags()?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let read = |path: &PathBuf| {
                    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
                };
                Some(TlsIdentity::from_pem(read(cert)?, read(key)?))
            }
            _ => None,
        };
        let mut config = ServerConfig::new(&self.data_dir);
        config.database_url = self.database_url.clone();
        config.admin_password = self.admin_password.clone();
        config.hash_threads = self.hash_threads;
        config.max_jobs = self.max_jobs;
        config.max_queued = self.max_queued;
        config.tls = tls;
        config.ceph_timeout = self.ceph_timeout;
        config.connections.max_connections = self.max_connections;
        config.connections.handshake_timeout = self.handshake_timeout;
        config.connections.idle_timeout = self.idle_timeout;
        config.import_roots = self.import_roots.clone();
        config.storage_roots = self.storage_roots.clone();
        if let Some(name) = &self.node_name {
            config.node_name = name.clone();
        }
        config.advertise = self.advertise.clone();
        config.node_timeout = self.node_timeout;
        Ok(config)
    }

    /// Flags that are wrong whatever the files say.
    fn check_flags(&self) -> Result<(), UsageError> {
        let usage = |ok: bool, message: String| if ok { Ok(()) } else { Err(UsageError(message)) };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            _ => {
                return Err(UsageError(
                    "--tls-cert and --tls-key go together".to_string(),
                ))
            }
        };
        usage(
            self.listen.ip().is_loopback() || self.allow_insecure_listen || tls,
            format!(
                "refusing to listen on {} in plaintext: use a loopback address, serve TLS \
                 (--tls-cert and --tls-key), or pass --allow-insecure-listen",
                self.listen
            ),
        )?;
        if let RestListen::On(rest) = self.rest_listen {
            usage(
                rest.ip().is_loopback() || self.allow_insecure_listen || tls,
                format!(
                    "refusing to serve REST on {rest} in plaintext: use a loopback address, \
                     serve TLS (--tls-cert and --tls-key), pass --allow-insecure-listen, or \
                     --rest-listen off"
                ),
            )?;
        }
        usage(
            self.max_api_jobs > 0,
            "--max-api-jobs must be at least 1".to_string(),
        )?;
        usage(
            self.max_jobs > 0,
            "--max-jobs must be at least 1".to_string(),
        )?;
        usage(
            self.max_connections > 0,
            "--max-connections must be at least 1".to_string(),
        )?;
        usage(
            !self.handshake_timeout.is_zero() && !self.idle_timeout.is_zero(),
            "--handshake-timeout and --idle-timeout must be longer than 0s".to_string(),
        )?;
        usage(
            self.node_timeout >= std::time::Duration::from_secs(1),
            "--node-timeout must be at least 1s".to_string(),
        )?;
        if let Some(name) = &self.node_name {
            usage(
                crate::app::validate::node_name(name).is_ok(),
                format!("--node-name '{name}' must be 1 to 255 letters, digits, '.', '-' or '_'"),
            )?;
        }
        if let Some(address) = &self.advertise {
            usage(
                crate::app::validate::host_port(address).is_ok(),
                format!("--advertise '{address}' must be HOST:PORT"),
            )?;
        }
        usage(
            self.hash_threads != Some(0),
            "--hash-threads must be at least 1".to_string(),
        )?;
        usage(
            self.ceph_timeout.as_secs() >= 1 && self.ceph_timeout.subsec_nanos() == 0,
            format!(
                "--ceph-timeout must be a whole number of seconds, at least 1s (librados \
                 counts in seconds), not {}",
                humantime::format_duration(self.ceph_timeout)
            ),
        )
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn command(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let rest = match args.rest_listen {
            RestListen::Off => None,
            RestListen::On(address) => Some(RestFront {
                listener: tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} (--rest-listen)"))?,
                config: args.rest_config(),
            }),
        };
        run_fronts(config, listener, rest, shutdown_signal()).await
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("signal received");
}

/// Any text: the URL is checked when the server connects, with the password hidden in errors.
fn parse_database_url(url: &str) -> Result<DatabaseUrl, std::convert::Infallible> {
    Ok(DatabaseUrl::new(url))
}
