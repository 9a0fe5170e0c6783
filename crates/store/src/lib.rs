//! imghash's inventory: backup storages, images and their refs, hash results, accounts and
//! sessions, in a SQLite file ([`Store::open`]) or a PostgreSQL database ([`Store::connect`]),
//! with the same behaviour on both.
//!
//! # Schema
//!
//! One table per ZStack resource, with ZStack's field names in snake case (see `schema.rs`):
//!
//! ```text
//! ceph_backup_storage ─< ceph_backup_storage_mon     (CASCADE; a Ceph storage's settings)
//!       │ CASCADE
//! backup_storage ─┐ RESTRICT
//!                 ├─< image_backup_storage_ref >─ CASCADE ─ image
//!                 │        │ CASCADE
//!                 │        └─< hash_record     one row per (image, storage, algorithm, chunk size, mode)
//! account ─< session (CASCADE)
//! api_job        asynchronous REST calls and their results, kept for a while
//! ```
//!
//! Deleting an image takes its refs and hash records with it; deleting a backup storage that
//! still holds images fails with [`StoreError::InUse`]. The schema is built and upgraded by
//! numbered migrations, the same versions in both dialects (tracked in `PRAGMA user_version` on
//! SQLite, in table `imghash_schema_version` on PostgreSQL); [`SCHEMA_VERSION`] is the current
//! one.
//!
//! # Times
//!
//! Every date is an `i64` of milliseconds since the Unix epoch, and operations that move a date
//! take it as a `now_ms` argument instead of reading the clock. That keeps session expiry and
//! `lastOpDate` testable without sleeping, and leaves formatting (RFC 3339 in the API) to the
//! caller.
//!
//! # Concurrency
//!
//! [`Store`] is `Send + Sync`; every call is short and synchronous, so an async caller runs it
//! on a blocking thread (`spawn_blocking`). Each operation that writes more than one row is one
//! transaction. Operations are written once, against a small internal layer (`db`) that each
//! back-end implements. On SQLite the store holds one connection behind a mutex, and the file
//! is in WAL mode, so a second process (say, a backup reading it) does not block the server.
//!
//! # Example
//!
//! ```
//! use imghash_store::{new_uuid, Account, Store};
//!
//! # fn main() -> imghash_store::Result<()> {
//! let store = Store::open_in_memory()?;
//! let account = Account {
//!     uuid: new_uuid(),
//!     name: "admin".into(),
//!     password_hash: "$argon2id$…".into(),
//!     create_date: 1_700_000_000_000,
//!     last_op_date: 1_700_000_000_000,
//! };
//! store.add_account(&account)?;
//! assert_eq!(store.account_by_name("admin")?, Some(account));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod db;
mod error;
mod query;
mod records;
mod schema;
mod store;

pub use db::postgres::url::redact as redact_url;
pub use db::postgres::TestDatabase;
pub use error::{Result, StoreError};
pub use query::{Condition, Op, MAX_CONDITIONS, MAX_LISTED_VALUES};
pub use records::{Account, BackupStorage, CephSettings, HashRecord, Image, ImageRef, Session};
pub use schema::SCHEMA_VERSION;
pub use store::{ApiJob, ApiJobState, HashLease, LeaseTaken, Node, Store};

/// A new random uuid in ZStack's form: 32 lower-case hex characters, no dashes (a version 4
/// UUID, so 122 random bits).
///
/// # Panics
///
/// If the operating system's random number generator fails, which on the platforms we run on
/// means the system is unusable anyway.
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_uuid_is_32_lower_hex_version_4_and_random() {
        let a = new_uuid();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(&a[12..13], "4");
        assert!(matches!(&a[16..17], "8" | "9" | "a" | "b"));
        assert_ne!(a, new_uuid());
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }
}
