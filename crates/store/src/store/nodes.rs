//! Servers sharing the inventory ("nodes"): each live one has a row it renews (its
//! heartbeat), and each Local backup storage belongs to one of them (the one holding its
//! directory).
//!
//! Whether a node is alive is the caller's decision, passed in as `live_after`: a heartbeat
//! at or before it is stale.

use super::Store;
use crate::db::{params, Row};
use crate::error::Result;

/// A server sharing the inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its name (`--node-name`), unique among live servers.
    pub name: String,
    /// The gRPC address other servers reach it at (`host:port`); `None` if it has none.
    pub advertise: Option<String>,
    /// Random per process start.
    pub instance: String,
    /// Hash jobs it admits, running and queued.
    pub capacity: i64,
    /// Its last heartbeat.
    pub heartbeat_date: i64,
}

const NODE_COLUMNS: &str = "name, advertise, instance, capacity, heartbeat_date";

fn node_from_row(r: &Row) -> Result<Node> {
    Ok(Node {
        name: r.text(0)?,
        advertise: r.opt_text(1)?,
        instance: r.text(2)?,
        capacity: r.int(3)?,
        heartbeat_date: r.int(4)?,
    })
}

impl Store {
    /// Registers `node` under its name, unless a live node (heartbeat after `live_after`)
    /// of another instance holds that name: then that node is returned and nothing changes.
    /// Running leases of an earlier instance of the name are dropped.
    pub fn join_nodes(&self, node: &Node, live_after: i64) -> Result<Option<Node>> {
        let join = format!(
            "INSERT INTO node ({NODE_COLUMNS}, create_date) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
             ON CONFLICT (name) DO UPDATE SET advertise = excluded.advertise, \
             instance = excluded.instance, capacity = excluded.capacity, \
             heartbeat_date = excluded.heartbeat_date \
             WHERE node.heartbeat_date <= ?6 OR node.instance = excluded.instance \
             RETURNING name"
        );
        let holder = format!("SELECT {NODE_COLUMNS} FROM node WHERE name = ?1");
        self.with_tx(|tx| {
            let joined = tx.query(
                &join,
                params![
                    &node.name,
                    &node.advertise,
                    &node.instance,
                    node.capacity,
                    node.heartbeat_date,
                    live_after
                ],
            )?;
            if joined.is_empty() {
                return tx.query_opt(&holder, params![&node.name], node_from_row);
            }
            // The earlier process of this name is dead: its jobs are free at once.
            tx.execute(
                "DELETE FROM hash_lease WHERE node = ?1 AND instance <> ?2 \
                 AND state = 'running'",
                params![&node.name, &node.instance],
            )?;
            Ok(None)
        })
    }

    /// The heartbeat of a node: its date moves to `now_ms`, and every running hash lease of
    /// its instance now expires at `lease_expire`. `false` if the row is no longer this
    /// instance's (another server took the name after this one went stale).
    pub fn beat(&self, name: &str, instance: &str, now_ms: i64, lease_expire: i64) -> Result<bool> {
        self.with_tx(|tx| {
            let beat = tx.execute(
                "UPDATE node SET heartbeat_date = ?3 WHERE name = ?1 AND instance = ?2",
                params![name, instance, now_ms],
            )? > 0;
            tx.execute(
                "UPDATE hash_lease SET expire_date = ?2 WHERE instance = ?1 AND state = 'running'",
                params![instance, lease_expire],
            )?;
            Ok(beat)
        })
    }

    /// A node leaves (a clean shutdown): its row goes, and so do the running leases of its
    /// instance, so that waiters elsewhere take those jobs over at once.
    pub fn leave_nodes(&self, name: &str, instance: &str) -> Result<()> {
        self.with_tx(|tx| {
            tx.execute(
                "DELETE FROM node WHERE name = ?1 AND instance = ?2",
                params![name, instance],
            )?;
            tx.execute(
                "DELETE FROM hash_lease WHERE instance = ?1 AND state = 'running'",
                params![instance],
            )?;
            Ok(())
        })
    }

