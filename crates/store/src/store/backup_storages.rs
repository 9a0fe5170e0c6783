//! Backup storages and the Ceph settings of Ceph ones.

use super::{not_found, read_count, Store};
use crate::db::{insert_sql, params, Conn};
use crate::error::{map_unique, Result, StoreError};
use crate::query::{self, Condition, BACKUP_STORAGE_FIELDS};
use crate::records::*;

impl Store {
    /// Adds a backup storage. [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_backup_storage(&self, bs: &BackupStorage) -> Result<()> {
        self.with_conn(|c| insert_backup_storage(c, bs))
    }

    /// Adds a "Ceph" backup storage with its settings in one transaction: both or neither.
    /// [`StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_ceph_backup_storage(&self, bs: &BackupStorage, ceph: &CephSettings) -> Result<()> {
        self.with_tx(|tx| {
            insert_backup_storage(tx, bs)?;
            tx.execute(
                "INSERT INTO ceph_backup_storage (uuid, pool_name, conf_path, client_id, keyring) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &bs.uuid,
                    &ceph.pool_name,
                    &ceph.conf_path,
                    &ceph.client_id,
                    &ceph.keyring
                ],
            )?;
            for (position, mon) in ceph.mons.iter().enumerate() {
                tx.execute(
                    "INSERT INTO ceph_backup_storage_mon (backup_storage_uuid, position, mon_addr) \
                     VALUES (?1, ?2, ?3)",
                    params![&bs.uuid, position as i64, mon],
                )?;
            }
            Ok(())
        })
    }

    /// The Ceph settings of the backup storage with this uuid; `None` if it does not exist or
    /// is not a Ceph storage.
    pub fn ceph_settings(&self, uuid: &str) -> Result<Option<CephSettings>> {
        self.with_conn(|tx| {
            let Some(mut settings) = tx.query_opt(
                "SELECT pool_name, conf_path, client_id, keyring FROM ceph_backup_storage \
                 WHERE uuid = ?1",
                params![uuid],
                |r| {
                    Ok(CephSettings {
                        pool_name: r.text(0)?,
                        mons: Vec::new(),
                        conf_path: r.opt_text(1)?,
                        client_id: r.text(2)?,
                        keyring: r.opt_text(3)?,
                    })
                },
            )?
            else {
                return Ok(None);
            };
            settings.mons = tx.query_all(
                "SELECT mon_addr FROM ceph_backup_storage_mon WHERE backup_storage_uuid = ?1 \
                 ORDER BY position",
                params![uuid],
                |r| r.text(0),
            )?;
            Ok(Some(settings))
        })
    }

    /// The backup storage with this uuid, if any.
    pub fn get_backup_storage(&self, uuid: &str) -> Result<Option<BackupStorage>> {
        let sql = format!("SELECT {BACKUP_STORAGE_COLUMNS} FROM backup_storage WHERE uuid = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![uuid], backup_storage_from_row))
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
        self.with_conn(|c| c.query_all(&sql, &params, backup_storage_from_row))
    }

    /// Deletes a backup storage that holds no image.
    ///
    /// [`StoreError::InUse`] (nothing deleted) if images still have refs on it,
    /// [`StoreError::NotFound`] if it does not exist.
    pub fn delete_backup_storage(&self, uuid: &str) -> Result<()> {
        self.with_tx(|tx| {
            let images = read_count(tx.query_value(
                "SELECT count(DISTINCT image_uuid) FROM image_backup_storage_ref \
                 WHERE backup_storage_uuid = ?1",
                params![uuid],
            )?)?;
            if images > 0 {
                return Err(StoreError::InUse {
                    kind: "backup storage",
                    uuid: uuid.to_owned(),
                    images: images.unsigned_abs(),
                });
            }
            if tx.execute("DELETE FROM backup_storage WHERE uuid = ?1", params![uuid])? == 0 {
                return Err(not_found("backup storage", uuid));
            }
            Ok(())
        })
    }

    /// Records a new capacity measurement and moves `lastOpDate`; returns the updated storage.
    pub fn update_backup_storage_capacity(
        &self,
        uuid: &str,
        total: i64,
        available: i64,
        now_ms: i64,
    ) -> Result<BackupStorage> {
        let sql = format!(
            "UPDATE backup_storage \
             SET total_capacity = ?2, available_capacity = ?3, last_op_date = ?4 \
             WHERE uuid = ?1 RETURNING {BACKUP_STORAGE_COLUMNS}"
        );
        self.with_conn(|c| {
            c.query_opt(
                &sql,
                params![uuid, total, available, now_ms],
                backup_storage_from_row,
            )
        })?
        .ok_or_else(|| not_found("backup storage", uuid))
    }
}

fn insert_backup_storage(conn: &mut dyn Conn, bs: &BackupStorage) -> Result<()> {
    let sql = insert_sql("backup_storage", BACKUP_STORAGE_COLUMNS);
    conn.execute(
        &sql,
        params![
            &bs.uuid,
            &bs.name,
            &bs.description,
            &bs.storage_type,
            &bs.url,
            &bs.state,
            &bs.status,
            bs.total_capacity,
            bs.available_capacity,
            bs.create_date,
            bs.last_op_date,
        ],
    )
    .map_err(|e| map_unique(e, "backup storage", &bs.uuid, Some(&bs.name)))?;
    Ok(())
}
