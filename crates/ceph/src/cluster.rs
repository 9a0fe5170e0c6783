//! A connection to a Ceph cluster and I/O contexts on its pools, over the raw librados API.
//!
//! Every request is bounded in time: librados waits forever by default for monitors and
//! OSDs that do not answer, and a hash request must fail instead of hanging.

use std::ffi::{CStr, CString};
use std::io;
use std::path::PathBuf;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use ceph::rados;

use crate::error::{CephError, Result};

/// How to reach a cluster, as in `ceph.conf` or ZStack's AddCephBackupStorage.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// A ceph.conf to read. When neither this nor `mon_host` is given, librados's default
    /// search applies (`$CEPH_CONF`, `/etc/ceph/ceph.conf`, ...).
    pub conf_path: Option<PathBuf>,
    /// Monitor addresses (`mon_host`), overriding the config file's.
    pub mon_host: Option<String>,
    /// The client's id: `admin` for `client.admin`.
    pub client_id: String,
    /// A keyring file, overriding the config file's.
    pub keyring: Option<PathBuf>,
    /// How long to wait for a monitor or OSD to answer before failing.
    pub timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            conf_path: None,
            mon_host: None,
            client_id: "admin".to_string(),
            keyring: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A connected cluster handle (`rados_t`), shut down when the last user drops it.
#[derive(Debug)]
pub struct Cluster {
    handle: rados::rados_t,
}

// SAFETY: librados handles are documented thread-safe; every call through `Cluster` only
// reads the handle.
unsafe impl Send for Cluster {}
unsafe impl Sync for Cluster {}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: the handle came from rados_create2 and is shut down once, here.
        unsafe { rados::rados_shutdown(self.handle) }
    }
}

/// A librados return code as a Rust result: negative values are `-errno`.
pub(crate) fn check(code: libc::c_int) -> io::Result<usize> {
    if code < 0 {
        Err(io::Error::from_raw_os_error(-code))
    } else {
        Ok(code as usize)
    }
}

fn c_string(what: &str, value: &str) -> Result<CString> {
    CString::new(value).map_err(|_| CephError::InvalidSpec {
        spec: value.to_string(),
        reason: format!("the {what} contains a NUL byte"),
    })
}

impl Cluster {
    /// Connects, waiting at most `config.timeout` for the monitors.
    pub fn connect(config: &ClusterConfig) -> Result<Arc<Cluster>> {
        let connect_error = |what: String| move |error| CephError::Connect { what, error };
        let name = c_string("client id", &format!("client.{}", config.client_id))?;
        let mut handle: rados::rados_t = ptr::null_mut();
        // SAFETY: out-pointer to a local; strings outlive the call.
        check(unsafe { rados::rados_create2(&mut handle, c"ceph".as_ptr(), name.as_ptr(), 0) })
            .map_err(connect_error("creating a client handle".into()))?;
        // From here on `cluster` owns the handle, so every early return shuts it down.
        let cluster = Cluster { handle };
        match (&config.conf_path, &config.mon_host) {
            (Some(path), _) => {
                let c_path = c_string("config path", &path.to_string_lossy())?;
                // SAFETY: valid handle and C string.
                check(unsafe { rados::rados_conf_read_file(handle, c_path.as_ptr()) }).map_err(
                    connect_error(format!("reading the config file {}", path.display())),
                )?;
            }
            (None, None) => {
                // SAFETY: a null path asks librados for its default search.
                check(unsafe { rados::rados_conf_read_file(handle, ptr::null()) }).map_err(
                    connect_error("finding a ceph.conf (give one, or monitor addresses)".into()),
                )?;
            }
            (None, Some(_)) => {}
        }
        let seconds = config.timeout.as_secs().max(1).to_string();
        let mut options = vec![
            ("client_mount_timeout", seconds.clone()),
            ("rados_mon_op_timeout", seconds.clone()),
            ("rados_osd_op_timeout", seconds),
        ];
        if let Some(mon_host) = &config.mon_host {
            options.push(("mon_host", mon_host.clone()));
        }
        if let Some(keyring) = &config.keyring {
            options.push(("keyring", keyring.to_string_lossy().into_owned()));
        }
        for (option, value) in options {
            cluster.set(option, &value)?;
        }
        // SAFETY: valid, configured handle.
        check(unsafe { rados::rados_connect(handle) }).map_err(connect_error(
            "reaching the monitors and authenticating".into(),
        ))?;
        Ok(Arc::new(cluster))
    }

