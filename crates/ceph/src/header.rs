//! An RBD image's layout, read from its header object through the `rbd` object class
//! (what librbd itself does): where its data objects are and how long it is.
//!
//! A format-2 image `NAME` in a pool has an id object `rbd_id.NAME` holding its id, a
//! header object `rbd_header.ID`, and data objects `PREFIX.%016x` of 2^order bytes each,
//! object *n* holding image bytes `[n << order, (n + 1) << order)` when striping is the
//! default. An object that does not exist reads as zeros.

use std::io;

use crate::cluster::Pool;
use crate::error::{CephError, Result};
use crate::spec::RbdSpec;

/// `CEPH_NOSNAP`: the image's current state rather than a snapshot.
const NO_SNAPSHOT: u64 = u64::MAX - 1;

/// RBD feature bits (librbd's `RBD_FEATURE_*`) that change how data must be read.
mod feature {
    pub const LAYERING: u64 = 1 << 0;
    pub const STRIPING_V2: u64 = 1 << 1;
    pub const JOURNALING: u64 = 1 << 6;
    pub const DATA_POOL: u64 = 1 << 7;
    pub const MIGRATING: u64 = 1 << 9;
}

/// Everything needed to read an image's bytes from its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayout {
    /// The image id (the middle of its header object's name).
    pub id: String,
    /// Data object names are `{object_prefix}.{object number as %016x}`.
    pub object_prefix: String,
    /// Bytes per data object.
    pub object_size: u64,
    /// The image's (or snapshot's) length in bytes.
    pub len: u64,
    /// The snapshot to read, if any.
    pub snap_id: Option<u64>,
    /// The pool holding the data objects when it is not the image's own pool.
    pub data_pool_id: Option<i64>,
}

impl ImageLayout {
    /// Reads the layout of `spec` from its header in `pool`, refusing layouts whose bytes
    /// would not be exactly the concatenation of the data objects.
    pub fn read(pool: &Pool, spec: &RbdSpec) -> Result<ImageLayout> {
        let image = HeaderReader { pool, spec };
        let id = image.id()?;
        let header = format!("rbd_header.{id}");
        let object_prefix = image.decode(&header, "get_object_prefix", &[], |d| d.string())?;
        let snap_id = match &spec.snapshot {
            Some(name) => Some(image.snapshot_id(&header, name)?),
            None => None,
        };
        let at = snap_id.unwrap_or(NO_SNAPSHOT).to_le_bytes();
        let (order, len) = image.decode(&header, "get_size", &at, |d| Ok((d.u8()?, d.u64()?)))?;
        let features = image.decode(&header, "get_features", &at, |d| d.u64())?;
        let object_size = 1u64
            .checked_shl(order.into())
            .filter(|_| (12..=30).contains(&order))
            .ok_or_else(|| image.unsupported(format!("object order {order} is out of range")))?;

        if features & feature::MIGRATING != 0 {
            return Err(image.unsupported("it is being migrated".into()));
        }
        if features & feature::STRIPING_V2 != 0 {
            let (unit, count) = image.decode(&header, "get_stripe_unit_count", &[], |d| {
                Ok((d.u64()?, d.u64()?))
            })?;
            // Default striping (one stripe of a whole object) is plain object order.
            if unit != object_size || count != 1 {
                return Err(image.unsupported(format!(
                    "it uses fancy striping (stripe unit {unit}, stripe count {count}, \
                     object size {object_size}); only stripe unit = object size and \
                     stripe count 1 are supported"
                )));
            }
        }
        if features & feature::LAYERING != 0 {
            let parent_pool =
                image.decode(&header, "get_parent", &at, |d| d.u64().map(|p| p as i64))?;
            if parent_pool >= 0 {
                // Absent objects of a clone are read from the parent, not as zeros.
                return Err(image.unsupported(
                    "it is a clone whose unwritten parts live in its parent image; \
                     flatten it (rbd flatten) first"
                        .into(),
                ));
            }
        }
        if features & feature::JOURNALING != 0 && snap_id.is_none() {
            // Journaled writes may not have reached the data objects yet.
            return Err(image.unsupported(
                "it has journaling enabled; hash a snapshot of it (POOL/IMAGE@SNAP)".into(),
            ));
        }
        let data_pool_id = if features & feature::DATA_POOL != 0 {
            Some(image.decode(&header, "get_data_pool", &[], |d| d.u64().map(|p| p as i64))?)
                .filter(|&id| id >= 0)
        } else {
            None
        };
        Ok(ImageLayout {
            id,
            object_prefix,
            object_size,
            len,
            snap_id,
            data_pool_id,
        })
    }