    /// The node of this name, live or not, if registered.
    pub fn node(&self, name: &str) -> Result<Option<Node>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM node WHERE name = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![name], node_from_row))
    }

    /// Records that the backup storage belongs to `node`.
    pub fn set_backup_storage_node(&self, storage_uuid: &str, node: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO backup_storage_node (backup_storage_uuid, node) VALUES (?1, ?2) \
                 ON CONFLICT (backup_storage_uuid) DO UPDATE SET node = excluded.node",
                params![storage_uuid, node],
            )
        })?;
        Ok(())
    }

    /// The node the backup storage belongs to; `None` for one reachable from every node.
    pub fn backup_storage_node(&self, storage_uuid: &str) -> Result<Option<String>> {
        self.with_conn(|c| {
            c.query_opt(
                "SELECT node FROM backup_storage_node WHERE backup_storage_uuid = ?1",
                params![storage_uuid],
                |r| r.text(0),
            )
        })
    }

    /// Gives `node` every Local backup storage that belongs to no node (those recorded
    /// before nodes existed, when one server held them all); returns how many.
    pub fn adopt_local_backup_storages(&self, node: &str) -> Result<usize> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO backup_storage_node (backup_storage_uuid, node) \
                 SELECT uuid, ?1 FROM backup_storage WHERE type = 'Local' AND NOT EXISTS \
                 (SELECT 1 FROM backup_storage_node o \
                  WHERE o.backup_storage_uuid = backup_storage.uuid)",
                params![node],
            )
        })
    }

    /// Records that `node` runs the asynchronous REST job `uuid`.
    pub fn set_api_job_node(&self, uuid: &str, node: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO api_job_node (uuid, node) VALUES (?1, ?2)",
                params![uuid, node],
            )
        })?;
        Ok(())
    }

    /// Ends with `result` as its error every REST job of another node that is no longer live
    /// (heartbeat at or before `live_after`): a server killed, or cut off from the inventory,
    /// whose jobs would otherwise stay `Running` until it starts again. `me`'s own jobs are
    /// never touched (its own heartbeat may be late while it still runs them). Returns how
    /// many.
    pub fn fail_api_jobs_of_dead_nodes(
        &self,
        result: &str,
        now_ms: i64,
        me: &str,
        live_after: i64,
    ) -> Result<usize> {
        let jobs = "uuid IN (SELECT j.uuid FROM api_job_node j WHERE j.node <> ?3 \
                    AND j.node NOT IN (SELECT name FROM node WHERE heartbeat_date > ?4))";
        self.fail_selected_api_jobs(jobs, result, now_ms, me, live_after)
    }

    /// Ends with `result` as its error every REST job left running by `node` (a start after
    /// a stop) or by a node no longer live (heartbeat at or before `live_after`). A job of no
    /// recorded node (from before nodes existed) ends only when no other node is live.
    /// Returns how many.
    pub fn fail_orphaned_api_jobs(
        &self,
        result: &str,
        now_ms: i64,
        node: &str,
        live_after: i64,
    ) -> Result<usize> {
        let jobs = "(uuid IN (SELECT n.uuid FROM api_job_node n \
                      WHERE n.node = ?3 OR NOT EXISTS (SELECT 1 FROM node \
                        WHERE node.name = n.node AND node.heartbeat_date > ?4)) \
                    OR (NOT EXISTS (SELECT 1 FROM api_job_node o WHERE o.uuid = api_job.uuid) \
                      AND NOT EXISTS (SELECT 1 FROM node \
                        WHERE node.name <> ?3 AND node.heartbeat_date > ?4)))";
        self.fail_selected_api_jobs(jobs, result, now_ms, node, live_after)
    }

    /// Ends the running REST jobs that the condition `jobs` selects (its `?3` a node name,
    /// its `?4` the heartbeat date at or before which a node is down) with `result`.
    fn fail_selected_api_jobs(
        &self,
        jobs: &str,
        result: &str,
        now_ms: i64,
        node: &str,
        live_after: i64,
    ) -> Result<usize> {
        let sql = format!(
            "UPDATE api_job SET state = 'Failed', result = ?1, end_date = ?2 \
             WHERE state = 'Running' AND {jobs}"
        );
        self.with_conn(|c| c.execute(&sql, params![result, now_ms, node, live_after]))
    }
}
