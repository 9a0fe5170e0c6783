//! Requests of the wire to the application's typed requests: field for field, no checks
//! (the application checks, so every transport gets the same answers).

use super::proto;
use crate::app::backup_storages::{AddBackupStorage, AddCephBackupStorage};
use crate::app::{AddImage, CalculateImageHash, Query};

/// AddImage.
pub fn add_image(req: proto::AddImageRequest) -> AddImage {
    AddImage {
        name: req.name,
        description: req.description,
        url: req.url,
        media_type: req.media_type,
        guest_os_type: req.guest_os_type,
        format: req.format,
        platform: req.platform,
        architecture: req.architecture,
        system: req.system,
        virtio: req.virtio,
        backup_storage_uuids: req.backup_storage_uuids,
        origin: Default::default(),
    }
}

/// CalculateImageHash: the REST path's uuid and the body's `calculateImageHash` object (a
/// missing object is a missing backup storage uuid).
pub fn calculate_image_hash(req: &proto::CalculateImageHashRequest) -> CalculateImageHash {
    let params = req.calculate_image_hash.clone().unwrap_or_default();
    CalculateImageHash {
        image_uuid: req.uuid.clone(),
        backup_storage_uuid: params.backup_storage_uuid,
        algorithm: params.algorithm,
        chunk_size: params.chunk_size,
        mode: params.mode,
        origin: Default::default(),
    }
}

/// AddBackupStorage.
pub fn add_backup_storage(req: proto::AddBackupStorageRequest) -> AddBackupStorage {
    AddBackupStorage {
        name: req.name,
        description: req.description,
        storage_type: req.r#type,
        url: req.url,
    }
}

/// AddCephBackupStorage.
pub fn add_ceph_backup_storage(req: proto::AddCephBackupStorageRequest) -> AddCephBackupStorage {
    AddCephBackupStorage {
        name: req.name,
        description: req.description,
        mon_urls: req.mon_urls,
        pool_name: req.pool_name,
        ceph_conf: req.ceph_conf,
        client_id: req.client_id,
        keyring: req.keyring,
    }
}

/// The conditions and limit of a Query call.
pub fn query(conditions: Vec<String>, limit: u32) -> Query {
    Query { conditions, limit }
}
