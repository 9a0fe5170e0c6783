//! Hash records: one per (image, backup storage, algorithm, chunk size, mode).

use rusqlite::{params, TransactionBehavior};

use super::{not_found, Store};
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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let image_exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM image WHERE uuid = ?1)",
            [&record.image_uuid],
            |r| r.get(0),
        )?;
        if !image_exists {
            return Err(not_found("image", &record.image_uuid));
        }
        let ref_exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM image_backup_storage_ref \
             WHERE image_uuid = ?1 AND backup_storage_uuid = ?2)",
            [&record.image_uuid, &record.backup_storage_uuid],
            |r| r.get(0),
        )?;
        if !ref_exists {
            return Err(StoreError::NotOnBackupStorage {
                image_uuid: record.image_uuid.clone(),
                backup_storage_uuid: record.backup_storage_uuid.clone(),
            });
        }
        // `IS` rather than `=` so that a NULL chunk size matches NULL.
        tx.execute(
            "DELETE FROM hash_record WHERE image_uuid = ?1 AND backup_storage_uuid = ?2 \
             AND algorithm = ?3 AND chunk_size IS ?4 AND mode = ?5",
            params![
                record.image_uuid,
                record.backup_storage_uuid,
                record.algorithm,
                record.chunk_size,
                record.mode,
            ],
        )?;
        tx.execute(
            &format!(
                "INSERT INTO hash_record ({HASH_RECORD_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                record.image_uuid,
                record.backup_storage_uuid,
                record.algorithm,
                record.chunk_size,
                record.value,
                record.bytes,
                record.seconds,
                record.create_date,
                record.mode,
            ],
        )?;
        let image = tx.query_row(
            &format!(
                "UPDATE image SET last_op_date = ?2, \
                 md5_sum = coalesce(?3, md5_sum) \
                 WHERE uuid = ?1 RETURNING {IMAGE_COLUMNS}"
            ),
            params![record.image_uuid, now_ms, md5_sum],
            image_from_row,
        )?;
        tx.commit()?;
        Ok(image)
    }

    /// Every hash record of the image, by storage, algorithm, chunk size and mode.
    pub fn hash_records(&self, image_uuid: &str) -> Result<Vec<HashRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {HASH_RECORD_COLUMNS} FROM hash_record WHERE image_uuid = ?1 \
             ORDER BY backup_storage_uuid, algorithm, chunk_size, mode"
        ))?;
        let rows = stmt.query_map([image_uuid], hash_record_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
