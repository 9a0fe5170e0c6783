//! `ceph://pool/image[@snapshot]` addresses.

use std::fmt;
use std::str::FromStr;

use crate::error::CephError;

/// Where an RBD image lives: its pool, its name and optionally one of its snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbdSpec {
    /// The RADOS pool.
    pub pool: String,
    /// The image name within the pool.
    pub image: String,
    /// A snapshot of the image to read instead of its current state.
    pub snapshot: Option<String>,
}

/// The URL scheme of RBD addresses, as in ZStack's `installPath`.
pub const SCHEME: &str = "ceph://";

impl RbdSpec {
    /// True if `text` is meant as an RBD address (starts with `ceph://`).
    pub fn is_rbd_address(text: &str) -> bool {
        text.starts_with(SCHEME)
    }
}

impl FromStr for RbdSpec {
    type Err = CephError;

    fn from_str(text: &str) -> Result<RbdSpec, CephError> {
        let invalid = |reason: &str| CephError::InvalidSpec {
            spec: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("expected ceph://POOL/IMAGE or ceph://POOL/IMAGE@SNAPSHOT"))?;
        let (pool, image_and_snap) = rest
            .split_once('/')
            .ok_or_else(|| invalid("expected ceph://POOL/IMAGE (no \"/\" after the pool)"))?;
        if image_and_snap.contains('/') {
            return Err(invalid(
                "RBD namespaces (POOL/NAMESPACE/IMAGE) are not supported",
            ));
        }
        let (image, snapshot) = match image_and_snap.split_once('@') {
            Some((image, snap)) => (image, Some(snap)),
            None => (image_and_snap, None),
        };
        if pool.is_empty() {
            return Err(invalid("the pool name is empty"));
        }
        if image.is_empty() {
            return Err(invalid("the image name is empty"));
        }
        if snapshot.is_some_and(str::is_empty) {
            return Err(invalid("the snapshot name after \"@\" is empty"));
        }
        if text.contains('\0') {
            return Err(invalid("it contains a NUL byte"));
        }
        Ok(RbdSpec {
            pool: pool.to_string(),
            image: image.to_string(),
            snapshot: snapshot.map(str::to_string),
        })
    }
}

impl fmt::Display for RbdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.pool, self.image)?;
        if let Some(snap) = &self.snapshot {
            write!(f, "@{snap}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pool_image_and_snapshot() {
        let spec: RbdSpec = "ceph://zs-images/f0b1@base".parse().unwrap();
        assert_eq!(spec.pool, "zs-images");
        assert_eq!(spec.image, "f0b1");
        assert_eq!(spec.snapshot.as_deref(), Some("base"));
        assert_eq!(spec.to_string(), "ceph://zs-images/f0b1@base");
        let head: RbdSpec = "ceph://rbd/disk".parse().unwrap();
        assert_eq!(head.snapshot, None);
    }

    #[test]
    fn rejects_malformed_addresses_naming_them() {
        for bad in [
            "rbd://p/i",
            "ceph://pool",
            "ceph:///image",
            "ceph://pool/",
            "ceph://pool/image@",
            "ceph://pool/ns/image",
        ] {
            let err = bad.parse::<RbdSpec>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
