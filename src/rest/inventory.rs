//! The application's results as ZStack's REST inventories (JSON, ZStack's field names and
//! dates); fields without a value are left out, as ZStack's JSON does.

use imghash_engine::format_size;
use imghash_store::{ImageRef, Session};
use serde_json::{json, Value};

use super::dates::zstack_date;
use crate::app::backup_storages::StorageView;
use crate::app::{HashOutcome, ImageView};
use crate::ceph::mons;

/// An image with its refs.
pub fn image(view: &ImageView) -> Value {
    let image = &view.image;
    let mut inventory = json!({
        "uuid": image.uuid,
        "name": image.name,
        "description": image.description,
        "state": image.state,
        "status": image.status,
        "size": image.size,
        "actualSize": image.actual_size,
        "url": image.url,
        "mediaType": image.media_type,
        "guestOsType": image.guest_os_type,
        "type": image.image_type,
        "platform": image.platform,
        "architecture": image.architecture,
        "format": image.format,
        "virtio": image.virtio,
        "system": image.system,
        "createDate": zstack_date(image.create_date),
        "lastOpDate": zstack_date(image.last_op_date),
        "backupStorageRefs": view.refs.iter().map(image_ref).collect::<Vec<_>>(),
    });
    if let Some(md5) = &image.md5_sum {
        inventory["md5Sum"] = json!(md5);
    }
    inventory
}

fn image_ref(r: &ImageRef) -> Value {
    let mut inventory = json!({
        "imageUuid": r.image_uuid,
        "backupStorageUuid": r.backup_storage_uuid,
        "installPath": r.install_path,
        "status": r.status,
        "createDate": zstack_date(r.create_date),
        "lastOpDate": zstack_date(r.last_op_date),
    });
    if let Some(url) = &r.export_url {
        inventory["exportUrl"] = json!(url);
    }
    if let Some(md5) = &r.export_md5_sum {
        inventory["exportMd5Sum"] = json!(md5);
    }
    inventory
}

/// A backup storage, with its pool and monitors if it is a Ceph one.
pub fn backup_storage(view: &StorageView) -> Value {
    let bs = &view.storage;
    let mut inventory = json!({
        "uuid": bs.uuid,
        "name": bs.name,
        "description": bs.description,
        "type": bs.storage_type,
        "url": bs.url,
        "state": bs.state,
        "status": bs.status,
        "totalCapacity": bs.total_capacity,
        "availableCapacity": bs.available_capacity,
        "createDate": zstack_date(bs.create_date),
        "lastOpDate": zstack_date(bs.last_op_date),
    });
    if let Some(ceph) = &view.ceph {
        let mons: Vec<Value> = ceph
            .mons
            .iter()
            .map(|mon_addr| {
                let (hostname, port) = mons::describe(mon_addr).unwrap_or_default();
                json!({
                    "monAddr": mon_addr,
                    "hostname": hostname,
                    "monPort": port,
                    "backupStorageUuid": bs.uuid,
                })
            })
            .collect();
        inventory["poolName"] = json!(ceph.pool_name);
        inventory["mons"] = json!(mons);
    }
    inventory
}

/// CalculateImageHash's result: ZStack's `inventory`, and imghash's `hash` extension with
/// the value of the algorithm asked for (ZStack's `md5Sum` keeps its meaning).
pub fn hash_result(outcome: &HashOutcome) -> Value {
    let hash = &outcome.hash;
    let mut extension = json!({
        "algorithm": hash.algorithm.name(),
        "value": hash.value,
        "bytes": hash.bytes,
        "seconds": hash.seconds,
        "mode": hash.mode.name(),
    });
    if let Some(size) = hash.chunk_size {
        extension["chunkSize"] = json!(format_size(size));
    }
    json!({ "inventory": image(&outcome.image), "hash": extension })
}

/// A session.
pub fn session(s: &Session) -> Value {
    json!({
        "uuid": s.uuid,
        "accountUuid": s.account_uuid,
        "userUuid": s.user_uuid,
        "expiredDate": zstack_date(s.expired_date),
        "createDate": zstack_date(s.create_date),
    })
}
