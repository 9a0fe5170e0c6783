//! [`Clusters`]: one cached cluster connection per Ceph backup storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use imghash_ceph::{CephError, Cluster, ErrorKind};
use imghash_store::CephSettings;

use super::settings;

/// Connections to the clusters of Ceph backup storages, by storage uuid.
///
/// Connecting costs a monitor round trip and authentication, and librados keeps a
/// connection's sessions alive by itself, so a connection is reused across requests. But a
/// cached connection may be dead (cluster restarted, keys changed): every user reports
/// failures through [`Clusters::failed`], which drops the connection after any error that
/// may come from it, so that the next request connects afresh instead of failing forever.
/// Storage settings never change, so the uuid is the whole key.
pub struct Clusters {
    /// Bound on every librados wait (connecting, and each request to a monitor or OSD).
    timeout: Duration,
    /// Connected clusters. Held only to look up or insert, never while connecting.
    connected: Mutex<HashMap<String, Arc<Cluster>>>,
}

impl Clusters {
    /// No connection yet; each will wait at most `timeout` for the cluster.
    pub fn new(timeout: Duration) -> Clusters {
        Clusters {
            timeout,
            connected: Mutex::new(HashMap::new()),
        }
    }

    /// The bound on librados waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The storage's cluster, connecting if there is no cached connection. Blocks for up
    /// to the time-out: call it on a blocking thread.
    pub fn get(&self, storage_uuid: &str, ceph: &CephSettings) -> Result<Arc<Cluster>, CephError> {
        if let Some(cluster) = self.lock().get(storage_uuid) {
            return Ok(cluster.clone());
        }
        // Two requests racing here both connect; the later insert wins and the other
        // connection is shut down when its request ends. Rare, and harmless.
        let cluster = Cluster::connect(&settings::cluster_config(ceph, self.timeout))?;
        self.lock()
            .insert(storage_uuid.to_string(), cluster.clone());
        Ok(cluster)
    }

    /// Records a failure of a request to the storage's cluster: one that may mean the
    /// connection is dead (unreachable, timed out, refused, I/O) drops it from the cache.
    pub fn failed(&self, storage_uuid: &str, error: &CephError) {
        if matches!(error.kind(), ErrorKind::StorageUnusable | ErrorKind::Io) {
            self.forget(storage_uuid);
        }
    }

    /// Drops the storage's cached connection (shut down once its last user is done).
    pub fn forget(&self, storage_uuid: &str) {
        let dropped = self.lock().remove(storage_uuid);
        if dropped.is_some() {
            tracing::debug!(backup_storage = %storage_uuid, "dropped the cached Ceph connection");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Cluster>>> {
        self.connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
