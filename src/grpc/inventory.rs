//! The application's results as ZStack's inventories, with dates as RFC 3339.

use std::time::{Duration, UNIX_EPOCH};

use imghash_engine::format_size;
use imghash_store::{ImageRef, Session};

use super::proto;
use crate::app::backup_storages::StorageView;
use crate::app::{HashOutcome, ImageView};
use crate::ceph::mons;

/// RFC 3339 with milliseconds, UTC ("2025-01-02T03:04:05.678Z").
pub fn date(ms: i64) -> String {
    let since_epoch = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(UNIX_EPOCH + since_epoch).to_string()
}

/// An image with its refs, as ZStack's REST inventory.
pub fn image(view: ImageView) -> proto::ImageInventory {
    let ImageView { image, refs } = view;
    proto::ImageInventory {
        uuid: image.uuid,
        name: image.name,
        description: image.description,
        state: image.state,
        status: image.status,
        size: image.size,
        actual_size: image.actual_size,
        md5_sum: image.md5_sum,
        url: image.url,
        media_type: image.media_type,
        guest_os_type: image.guest_os_type,
        r#type: image.image_type,
        platform: image.platform,
        architecture: image.architecture,
        format: image.format,
        virtio: image.virtio,
        system: image.system,
        create_date: date(image.create_date),
        last_op_date: date(image.last_op_date),
        backup_storage_refs: refs.into_iter().map(image_ref).collect(),
    }
}

fn image_ref(r: ImageRef) -> proto::ImageBackupStorageRefInventory {
    proto::ImageBackupStorageRefInventory {
        image_uuid: r.image_uuid,
        backup_storage_uuid: r.backup_storage_uuid,
        install_path: r.install_path,
        export_url: r.export_url.unwrap_or_default(),
        export_md5_sum: r.export_md5_sum.unwrap_or_default(),
        status: r.status,
        create_date: date(r.create_date),
        last_op_date: date(r.last_op_date),
    }
}

/// A backup storage, with its pool and monitors if it is a Ceph one.
pub fn backup_storage(view: StorageView) -> proto::BackupStorageInventory {
    let StorageView { storage: bs, ceph } = view;
    let (pool_name, mons) = match ceph {
        Some(ceph) => {
            let mons = ceph
                .mons
                .into_iter()
                .map(|mon_addr| {
                    let (hostname, port) = mons::describe(&mon_addr).unwrap_or_default();
                    proto::CephBackupStorageMonInventory {
                        mon_addr,
                        hostname,
                        mon_port: i32::from(port),
                        backup_storage_uuid: bs.uuid.clone(),
                    }
                })
                .collect();
            (ceph.pool_name, mons)
        }
        None => (String::new(), Vec::new()),
    };
    proto::BackupStorageInventory {
        pool_name,
        mons,
        uuid: bs.uuid,
        name: bs.name,
        description: bs.description,
        r#type: bs.storage_type,
        url: bs.url,
        state: bs.state,
        status: bs.status,
        total_capacity: bs.total_capacity,
        available_capacity: bs.available_capacity,
        create_date: date(bs.create_date),
        last_op_date: date(bs.last_op_date),
    }
}

/// CalculateImageHash's answer: the image as the record left it, and the hash itself.
pub fn hash_response(outcome: &HashOutcome) -> proto::CalculateImageHashResponse {
    let hash = &outcome.hash;
    proto::CalculateImageHashResponse {
        success: true,
        error: None,
        inventory: Some(image(outcome.image.clone())),
        hash: Some(proto::ImageHash {
            algorithm: hash.algorithm.name().to_string(),
            value: hash.value.clone(),
            chunk_size: hash.chunk_size.map(format_size).unwrap_or_default(),
            bytes: hash.bytes,
            seconds: hash.seconds,
            mode: hash.mode.name().to_string(),
        }),
    }
}

/// A session.
pub fn session(s: Session) -> proto::SessionInventory {
    proto::SessionInventory {
        uuid: s.uuid,
        account_uuid: s.account_uuid,
        user_uuid: s.user_uuid,
        expired_date: date(s.expired_date),
        create_date: date(s.create_date),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(super::date(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
