//! The application layer: ZStack's API workflows (log-in, backup storages, images,
//! CalculateImageHash), sessions, vocabulary and error model, with typed requests and
//! results and no transport types. The transports (`crate::grpc`, and a REST gateway next)
//! decode a request, call one method of [`App`], and encode what it returns.
//!
//! Where each behaviour lives:
//! - [`accounts`]: log-in (with the back-off of [`login_limit`]) and log-out;
//!   [`sessions`]: checking and renewing the session of a call; [`passwords`]: argon2
//!   hashes and the admin account.
//! - [`backup_storages`]: Local storages (a directory) and the default one; Ceph ones go
//!   through the facade in `crate::ceph`.
//! - [`images`]: AddImage step by step, and Query/Get/Delete, with the file work of AddImage
//!   (copying with the MD5 in the same pass) and of cleaning up after a crash.
//! - [`calculate`]: CalculateImageHash; [`jobs`]: the job manager under it (run slots,
//!   queue bound, sharing identical requests, cancelling jobs nobody waits for).
//! - [`cluster`]: several servers on one inventory (node heartbeats, hash leases shared
//!   across servers, forwarding calls about a Local storage to the node holding it).
//! - [`vocabulary`]: ZStack's enum words; [`error`]: [`ApiError`], the error model;
//!   [`validate`]: field checks.
//!
//! Every file-system or SQLite call blocks, so none runs on the async runtime's threads:
//! they go through [`blocking`] (or [`App::db`], the same for the store).

pub mod accounts;
pub mod backup_storages;
pub mod calculate;
pub mod cluster;
pub mod config;
mod confine;
pub mod error;
pub mod images;
mod jobs;
mod login_limit;
mod password_checks;
mod passwords;
mod private_fs;
pub mod queries;
pub mod sessions;
mod startup;
pub mod validate;
pub mod vocabulary;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use imghash_store::Store;

use crate::metrics::Metrics;

pub use calculate::{CalculateImageHash, ComputedHash, HashJobHandle, HashMode, HashOutcome};
pub use cluster::Origin;
pub use config::{DatabaseUrl, LoginLimits, ServerConfig, TlsIdentity, DEFAULT_CEPH_TIMEOUT};
pub use error::ApiError;
pub use images::{AddImage, ImageView};
pub use queries::Query;

use jobs::Jobs;
use login_limit::LoginLimiter;

/// The application: the inventory, the hash jobs, and what the workflows share. One per
/// server, behind an `Arc` that every transport holds.
pub struct App {
    /// The inventory; every call is short and runs on a blocking thread via [`App::db`].
    store: Arc<Store>,
    /// Hash jobs: pool, bounds, sharing, cancellation.
    jobs: Arc<Jobs>,
    /// Idle session timeout in milliseconds.
    session_timeout_ms: i64,
    /// Failed logins per account and client address, for the back-off.
    logins: LoginLimiter,
    /// The argon2 verifications of log-ins, a bounded number at once (memory).
    password_checks: password_checks::PasswordChecks,
    /// Connections to the clusters of Ceph backup storages.
    ceph: Arc<crate::ceph::Clusters>,
    /// Requests and hashes counted for `/metrics`; every front records into it.
    metrics: Arc<Metrics>,
    /// AddImage's copies in flight, to stop them.
    copies: Arc<images::Copies>,
    /// Where `file://` sources may be (`--import-root`).
    import_roots: confine::Roots,
    /// Where Local storage directories may be (`--storage-root`).
    storage_roots: confine::Roots,
    /// This server among the servers sharing the inventory.
    cluster: Arc<cluster::Cluster>,
}

impl App {
    /// Opens the inventory of `config.data_dir` and brings it to a state the API can serve
    /// (see [`startup`]); prints a generated admin password once.
    pub async fn open(config: &ServerConfig) -> anyhow::Result<Arc<App>> {
        let store = Arc::new(startup::open_inventory(config).await?);
        let cluster = cluster::Cluster::join(store.clone(), config).await?;
        let (cleaned, me) = (store.clone(), cluster.name.clone());
        let removed = blocking("crash clean-up", move || {
            images::remove_unfinished(&cleaned, &me).map_err(ApiError::from)
        })
        .await?;
        if removed > 0 {
            tracing::warn!(removed, "removed images left half-copied by a crash");
        }
        // Made now, so that the first log-in with an unknown name costs no more than others.
        blocking("dummy password hash", || {
            Ok(passwords::dummy_password_hash().len())
        })
        .await?;
        let metrics = Arc::new(Metrics::new());
        let jobs = Arc::new(Jobs::new(config, metrics.clone())?);
        let import_roots = confine::Roots::new(&config.import_roots())
            .map_err(|e| e.context("bad --import-root"))?;
        let storage_roots = confine::Roots::new(&config.storage_roots())
            .map_err(|e| e.context("bad --storage-root"))?;
        Ok(Arc::new(App {
            store,
            jobs,
            session_timeout_ms: i64::try_from(config.session_timeout.as_millis())
                .unwrap_or(i64::MAX),
            logins: LoginLimiter::new(config.login_limits),
            password_checks: password_checks::PasswordChecks::new()?,
            ceph: Arc::new(crate::ceph::Clusters::new(config.ceph_timeout)),
            metrics,
            copies: Arc::new(images::Copies::default()),
            import_roots,
            storage_roots,
            cluster,
        }))
    }

    /// Runs a store operation on a blocking thread, so that a slow disk never stalls the
    /// runtime's worker threads.
    pub async fn db<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> imghash_store::Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        blocking("inventory", move || op(&store).map_err(ApiError::from)).await
    }

    /// The server's metrics, for a front to record its requests in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Prometheus text of `/metrics`, with the job gauges sampled now.
    pub fn render_metrics(&self) -> String {
        let (running, queued) = self.jobs.counts();
        self.metrics.set_jobs(running, queued);
        self.metrics.render()
    }

    /// Cancels every hash job and copy, and refuses new ones (shutdown).
    pub fn cancel_jobs(&self) {
        self.jobs.cancel_all();
        self.copies.stop_all();
    }

    /// Waits until every hash job and copy has ended.
    pub async fn jobs_ended(&self) {
        self.jobs.wait_idle().await;
    }

    /// Leaves the servers sharing the inventory (after the jobs ended): this node's name
    /// is free again and nothing waits for a lease of it.
    pub async fn leave(&self) {
        self.cluster.leave(self.store.clone()).await;
    }
}

/// Runs blocking work (file-system calls, librados, argon2) on tokio's blocking threads.
/// The one bridge from async handlers to blocking code.
pub async fn blocking<T, F>(what: &'static str, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("{what} task failed: {e}")))?
}

/// Milliseconds since the Unix epoch, as the store keeps dates.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
