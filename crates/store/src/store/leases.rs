//! Hash leases: one row per computation key, held by the server computing it, so that
//! identical requests arriving at different servers share one computation.
//!
//! A lease is `running` while its owner computes; the owner's heartbeat moves its expiry
//! forward ([`Store::beat`]). Then it is `done` (the hash record is written) or `failed`
//! (with the failure, for the waiters to answer). A running lease whose expiry passed is
//! free to take: its owner died, and [`Store::take_hash_lease`] hands the key to the next
//! server in one conditional write, so that two servers can never both own it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::Store;
use crate::error::Result;
use crate::records::*;

/// A computation's hold on its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashLease {
    /// The computation's key (image, storage, algorithm, chunk size, mode).
    pub key: String,
    /// Random per computation: a new owner means a new computation.
    pub computation: String,
    /// The owner's node name.
    pub node: String,
    /// The owner's process instance.
    pub instance: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// How a failed computation failed (the service's error kind) and its sentence.
    pub error: Option<(String, String)>,
    /// A running lease past this is free to take.
    pub expire_date: i64,
}

/// What [`Store::take_hash_lease`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseTaken {
    /// The caller owns the key now.
    Taken,
    /// Another computation holds it (running, not expired).
    Held(HashLease),
    /// As many computations run (unexpired) as the live nodes admit in all.
    Full,
}

const LEASE_COLUMNS: &str =
    "key, computation, node, instance, state, error_kind, error, expire_date";

fn lease_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HashLease> {
    let kind: Option<String> = r.get(5)?;
    let error: Option<String> = r.get(6)?;
    Ok(HashLease {
        key: r.get(0)?,
        computation: r.get(1)?,
        node: r.get(2)?,
        instance: r.get(3)?,
        state: r.get(4)?,
        error: kind.zip(error),
        expire_date: r.get(7)?,
    })
}

impl Store {
    /// Takes the key for `lease` (state `running`) unless a running, unexpired computation
    /// holds it. A new computation is refused ([`LeaseTaken::Full`]) while the running ones
    /// reach the capacity of the live nodes (heartbeat after `live_after`), or `min_capacity`
    /// if that is more.
    pub fn take_hash_lease(
        &self,
        lease: &HashLease,
        now_ms: i64,
        live_after: i64,
        min_capacity: i64,
    ) -> Result<LeaseTaken> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = |tx: &rusqlite::Transaction<'_>| {
            tx.query_row(
                &format!(
                    "SELECT {LEASE_COLUMNS} FROM hash_lease \
                     WHERE key = ?1 AND state = 'running' AND expire_date > ?2"
                ),
                params![lease.key, now_ms],
                lease_from_row,
            )
            .optional()
        };
        if let Some(holder) = held(&tx)? {
            return Ok(LeaseTaken::Held(holder));
        }
        let running: i64 = tx.query_row(
            "SELECT count(*) FROM hash_lease WHERE state = 'running' AND expire_date > ?1",
            [now_ms],
            |r| r.get(0),
        )?;
        let capacity: i64 = tx.query_row(
            "SELECT coalesce(sum(capacity), 0) FROM node WHERE heartbeat_date > ?1",
            [live_after],
            |r| r.get(0),
        )?;
        if running >= capacity.max(min_capacity) {
            return Ok(LeaseTaken::Full);
        }
        // Conditional on the old row being free, so that of two servers taking over one
        // expired lease at once only one succeeds.
        let taken = tx
            .query_row(
                &format!(
                    "INSERT INTO hash_lease ({LEASE_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, 'running', NULL, NULL, ?5) \
                     ON CONFLICT (key) DO UPDATE SET computation = excluded.computation, \
                     node = excluded.node, instance = excluded.instance, state = 'running', \
                     error_kind = NULL, error = NULL, expire_date = excluded.expire_date, \
                     end_date = NULL \
                     WHERE hash_lease.state <> 'running' OR hash_lease.expire_date <= ?6 \
                     RETURNING key"
                ),
                params![
                    lease.key,
                    lease.computation,
                    lease.node,
                    lease.instance,
                    lease.expire_date,
                    now_ms
                ],
                |r| r.get::<_, String>(0),
            )
            .optional()?;
        let outcome = match taken {
            Some(_) => LeaseTaken::Taken,
            None => match held(&tx)? {
                Some(holder) => LeaseTaken::Held(holder),
                None => LeaseTaken::Full,
            },
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// The lease of the key, in any state, if there is one.
    pub fn hash_lease(&self, key: &str) -> Result<Option<HashLease>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {LEASE_COLUMNS} FROM hash_lease WHERE key = ?1"
            ))?
            .query_row([key], lease_from_row)
            .optional()?)
    }

    /// Ends a computation: `done`, or `failed` with `error` (kind and sentence). `false` if
    /// the key is no longer this computation's (it was taken over).
    pub fn end_hash_lease(
        &self,
        key: &str,
        computation: &str,
        error: Option<(&str, &str)>,
        now_ms: i64,
    ) -> Result<bool> {
        let state = if error.is_some() { "failed" } else { "done" };
        let (kind, sentence) = error.unzip();
        Ok(self.conn().execute(
            "UPDATE hash_lease SET state = ?3, error_kind = ?4, error = ?5, end_date = ?6 \
             WHERE key = ?1 AND computation = ?2",
            params![key, computation, state, kind, sentence, now_ms],
        )? > 0)
    }

    /// Gives a computation up (nobody waits for it here): the key is free at once.
    pub fn release_hash_lease(&self, key: &str, computation: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM hash_lease WHERE key = ?1 AND computation = ?2 AND state = 'running'",
            params![key, computation],
        )?;
        Ok(())
    }

    /// Deletes the leases of computations that ended at or before `before`; returns how
    /// many. Their waiters have long read the outcome.
    pub fn delete_ended_hash_leases(&self, before: i64) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM hash_lease WHERE state <> 'running' AND end_date <= ?1",
            [before],
        )?)
    }

    /// The hash record of one computation, if recorded.
    pub fn hash_record(
        &self,
        image_uuid: &str,
        backup_storage_uuid: &str,
        algorithm: &str,
        chunk_size: Option<i64>,
        mode: &str,
    ) -> Result<Option<HashRecord>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {HASH_RECORD_COLUMNS} FROM hash_record WHERE image_uuid = ?1 \
                 AND backup_storage_uuid = ?2 AND algorithm = ?3 AND chunk_size IS ?4 \
                 AND mode = ?5"
            ))?
            .query_row(
                params![image_uuid, backup_storage_uuid, algorithm, chunk_size, mode],
                hash_record_from_row,
            )
            .optional()?)
    }
}
