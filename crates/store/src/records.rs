//! The rows of the inventory as plain structs, with the REST inventory's fields.
//!
//! Strings hold ZStack's enum spellings ("Enabled", "Ready", "RootVolumeTemplate", …) as they
//! are: validating them is the service's job, and storing them verbatim keeps old files readable
//! when ZStack adds a value. Dates are milliseconds since the Unix epoch.

use crate::db::Row;
use crate::error::Result;

/// A backup storage: a place (a directory for "Local") holding image files.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupStorage {
    /// 32 lower-case hex characters.
    pub uuid: String,
    /// Unique among backup storages.
    pub name: String,
    /// Free text.
    pub description: String,
    /// REST `type`: "Local" or "Ceph".
    pub storage_type: String,
    /// For "Local", the directory.
    pub url: String,
    /// "Enabled" or "Disabled".
    pub state: String,
    /// "Connected", "Disconnected", "Connecting".
    pub status: String,
    /// Bytes.
    pub total_capacity: i64,
    /// Bytes.
    pub available_capacity: i64,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
    /// Milliseconds since the Unix epoch.
    pub last_op_date: i64,
}

/// How to reach the cluster of a "Ceph" backup storage, and its pool.
///
/// Kept apart from [`BackupStorage`] (its own table) because only Ceph storages have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CephSettings {
    /// The RADOS pool holding the storage's RBD images.
    pub pool_name: String,
    /// Monitor addresses as given ("127.0.0.1:6789", "[v2:…:3300,v1:…:6789]"), in order;
    /// empty when they come from `conf_path`.
    pub mons: Vec<String>,
    /// A ceph.conf to read before applying `mons` and `keyring`.
    pub conf_path: Option<String>,
    /// The client id: "admin" for client.admin.
    pub client_id: String,
    /// A keyring file, overriding the one `conf_path` names.
    pub keyring: Option<String>,
}

/// An image: a disk template, ISO or data volume template.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// 32 lower-case hex characters.
    pub uuid: String,
    /// Not unique, as in ZStack.
    pub name: String,
    /// Free text.
    pub description: String,
    /// "Enabled" or "Disabled".
    pub state: String,
    /// "Creating", "Downloading", "Ready", "Error", "Deleted", "Migrating".
    pub status: String,
    /// Virtual size in bytes.
    pub size: i64,
    /// Bytes on disk.
    pub actual_size: i64,
    /// Hex MD5 of the file; only ever written by an MD5 computation.
    pub md5_sum: Option<String>,
    /// Where the image came from (`file:///…`).
    pub url: String,
    /// "RootVolumeTemplate", "DataVolumeTemplate" or "ISO".
    pub media_type: String,
    /// Free text, e.g. "CentOS 7".
    pub guest_os_type: String,
    /// REST `type`: "zstack".
    pub image_type: String,
    /// "Linux", "Windows", "WindowsVirtio", "Other", "Paravirtualization".
    pub platform: String,
    /// "x86_64", "aarch64", "mips64el", "loongarch64".
    pub architecture: String,
    /// "qcow2", "raw", "iso", "vmdk", "vmtx".
    pub format: String,
    /// Whether the guest has virtio drivers.
    pub virtio: bool,
    /// Whether this is a system image (hidden from ordinary users in ZStack).
    pub system: bool,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
    /// Milliseconds since the Unix epoch.
    pub last_op_date: i64,
}

/// Where an image's file lives on one backup storage.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRef {
    /// The image.
    pub image_uuid: String,
    /// The backup storage.
    pub backup_storage_uuid: String,
    /// Path of the file; the bytes a hash is computed over.
    pub install_path: String,
    /// Set when the image was exported for download.
    pub export_url: Option<String>,
    /// MD5 of the exported file.
    pub export_md5_sum: Option<String>,
    /// "Ready", …
    pub status: String,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
    /// Milliseconds since the Unix epoch.
    pub last_op_date: i64,
}

/// One computed hash of an image's file on one backup storage.
#[derive(Clone, Debug, PartialEq)]
pub struct HashRecord {
    /// The image.
    pub image_uuid: String,
    /// The backup storage whose copy was hashed.
    pub backup_storage_uuid: String,
    /// Lower-case name: "md5", "sha256", "merkle-sha256", …
    pub algorithm: String,
    /// Chunk size in bytes for chunked constructions, `None` for plain digests.
    pub chunk_size: Option<i64>,
    /// What was hashed: "file" (the image file's bytes) or "content" (the disk it holds).
    pub mode: String,
    /// The digest, hex.
    pub value: String,
    /// How many bytes were hashed.
    pub bytes: i64,
    /// How long it took.
    pub seconds: f64,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
}

