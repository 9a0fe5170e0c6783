//! The Ceph facade: everything the server and the CLI do with Ceph, behind one interface
//! that exists with or without the cargo feature `ceph`.
//!
//! With the feature, `enabled/` does the work through `imghash-ceph` (librados). Without
//! it, `disabled.rs` answers every call with a sentence saying the build lacks Ceph
//! (SYS.1006 UNIMPLEMENTED over the API). The feature is switched here and nowhere else.
//!
//! [`mons`] (monitor addresses) is plain text work and is always built.

pub mod mons;

#[cfg_attr(feature = "ceph", path = "enabled/mod.rs")]
#[cfg_attr(not(feature = "ceph"), path = "disabled.rs")]
mod backend;

pub use backend::{hash_address, measure, probe_storage, rbd_input, Clusters, RbdInput};

/// The scheme of RBD image addresses (`ceph://POOL/IMAGE[@SNAP]`).
pub const SCHEME: &str = "ceph://";

/// True if `name` names an RBD image rather than a file.
pub fn is_rbd_address(name: &str) -> bool {
    name.starts_with(SCHEME)
}

/// An RBD image as AddImage records it.
#[derive(Clone, Debug)]
pub struct Measured {
    /// `ceph://pool/image[@snap]`: the refs' install path, as in ZStack's inventories.
    pub install_path: String,
    /// The guest size of a qcow2 stored in the image, the image's length otherwise.
    pub size: i64,
    /// The image's length.
    pub actual_size: i64,
}
