//! Hash records: one per (image, backup storage, algorithm, chunk size, mode).

use super::{exists, not_found, read_bool, Store};
use crate::db::{insert_sql, params};
use crate::error::{Result, StoreError};
use crate::records::*;

impl Store {
    /// Stores a computed hash and returns the image as it now is, in one transaction.
    ///
    /// Replaces an earlier record with the same image, storage, algorithm, chunk size and mode; keeps
    /// `record.create_date` as given. Sets the image's `md5Sum` to `md5_sum` when given (which
    /// algorithms make an md5Sum is the caller's decision) and leaves it alone otherwise. Moves
    /// the image's `lastOpDate` to `now_ms`. [`StoreError::NotFound`] if the image was deleted
    /// meanwhile, [`StoreError::NotOnBackupStorage`] if its ref on that storage was.
    pub fn record_hash(
        &self,
        record: &HashRecord,
        md5_sum: Option<&str>,
        now_ms: i64,
    ) -> Result<Image> {
        let insert = insert_sql("hash_record", HASH_RECORD_COLUMNS);
        let update = format!(
            "UPDATE image SET last_op_date = ?2, md5_sum = coalesce(?3, md5_sum) \
             WHERE uuid = ?1 RETURNING {IMAGE_COLUMNS}"
        );
        self.with_tx(|tx| {
            if !exists(tx, "image", &record.image_uuid)? {
                return Err(not_found("image", &record.image_uuid));
            }
            let on_storage = tx.query_value(
                "SELECT EXISTS (SELECT 1 FROM image_backup_storage_ref \
                 WHERE image_uuid = ?1 AND backup_storage_uuid = ?2)",
                params![&record.image_uuid, &record.backup_storage_uuid],
            )?;
            if !read_bool(on_storage)? {
                return Err(StoreError::NotOnBackupStorage {
                    image_uuid: record.image_uuid.clone(),
                    backup_storage_uuid: record.backup_storage_uuid.clone(),
                });
            }
            // NULL-safe, so that a NULL chunk size matches NULL.
            tx.execute(
                "DELETE FROM hash_record WHERE image_uuid = ?1 AND backup_storage_uuid = ?2 \
                 AND algorithm = ?3 AND chunk_size IS NOT DISTINCT FROM ?4 AND mode = ?5",
                params![
                    &record.image_uuid,
                    &record.backup_storage_uuid,
                    &record.algorithm,
                    &record.chunk_size,
                    &record.mode,
                ],
            )?;
            tx.execute(
                &insert,
                params![
                    &record.image_uuid,
                    &record.backup_storage_uuid,
                    &record.algorithm,
                    &record.chunk_size,
                    &record.value,
                    record.bytes,
                    &record.seconds,
                    record.create_date,
                    &record.mode,
                ],
            )?;
            tx.query_opt(
                &update,
                params![&record.image_uuid, now_ms, md5_sum],
                image_from_row,
            )?
            .ok_or_else(|| not_found("image", &record.image_uuid))
        })
    }

    /// Every hash record of the image, by storage, algorithm, chunk size and mode.
    pub fn hash_records(&self, image_uuid: &str) -> Result<Vec<HashRecord>> {
        let sql = format!(
            "SELECT {HASH_RECORD_COLUMNS} FROM hash_record WHERE image_uuid = ?1 \
             ORDER BY backup_storage_uuid, algorithm, chunk_size NULLS FIRST, mode"
        );
        self.with_conn(|c| c.query_all(&sql, params![image_uuid], hash_record_from_row))
    }
}