    fn set(&self, option: &str, value: &str) -> Result<()> {
        let c_option = c_string("option", option)?;
        let c_value = c_string(option, value)?;
        // SAFETY: valid handle and C strings.
        check(unsafe { rados::rados_conf_set(self.handle, c_option.as_ptr(), c_value.as_ptr()) })
            .map_err(|error| CephError::Connect {
            what: format!("setting {option} = {value}"),
            error,
        })?;
        Ok(())
    }

    /// Opens an I/O context on the pool named `pool`.
    pub fn pool(self: &Arc<Cluster>, pool: &str) -> Result<Pool> {
        let c_pool = c_string("pool name", pool)?;
        let mut ioctx: rados::rados_ioctx_t = ptr::null_mut();
        // SAFETY: connected handle, out-pointer to a local.
        match check(unsafe { rados::rados_ioctx_create(self.handle, c_pool.as_ptr(), &mut ioctx) })
        {
            Ok(_) => Ok(Pool {
                ioctx,
                name: pool.to_string(),
                _cluster: self.clone(),
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(CephError::PoolNotFound {
                pool: pool.to_string(),
            }),
            Err(error) => Err(CephError::Connect {
                what: format!("opening pool \"{pool}\""),
                error,
            }),
        }
    }

    /// The cluster's raw capacity in bytes: `(total, available)`, as `ceph df` shows it
    /// (what a backup storage reports as its capacity).
    pub fn capacity(&self) -> Result<(u64, u64)> {
        let mut stat = rados::Struct_rados_cluster_stat_t::default();
        // SAFETY: connected handle, out-pointer to a local.
        check(unsafe { rados::rados_cluster_stat(self.handle, &mut stat) }).map_err(|error| {
            CephError::Io {
                what: "reading the cluster's capacity".into(),
                error,
            }
        })?;
        Ok((
            stat.kb.saturating_mul(1024),
            stat.kb_avail.saturating_mul(1024),
        ))
    }

    /// Opens an I/O context on the pool with id `id` (an image's separate data pool).
    pub(crate) fn pool_by_id(self: &Arc<Cluster>, id: i64) -> Result<Pool> {
        let mut name = vec![0u8; 256];
        // SAFETY: buffer and its length.
        check(unsafe {
            rados::rados_pool_reverse_lookup(self.handle, id, name.as_mut_ptr().cast(), name.len())
        })
        .map_err(|error| CephError::Io {
            what: format!("looking up pool id {id}"),
            error,
        })?;
        let name = CStr::from_bytes_until_nul(&name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.pool(&name)
    }
}

/// An I/O context on one pool (`rados_ioctx_t`); keeps its cluster connected.
#[derive(Debug)]
pub struct Pool {
    ioctx: rados::rados_ioctx_t,
    name: String,
    _cluster: Arc<Cluster>,
}

// SAFETY: librados I/O contexts may be used from several threads at once for reads; the
// only state changed after creation (the snapshot to read) is set before sharing.
unsafe impl Send for Pool {}
unsafe impl Sync for Pool {}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: created by rados_ioctx_create, destroyed once.
        unsafe { rados::rados_ioctx_destroy(self.ioctx) }
    }
}

impl Pool {
    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes later reads see snapshot `snap_id` instead of the current data.
    pub(crate) fn read_snapshot(&mut self, snap_id: u64) {
        // SAFETY: valid ioctx; `&mut self` means no read is in flight.
        unsafe { rados::rados_ioctx_snap_set_read(self.ioctx, snap_id) }
    }

    /// Reads up to `buf.len()` bytes of `object` from `offset`; `Ok(None)` if the object
    /// does not exist.
    pub(crate) fn read(
        &self,
        object: &CStr,
        buf: &mut [u8],
        offset: u64,
    ) -> io::Result<Option<usize>> {
        // SAFETY: valid ioctx, C string, and a buffer of the given length.
        let code = unsafe {
            rados::rados_read(
                self.ioctx,
                object.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                offset,
            )
        };
        match check(code) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Calls the object class method `class.method` on `object` and returns its output.
    pub(crate) fn exec(
        &self,
        object: &str,
        class: &str,
        method: &str,
        input: &[u8],
    ) -> io::Result<Vec<u8>> {
        let to_c =
            |s: &str| CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
        let (c_object, c_class, c_method) = (to_c(object)?, to_c(class)?, to_c(method)?);
        // Large enough for any header field we ask for, even a long snapshot list.
        let mut out = vec![0u8; 1 << 20];
        // SAFETY: valid ioctx, C strings, input and output buffers with their lengths.
        let code = unsafe {
            rados::rados_exec(
                self.ioctx,
                c_object.as_ptr(),
                c_class.as_ptr(),
                c_method.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
            )
        };
        out.truncate(check(code)?);
        Ok(out)
    }
}
