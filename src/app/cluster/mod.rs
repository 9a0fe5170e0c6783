//! Several servers on one inventory: each is a node ([`node`]: its row, its heartbeat),
//! identical hash requests on different nodes share one computation through a lease in the
//! store ([`lease`]), and a call about a Local backup storage that arrives at a node other
//! than the one holding its directory is forwarded there over gRPC ([`forward`]).
//!
//! Everything the nodes share is in the store: sessions, the inventory, leases. Nothing is
//! cached in a node's memory that another node could make stale, except the hash jobs this
//! node runs itself.

pub mod forward;
pub mod lease;
pub mod node;

use std::fmt;

pub use node::Cluster;

/// Where a call comes from, for forwarding it.
#[derive(Clone, Default)]
pub struct Origin {
    /// The caller's `authorization` value (`OAuth <session>`), passed on when the call is
    /// forwarded: sessions are shared, so the owner checks the same session.
    pub authorization: Option<String>,
    /// Another node forwarded the call: it is answered here, never forwarded again.
    pub forwarded: bool,
}

impl fmt::Debug for Origin {
    /// Without the session, which is a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("forwarded", &self.forwarded)
            .finish_non_exhaustive()
    }
}

/// The metadata entry that marks a forwarded call; its value is the forwarding node.
pub const FORWARDED_BY: &str = "x-imghash-forwarded-by";