/// A login account.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// 32 lower-case hex characters.
    pub uuid: String,
    /// Unique among accounts.
    pub name: String,
    /// Opaque to the store (the caller's PHC string); the password itself is never stored.
    pub password_hash: String,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
    /// Milliseconds since the Unix epoch.
    pub last_op_date: i64,
}

/// A login session; its uuid is the `OAuth` token.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// 32 lower-case hex characters.
    pub uuid: String,
    /// The account logged in.
    pub account_uuid: String,
    /// The user; the account's own uuid for an account login, as in ZStack.
    pub user_uuid: String,
    /// Milliseconds since the Unix epoch; the session is dead at and after this instant.
    pub expired_date: i64,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
}

// Column lists and row readers live next to the structs so a new field is added in one place.
// A reader takes the columns by position, in the order of its list.

pub(crate) const BACKUP_STORAGE_COLUMNS: &str = "uuid, name, description, type, url, state, \
    status, total_capacity, available_capacity, create_date, last_op_date";

pub(crate) fn backup_storage_from_row(r: &Row) -> Result<BackupStorage> {
    Ok(BackupStorage {
        uuid: r.text(0)?,
        name: r.text(1)?,
        description: r.text(2)?,
        storage_type: r.text(3)?,
        url: r.text(4)?,
        state: r.text(5)?,
        status: r.text(6)?,
        total_capacity: r.int(7)?,
        available_capacity: r.int(8)?,
        create_date: r.int(9)?,
        last_op_date: r.int(10)?,
    })
}

pub(crate) const IMAGE_COLUMNS: &str = "uuid, name, description, state, status, size, \
    actual_size, md5_sum, url, media_type, guest_os_type, type, platform, architecture, format, \
    virtio, system, create_date, last_op_date";

pub(crate) fn image_from_row(r: &Row) -> Result<Image> {
    Ok(Image {
        uuid: r.text(0)?,
        name: r.text(1)?,
        description: r.text(2)?,
        state: r.text(3)?,
        status: r.text(4)?,
        size: r.int(5)?,
        actual_size: r.int(6)?,
        md5_sum: r.opt_text(7)?,
        url: r.text(8)?,
        media_type: r.text(9)?,
        guest_os_type: r.text(10)?,
        image_type: r.text(11)?,
        platform: r.text(12)?,
        architecture: r.text(13)?,
        format: r.text(14)?,
        virtio: r.bool(15)?,
        system: r.bool(16)?,
        create_date: r.int(17)?,
        last_op_date: r.int(18)?,
    })
}

pub(crate) const IMAGE_REF_COLUMNS: &str = "image_uuid, backup_storage_uuid, install_path, \
    export_url, export_md5_sum, status, create_date, last_op_date";

pub(crate) fn image_ref_from_row(r: &Row) -> Result<ImageRef> {
    Ok(ImageRef {
        image_uuid: r.text(0)?,
        backup_storage_uuid: r.text(1)?,
        install_path: r.text(2)?,
        export_url: r.opt_text(3)?,
        export_md5_sum: r.opt_text(4)?,
        status: r.text(5)?,
        create_date: r.int(6)?,
        last_op_date: r.int(7)?,
    })
}

pub(crate) const HASH_RECORD_COLUMNS: &str = "image_uuid, backup_storage_uuid, algorithm, \
    chunk_size, value, bytes, seconds, create_date, mode";

pub(crate) fn hash_record_from_row(r: &Row) -> Result<HashRecord> {
    Ok(HashRecord {
        image_uuid: r.text(0)?,
        backup_storage_uuid: r.text(1)?,
        algorithm: r.text(2)?,
        chunk_size: r.opt_int(3)?,
        mode: r.text(8)?,
        value: r.text(4)?,
        bytes: r.int(5)?,
        seconds: r.real(6)?,
        create_date: r.int(7)?,
    })
}

pub(crate) const ACCOUNT_COLUMNS: &str = "uuid, name, password_hash, create_date, last_op_date";

pub(crate) fn account_from_row(r: &Row) -> Result<Account> {
    Ok(Account {
        uuid: r.text(0)?,
        name: r.text(1)?,
        password_hash: r.text(2)?,
        create_date: r.int(3)?,
        last_op_date: r.int(4)?,
    })
}

pub(crate) const SESSION_COLUMNS: &str = "uuid, account_uuid, user_uuid, expired_date, create_date";

pub(crate) fn session_from_row(r: &Row) -> Result<Session> {
    Ok(Session {
        uuid: r.text(0)?,
        account_uuid: r.text(1)?,
        user_uuid: r.text(2)?,
        expired_date: r.int(3)?,
        create_date: r.int(4)?,
    })
}
