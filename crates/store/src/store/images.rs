//! Images and their refs on backup storages.

use super::{exists, not_found, Store};
use crate::db::{insert_sql, params, Conn};
use crate::error::{map_unique, Result, StoreError};
use crate::query::{self, Condition, IMAGE_FIELDS};
use crate::records::*;

impl Store {
    /// Adds an image and its refs in one transaction: all of them or none.
    ///
    /// Every ref must carry the image's uuid ([`StoreError::InvalidRecord`]) and name an existing
    /// backup storage ([`StoreError::NotFound`]); [`StoreError::Duplicate`] if the image uuid is
    /// taken or a storage appears twice.
    pub fn add_image(&self, image: &Image, refs: &[ImageRef]) -> Result<()> {
        let sql = insert_sql("image", IMAGE_COLUMNS);
        self.with_tx(|tx| {
            tx.execute(
                &sql,
                params![
                    &image.uuid,
                    &image.name,
                    &image.description,
                    &image.state,
                    &image.status,
                    image.size,
                    image.actual_size,
                    &image.md5_sum,
                    &image.url,
                    &image.media_type,
                    &image.guest_os_type,
                    &image.image_type,
                    &image.platform,
                    &image.architecture,
                    &image.format,
                    &image.virtio,
                    &image.system,
                    image.create_date,
                    image.last_op_date,
                ],
            )
            .map_err(|e| map_unique(e, "image", &image.uuid, None))?;
            for r in refs {
                insert_ref(tx, image, r)?;
            }
            Ok(())
        })
    }

    /// The image with this uuid, if any.
    pub fn get_image(&self, uuid: &str) -> Result<Option<Image>> {
        let sql = format!("SELECT {IMAGE_COLUMNS} FROM image WHERE uuid = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![uuid], image_from_row))
    }

    /// The image's refs (empty if the image does not exist), ordered by creation.
    pub fn image_refs(&self, image_uuid: &str) -> Result<Vec<ImageRef>> {
        let sql = format!(
            "SELECT {IMAGE_REF_COLUMNS} FROM image_backup_storage_ref WHERE image_uuid = ?1 \
             ORDER BY create_date, backup_storage_uuid"
        );
        self.with_conn(|c| c.query_all(&sql, params![image_uuid], image_ref_from_row))
    }

    /// The image's ref on that backup storage, if any.
    pub fn get_image_ref(
        &self,
        image_uuid: &str,
        backup_storage_uuid: &str,
    ) -> Result<Option<ImageRef>> {
        let sql = format!(
            "SELECT {IMAGE_REF_COLUMNS} FROM image_backup_storage_ref \
             WHERE image_uuid = ?1 AND backup_storage_uuid = ?2"
        );
        self.with_conn(|c| {
            c.query_opt(
                &sql,
                params![image_uuid, backup_storage_uuid],
                image_ref_from_row,
            )
        })
    }

    /// Images matching all `conditions` (fields: uuid, name, description, state, status, size,
    /// actualSize, md5Sum, url, mediaType, guestOsType, type, platform, architecture, format,
    /// virtio, system, createDate, lastOpDate), oldest first.
    pub fn query_images(&self, conditions: &[Condition], limit: Option<u32>) -> Result<Vec<Image>> {
        let (sql, params) = query::select(IMAGE_COLUMNS, "image", IMAGE_FIELDS, conditions, limit)?;
        self.with_conn(|c| c.query_all(&sql, &params, image_from_row))
    }

    /// Images in this status, oldest first; at startup, those left "Downloading" by a crash.
    pub fn images_with_status(&self, status: &str) -> Result<Vec<Image>> {
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM image WHERE status = ?1 ORDER BY create_date, uuid"
        );
        self.with_conn(|c| c.query_all(&sql, params![status], image_from_row))
    }

    /// Sets the image's status and moves `lastOpDate`; returns the updated image.
    pub fn update_image_status(&self, uuid: &str, status: &str, now_ms: i64) -> Result<Image> {
        let sql = format!(
            "UPDATE image SET status = ?2, last_op_date = ?3 WHERE uuid = ?1 \
             RETURNING {IMAGE_COLUMNS}"
        );
        self.with_conn(|c| c.query_opt(&sql, params![uuid, status, now_ms], image_from_row))?
            .ok_or_else(|| not_found("image", uuid))
    }

    /// Records a downloaded image's new status with its sizes and MD5 (computed during the
    /// copy), and the same status on its refs; returns the updated image.
    pub fn finish_image(
        &self,
        uuid: &str,
        status: &str,
        size: i64,
        actual_size: i64,
        md5_sum: Option<&str>,
        now_ms: i64,
    ) -> Result<Image> {
        let sql = format!(
            "UPDATE image SET status = ?2, size = ?3, actual_size = ?4, md5_sum = ?5, \
             last_op_date = ?6 WHERE uuid = ?1 RETURNING {IMAGE_COLUMNS}"
        );
        self.with_tx(|tx| {
            let image = tx
                .query_opt(
                    &sql,
                    params![uuid, status, size, actual_size, md5_sum, now_ms],
                    image_from_row,
                )?
                .ok_or_else(|| not_found("image", uuid))?;
            // The refs follow the image: a ref is as ready as the copy it names.
            tx.execute(
                "UPDATE image_backup_storage_ref SET status = ?2, last_op_date = ?3 \
                 WHERE image_uuid = ?1",
                params![uuid, status, now_ms],
            )?;
            Ok(image)
        })
    }

    /// Deletes an image with its refs and hash records. Removing the files is the caller's job.
    pub fn delete_image(&self, uuid: &str) -> Result<()> {
        let deleted =
            self.with_conn(|c| c.execute("DELETE FROM image WHERE uuid = ?1", params![uuid]))?;
        if deleted == 0 {
            return Err(not_found("image", uuid));
        }
        Ok(())
    }
}

/// Inserts one ref of an image being added.
fn insert_ref(tx: &mut dyn Conn, image: &Image, r: &ImageRef) -> Result<()> {
    if r.image_uuid != image.uuid {
        return Err(StoreError::InvalidRecord(format!(
            "the ref on backup storage[uuid:{}] names image[uuid:{}], not the image \
             being added, image[uuid:{}]",
            r.backup_storage_uuid, r.image_uuid, image.uuid
        )));
    }
    // Checked rather than left to the foreign key, whose error does not say which.
    if !exists(tx, "backup_storage", &r.backup_storage_uuid)? {
        return Err(not_found("backup storage", &r.backup_storage_uuid));
    }
    let sql = insert_sql("image_backup_storage_ref", IMAGE_REF_COLUMNS);
    tx.execute(
        &sql,
        params![
            &r.image_uuid,
            &r.backup_storage_uuid,
            &r.install_path,
            &r.export_url,
            &r.export_md5_sum,
            &r.status,
            r.create_date,
            r.last_op_date,
        ],
    )
    .map_err(
        |e| match map_unique(e, "image backup storage ref", "", None) {
            StoreError::Duplicate { kind, .. } => StoreError::Duplicate {
                kind,
                field: "backupStorageUuid",
                value: r.backup_storage_uuid.clone(),
            },
            other => other,
        },
    )?;
    Ok(())
}