    /// The image's current length (for noticing a resize while it is hashed).
    pub fn current_len(pool: &Pool, id: &str) -> io::Result<u64> {
        let out = pool.exec(
            &format!("rbd_header.{id}"),
            "rbd",
            "get_size",
            &NO_SNAPSHOT.to_le_bytes(),
        )?;
        let mut d = Decoder(&out);
        d.u8()?;
        d.u64()
    }

    /// The number of data objects that cover the image.
    pub fn object_count(&self) -> u64 {
        self.len.div_ceil(self.object_size)
    }

    /// The name of data object `number`.
    pub fn object_name(&self, number: u64) -> String {
        format!("{}.{number:016x}", self.object_prefix)
    }
}

/// Calls on one image's header objects, turning failures into errors that name the image.
struct HeaderReader<'a> {
    pool: &'a Pool,
    spec: &'a RbdSpec,
}

impl HeaderReader<'_> {
    fn label(&self) -> String {
        let mut label = format!("{}/{}", self.spec.pool, self.spec.image);
        if let Some(snap) = &self.spec.snapshot {
            label = format!("{label}@{snap}");
        }
        label
    }

    fn unsupported(&self, reason: String) -> CephError {
        CephError::Unsupported {
            image: self.label(),
            reason,
        }
    }

    fn not_found(&self) -> CephError {
        CephError::ImageNotFound {
            pool: self.spec.pool.clone(),
            image: self.spec.image.clone(),
        }
    }

    /// Calls `rbd.method` on `object` and decodes its output with `decode`.
    fn decode<T>(
        &self,
        object: &str,
        method: &str,
        input: &[u8],
        decode: impl FnOnce(&mut Decoder<'_>) -> io::Result<T>,
    ) -> Result<T> {
        let io_error = |error| CephError::Io {
            what: format!("reading {method} of RBD image {}", self.label()),
            error,
        };
        match self.pool.exec(object, "rbd", method, input) {
            Ok(out) => decode(&mut Decoder(&out)).map_err(io_error),
            // The image was deleted between our calls, or never existed.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(self.not_found()),
            // No OSD answered within the time-out: the cluster is not usable right now.
            Err(error) if error.raw_os_error() == Some(libc::ETIMEDOUT) => {
                Err(CephError::Connect {
                    what: format!("reading the header of RBD image {}", self.label()),
                    error,
                })
            }
            Err(e) => Err(io_error(e)),
        }
    }

    fn id(&self) -> Result<String> {
        let object = format!("rbd_id.{}", self.spec.image);
        match self.decode(&object, "get_id", &[], |d| d.string()) {
            Err(CephError::ImageNotFound { .. }) => {
                // A format-1 image has a `NAME.rbd` header instead of an id object.
                let legacy = format!("{}.rbd", self.spec.image);
                let mut probe = [0u8; 1];
                match self.pool.read(
                    &std::ffi::CString::new(legacy).unwrap_or_default(),
                    &mut probe,
                    0,
                ) {
                    Ok(Some(_)) => Err(self.unsupported("it is a format 1 image".into())),
                    _ => Err(self.not_found()),
                }
            }
            other => other,
        }
    }

    fn snapshot_id(&self, header: &str, name: &str) -> Result<u64> {
        let ids = self.decode(header, "get_snapcontext", &[], |d| {
            let _seq = d.u64()?;
            let count = d.u32()?;
            (0..count)
                .map(|_| d.u64())
                .collect::<io::Result<Vec<u64>>>()
        })?;
        for id in ids {
            let snap_name = self.decode(header, "get_snapshot_name", &id.to_le_bytes(), |d| {
                d.string()
            })?;
            if snap_name == name {
                return Ok(id);
            }
        }
        Err(CephError::SnapshotNotFound {
            pool: self.spec.pool.clone(),
            image: self.spec.image.clone(),
            snapshot: name.to_string(),
        })
    }
}

/// Reads Ceph's little-endian encoding of integers and length-prefixed strings.
struct Decoder<'a>(&'a [u8]);

impl Decoder<'_> {
    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        if self.0.len() < N {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the cluster's answer ended early (unexpected RBD header format)",
            ));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("split at N"))
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> io::Result<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a string in the cluster's answer is cut short",
            ));
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Decoder;

    #[test]
    fn decodes_little_endian_fields_and_strings() {
        let bytes = [22, 0x80, 0x96, 0x98, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'i', b'd'];
        let mut d = Decoder(&bytes);
        assert_eq!(d.u8().unwrap(), 22);
        assert_eq!(d.u64().unwrap(), 10_000_000);
        assert_eq!(d.string().unwrap(), "id");
        assert!(d.u8().is_err());
    }
}
