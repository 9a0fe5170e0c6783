//! Backup storages and the Ceph settings of Ceph ones.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::{not_found, Store};
use crate::error::{map_unique, Result, StoreError};
use crate::query::{self, Condition, BACKUP_STORAGE_FIELDS};
use crate::records::*;

impl Store {
    /// Adds a backup storage. [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_backup_storage(&self, bs: &BackupStorage) -> Result<()> {
        insert_backup_storage(&self.conn(), bs)
    }

    /// Adds a "Ceph" backup storage with its settings in one transaction: both or neither.
    /// [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_ceph_backup_storage(&self, bs: &BackupStorage, ceph: &CephSettings) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_backup_storage(&tx, bs)?;
        tx.execute(
            "INSERT INTO ceph_backup_storage (uuid, pool_name, conf_path, client_id, keyring) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                bs.uuid,
                ceph.pool_name,
                ceph.conf_path,
                ceph.client_id,
                ceph.keyring
            ],
        )?;
        for (position, mon) in ceph.mons.iter().enumerate() {
            tx.execute(
                "INSERT INTO ceph_backup_storage_mon (backup_storage_uuid, position, mon_addr) \
                 VALUES (?1, ?2, ?3)",
                params![bs.uuid, position as i64, mon],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The Ceph settings of the backup storage with this uuid; `None` if it does not exist or
    /// is not a Ceph storage.
    pub fn ceph_settings(&self, uuid: &str) -> Result<Option<CephSettings>> {
        let conn = self.conn();
        let Some(mut settings) = conn
            .prepare_cached(
                "SELECT pool_name, conf_path, client_id, keyring FROM ceph_backup_storage \
                 WHERE uuid = ?1",
            )?
            .query_row([uuid], |r| {
                Ok(CephSettings {
                    pool_name: r.get("pool_name")?,
                    mons: Vec::new(),
                    conf_path: r.get("conf_path")?,
                    client_id: r.get("client_id")?,
                    keyring: r.get("keyring")?,
                })
            })
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT mon_addr FROM ceph_backup_storage_mon WHERE backup_storage_uuid = ?1 \
             ORDER BY position",
        )?;
        settings.mons = stmt
            .query_map([uuid], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(settings))
    }

    /// The backup storage with this uuid, if any.
    pub fn get_backup_storage(&self, uuid: &str) -> Result<Option<BackupStorage>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {BACKUP_STORAGE_COLUMNS} FROM backup_storage WHERE uuid = ?1"
            ))?
            .query_row([uuid], backup_storage_from_row)
            .optional()?)
    }

    /// Backup storages matching all `conditions` (fields: uuid, name, description, type, url,
    /// state, status, totalCapacity, availableCapacity, createDate, lastOpDate), oldest first.
    pub fn query_backup_storages(
        &self,
        conditions: &[Condition],
        limit: Option<u32>,
    ) -> Result<Vec<BackupStorage>> {
        let (sql, params) = query::select(
            BACKUP_STORAGE_COLUMNS,
            "backup_storage",
            BACKUP_STORAGE_FIELDS,
            conditions,
            limit,
        )?;
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), backup_storage_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a backup storage that holds no image.
    ///
    /// [`StoreError::InUse`] (nothing deleted) if images still have refs on it,
    /// [`StoreError::NotFound`] if it does not exist.
    pub fn delete_backup_storage(&self, uuid: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let images: u64 = tx.query_row(
            "SELECT count(DISTINCT image_uuid) FROM image_backup_storage_ref \
             WHERE backup_storage_uuid = ?1",
            [uuid],
            |r| r.get(0),
        )?;
        if images > 0 {
            return Err(StoreError::InUse {
                kind: "backup storage",
                uuid: uuid.to_owned(),
                images,
            });
        }
        if tx.execute("DELETE FROM backup_storage WHERE uuid = ?1", [uuid])? == 0 {
            return Err(not_found("backup storage", uuid));
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a new capacity measurement and moves `lastOpDate`; returns the updated storage.
    pub fn update_backup_storage_capacity(
        &self,
        uuid: &str,
        total: i64,
        available: i64,
        now_ms: i64,
    ) -> Result<BackupStorage> {
        self.conn()
            .prepare_cached(&format!(
                "UPDATE backup_storage \
                 SET total_capacity = ?2, available_capacity = ?3, last_op_date = ?4 \
                 WHERE uuid = ?1 RETURNING {BACKUP_STORAGE_COLUMNS}"
            ))?
            .query_row(
                params![uuid, total, available, now_ms],
                backup_storage_from_row,
            )
            .optional()?
            .ok_or_else(|| not_found("backup storage", uuid))
    }
}

fn insert_backup_storage(conn: &Connection, bs: &BackupStorage) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO backup_storage ({BACKUP_STORAGE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            bs.uuid,
            bs.name,
            bs.description,
            bs.storage_type,
            bs.url,
            bs.state,
            bs.status,
            bs.total_capacity,
            bs.available_capacity,
            bs.create_date,
            bs.last_op_date,
        ],
    )
    .map_err(|e| map_unique(e, "backup storage", &bs.uuid, Some(&bs.name)))?;
    Ok(())
}
