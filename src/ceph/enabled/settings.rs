//! AddCephBackupStorage's fields, checked, and the librados configuration they make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use imghash_ceph::ClusterConfig;
use imghash_store::CephSettings;

use crate::app::backup_storages::AddCephBackupStorage;
use crate::app::ApiError;
use crate::ceph::mons;

/// The client id when none is given: client.admin, as the `rbd` and `ceph` tools assume.
pub const DEFAULT_CLIENT_ID: &str = "admin";

/// The request's Ceph settings, or SYS.1007 naming the bad value. Reads nothing but the
/// metadata of the files named.
pub fn from_request(req: &AddCephBackupStorage) -> Result<CephSettings, ApiError> {
    let invalid = |sentence: String| ApiError::InvalidArgument(sentence);
    let pool_name = pool_name(&req.pool_name)?;
    let mons = mons::normalise(&req.mon_urls)
        .map_err(|reason| invalid(format!("Invalid monUrls: {reason}")))?;
    let conf_path = optional_file("cephConf", &req.ceph_conf)?;
    if mons.is_empty() && conf_path.is_none() {
        return Err(invalid(
            "Give the cluster's monitors in monUrls (e.g. \"10.0.0.1:6789\") or a ceph.conf \
             path in cephConf"
                .to_string(),
        ));
    }
    let client_id = match req.client_id.trim() {
        "" => DEFAULT_CLIENT_ID.to_string(),
        id if id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
        {
            id.to_string()
        }
        id => {
            return Err(invalid(format!(
                "Invalid clientId '{id}': expected a Ceph client id such as 'admin' or \
                 'zstack' (letters, digits, '_', '-', '.'; without the 'client.' prefix)"
            )))
        }
    };
    let keyring = optional_file("keyring", &req.keyring)?;
    let text = |path: PathBuf| path.to_string_lossy().into_owned();
    Ok(CephSettings {
        pool_name,
        mons,
        conf_path: conf_path.map(text),
        client_id,
        keyring: keyring.map(text),
    })
}

/// A pool name that fits in a `ceph://POOL/IMAGE` url.
fn pool_name(name: &str) -> Result<String, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::missing("poolName"));
    }
    let usable = name.len() <= 255
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '@'));
    if !usable {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid poolName '{name}': a pool name for ceph://POOL/IMAGE urls has no '/', \
             '@', spaces or control characters"
        )));
    }
    Ok(name.to_string())
}

/// An optional absolute path to an existing regular file on the server.
fn optional_file(field: &str, value: &str) -> Result<Option<PathBuf>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    let path = Path::new(value);
    if !path.is_absolute() {
        return Err(ApiError::InvalidArgument(format!(
            "Field '{field}' must be an absolute path on the server, not '{value}'"
        )));
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some(path.to_path_buf())),
        Ok(_) => Err(ApiError::InvalidArgument(format!(
            "Field '{field}': '{value}' is not a regular file"
        ))),
        Err(e) => Err(ApiError::InvalidArgument(format!(
            "Field '{field}': cannot read '{value}': {e}"
        ))),
    }
}

/// How librados reaches the storage's cluster, every request bounded by `timeout`.
pub fn cluster_config(settings: &CephSettings, timeout: Duration) -> ClusterConfig {
    ClusterConfig {
        conf_path: settings.conf_path.as_ref().map(PathBuf::from),
        // One `mon_host` list; an address vector's inner commas are inside its brackets.
        mon_host: (!settings.mons.is_empty()).then(|| settings.mons.join(",")),
        client_id: settings.client_id.clone(),
        keyring: settings.keyring.as_ref().map(PathBuf::from),
        timeout,
    }
}

/// Where the storage's monitors come from, for error sentences: the addresses, or the
/// ceph.conf that names them.
pub fn describe_cluster(settings: &CephSettings) -> String {
    match (&settings.conf_path, settings.mons.is_empty()) {
        (_, false) => format!("monitors {}", settings.mons.join(", ")),
        (Some(conf), true) => format!("the monitors of {conf}"),
        (None, true) => "no monitors".to_string(),
    }
}
