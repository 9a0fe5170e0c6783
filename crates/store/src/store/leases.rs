//! Hash leases: one row per computation key, held by the server computing it, so that
//! identical requests arriving at different servers share one computation.
//!
//! A lease is `running` while its owner computes; the owner's heartbeat moves its expiry
//! forward ([`Store::beat`]). Then it is `done` (the hash record is written) or `failed`
//! (with the failure, for the waiters to answer). A running lease whose expiry passed is
//! free to take: its owner died, and [`Store::take_hash_lease`] hands the key to the next
//! server in one conditional write, so that two servers can never both own it.

use super::Store;
use crate::db::{params, Conn, Row};
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

fn lease_from_row(r: &Row) -> Result<HashLease> {
    Ok(HashLease {
        key: r.text(0)?,
        computation: r.text(1)?,
        node: r.text(2)?,
        instance: r.text(3)?,
        state: r.text(4)?,
        error: r.opt_text(5)?.zip(r.opt_text(6)?),
        expire_date: r.int(7)?,
    })
}

/// The running, unexpired lease of `key`, if any.
fn holder(tx: &mut dyn Conn, key: &str, now_ms: i64) -> Result<Option<HashLease>> {
    let sql = format!(
        "SELECT {LEASE_COLUMNS} FROM hash_lease \
         WHERE key = ?1 AND state = 'running' AND expire_date > ?2"
    );
    tx.query_opt(&sql, params![key, now_ms], lease_from_row)
}

/// Whether as many computations run (unexpired) as the live nodes admit.
fn full(tx: &mut dyn Conn, now_ms: i64, live_after: i64, min_capacity: i64) -> Result<bool> {
    let running = tx.query_value(
        "SELECT count(*) FROM hash_lease WHERE state = 'running' AND expire_date > ?1",
        params![now_ms],
    )?;
    // PostgreSQL sums bigints into a numeric: the cast keeps it an integer in both.
    let capacity = tx.query_value(
        "SELECT CAST(coalesce(sum(capacity), 0) AS BIGINT) FROM node WHERE heartbeat_date > ?1",
        params![live_after],
    )?;
    let (running, capacity) = (
        running.as_int().unwrap_or(0),
        capacity.as_int().unwrap_or(0),
    );
    Ok(running >= capacity.max(min_capacity))
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
        // Conditional on the old row being free, so that of two servers taking over one
        // expired lease at once only one succeeds.
        let take = format!(
            "INSERT INTO hash_lease ({LEASE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, 'running', NULL, NULL, ?5) \
             ON CONFLICT (key) DO UPDATE SET computation = excluded.computation, \
             node = excluded.node, instance = excluded.instance, state = 'running', \
             error_kind = NULL, error = NULL, expire_date = excluded.expire_date, \
             end_date = NULL \
             WHERE hash_lease.state <> 'running' OR hash_lease.expire_date <= ?6 \
             RETURNING key"
        );
        self.with_tx(|tx| {
            if let Some(held) = holder(tx, &lease.key, now_ms)? {
                return Ok(LeaseTaken::Held(held));
            }
            if full(tx, now_ms, live_after, min_capacity)? {
                return Ok(LeaseTaken::Full);
            }
            let taken = tx.query(
                &take,
                params![
                    &lease.key,
                    &lease.computation,
                    &lease.node,
                    &lease.instance,
                    lease.expire_date,
                    now_ms
                ],
            )?;
            if !taken.is_empty() {
                return Ok(LeaseTaken::Taken);
            }
            // Another server took it between the read and the write (PostgreSQL).
            Ok(holder(tx, &lease.key, now_ms)?.map_or(LeaseTaken::Full, LeaseTaken::Held))
        })
    }

    /// The lease of the key, in any state, if there is one.
    pub fn hash_lease(&self, key: &str) -> Result<Option<HashLease>> {
        let sql = format!("SELECT {LEASE_COLUMNS} FROM hash_lease WHERE key = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![key], lease_from_row))
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
        let ended = self.with_conn(|c| {
            c.execute(
                "UPDATE hash_lease SET state = ?3, error_kind = ?4, error = ?5, end_date = ?6 \
                 WHERE key = ?1 AND computation = ?2",
                params![key, computation, state, kind, sentence, now_ms],
            )
        })?;
        Ok(ended > 0)
    }

    /// Gives a computation up (nobody waits for it here): the key is free at once.
    pub fn release_hash_lease(&self, key: &str, computation: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "DELETE FROM hash_lease WHERE key = ?1 AND computation = ?2 \
                 AND state = 'running'",
                params![key, computation],
            )
        })?;
        Ok(())
    }

    /// Deletes the leases of computations that ended at or before `before`; returns how
    /// many. Their waiters have long read the outcome.
    pub fn delete_ended_hash_leases(&self, before: i64) -> Result<usize> {
        self.with_conn(|c| {
            c.execute(
                "DELETE FROM hash_lease WHERE state <> 'running' AND end_date <= ?1",
                params![before],
            )
        })
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
        let sql = format!(
            "SELECT {HASH_RECORD_COLUMNS} FROM hash_record WHERE image_uuid = ?1 \
             AND backup_storage_uuid = ?2 AND algorithm = ?3 \
             AND chunk_size IS NOT DISTINCT FROM ?4 AND mode = ?5"
        );
        self.with_conn(|c| {
            c.query_opt(
                &sql,
                params![image_uuid, backup_storage_uuid, algorithm, chunk_size, mode],
                hash_record_from_row,
            )
        })
    }
}
