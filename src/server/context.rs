//! [`Context`]: what every service shares, and the bridge from async handlers to the
//! synchronous store.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use imghash_store::Store;

use super::error::ApiError;
use super::jobs::Jobs;
use super::login_limit::LoginLimiter;

/// Shared by all services; cheap to clone behind an `Arc`.
pub struct Context {
    /// The inventory; every call is short and runs on a blocking thread via [`Context::db`].
    pub store: Arc<Store>,
    /// Hash jobs: pool, bounds, sharing, cancellation.
    pub jobs: Arc<Jobs>,
    /// Idle session timeout in milliseconds.
    pub session_timeout_ms: i64,
    /// Failed logins per account, for the back-off.
    pub logins: LoginLimiter,
    /// Connections to the clusters of Ceph backup storages.
    #[cfg(feature = "ceph")]
    pub ceph: Arc<super::ceph::Clusters>,
}

impl Context {
    /// Runs a store operation on tokio's blocking threads, so that a slow disk never stalls
    /// the runtime's worker threads.
    pub async fn db<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> imghash_store::Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .map_err(|e| ApiError::Internal(format!("inventory task failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// Milliseconds since the Unix epoch, as the store keeps dates.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
