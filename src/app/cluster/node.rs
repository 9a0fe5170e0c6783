//! This server as a node: registering under its name (refused while another live server
//! has it), the heartbeat that keeps the row and this node's hash leases alive, and leaving
//! at shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use imghash_store::{new_uuid, Node, Store};
use tokio_util::sync::CancellationToken;

use crate::app::config::ServerConfig;
use crate::app::now_ms;

/// Beats per node time-out: a node is declared down only after this many beats in a row
/// failed to land, so one slow write does not make it look dead.
const BEATS_PER_TIMEOUT: u32 = 5;

/// How long to wait for the last holder of this node's name to accept a connection. A
/// refusal comes at once; only an unreachable host takes the whole time, and then it is
/// taken as alive (it may be behind a partition).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an ended lease is kept for waiters that poll late.
const ENDED_LEASE_KEPT_MS: i64 = 3_600_000;

/// This node, as the other nodes see it.
pub struct Cluster {
    /// `--node-name`.
    pub name: String,
    /// Random per process start.
    pub instance: String,
    /// `--advertise`, or the listen address.
    pub advertise: Option<String>,
    /// `--node-timeout`: stale heartbeats, expired leases.
    pub timeout: Duration,
    /// `--max-jobs` + `--max-queued`.
    pub capacity: i64,
    /// The certificate this server serves TLS with, trusted for forwarding to other nodes
    /// (they serve the same one, or one from the same authority).
    pub tls_ca: Option<Vec<u8>>,
    /// Ends the heartbeat.
    stop: CancellationToken,
}

impl Cluster {
    /// Registers this node, adopts the Local storages no node holds, and starts the
    /// heartbeat. Fails, naming the name, while another live server holds it.
    pub async fn join(store: Arc<Store>, config: &ServerConfig) -> anyhow::Result<Arc<Cluster>> {
        let timeout_ms = i64::try_from(config.node_timeout.as_millis()).unwrap_or(i64::MAX);
        let cluster = Arc::new(Cluster {
            name: config.node_name.clone(),
            instance: new_uuid(),
            advertise: config.advertise.clone(),
            timeout: config.node_timeout,
            capacity: i64::try_from(config.max_jobs.max(1) + config.max_queued).unwrap_or(i64::MAX),
            tls_ca: config.tls.as_ref().map(|tls| tls.cert_pem.clone()),
            stop: CancellationToken::new(),
        });
        let me = Node {
            name: cluster.name.clone(),
            advertise: cluster.advertise.clone(),
            instance: cluster.instance.clone(),
            capacity: cluster.capacity,
            heartbeat_date: now_ms(),
        };
        let holder = join_or_holder(&store, &me, me.heartbeat_date - timeout_ms).await?;
        let holder = match holder {
            // A restart right after a crash finds its own fresh heartbeat: the holder is
            // gone if nothing listens at its address any more.
            Some(holder) if !answers(&holder, cluster.advertise.as_deref()).await => {
                tracing::warn!(node = %holder.name, advertise = ?holder.advertise,
                    "the last server of this name stopped without leaving; taking its name");
                join_or_holder(&store, &me, holder.heartbeat_date).await?
            }
            holder => holder,
        };
        if let Some(holder) = holder {
            anyhow::bail!(
                "another live server is named '{}' (at {}, last heartbeat {} ms ago); give \
                 this one another --node-name, or stop that one",
                holder.name,
                holder.advertise.as_deref().unwrap_or("no address"),
                now_ms().saturating_sub(holder.heartbeat_date),
            );
        }
        let (adopting, name) = (store.clone(), cluster.name.clone());
        let adopted =
            tokio::task::spawn_blocking(move || adopting.adopt_local_backup_storages(&name))
                .await
                .context("the node registration task failed")??;
        if adopted > 0 {
            tracing::info!(adopted, node = %cluster.name, "took the Local backup storages no node held");
        }
        tracing::info!(node = %cluster.name, advertise = ?cluster.advertise, "joined the servers sharing the inventory");
        tokio::spawn(heartbeat(cluster.clone(), store));
        Ok(cluster)
    }

    /// Milliseconds of [`Cluster::timeout`].
    pub fn timeout_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// A heartbeat at or before this is stale: its node is down.
    pub fn live_after(&self, now: i64) -> i64 {
        now.saturating_sub(self.timeout_ms())
    }

    /// When a lease taken or renewed at `now` expires.
    pub fn lease_expiry(&self, now: i64) -> i64 {
        now.saturating_add(self.timeout_ms())
    }

    /// Stops the heartbeat and removes this node's row and running leases (clean shutdown,
    /// after the jobs ended), so that its name is free and its jobs are taken over at once.
    pub async fn leave(&self, store: Arc<Store>) {
        self.stop.cancel();
        let (name, instance) = (self.name.clone(), self.instance.clone());
        let left = tokio::task::spawn_blocking(move || store.leave_nodes(&name, &instance)).await;
        match left {
            Ok(Ok(())) => {
                tracing::info!(node = %self.name, "left the servers sharing the inventory")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot remove this node's row"),
            Err(e) => tracing::warn!(error = %e, "the node removal task failed"),
        }
    }
}

impl crate::app::App {
    /// This server's node name.
    pub fn node_name(&self) -> &str {
        &self.cluster.name
    }

    /// A heartbeat at or before this is stale: its node is down.
    pub fn live_after(&self, now: i64) -> i64 {
        self.cluster.live_after(now)
    }

    /// `--node-timeout`: how long a server may go without a heartbeat before it counts as
    /// down.
    pub fn node_timeout(&self) -> Duration {
        self.cluster.timeout
    }
}

/// Registers `me` unless a node of its name beat after `live_after`: then that node.
async fn join_or_holder(
    store: &Arc<Store>,
    me: &Node,
    live_after: i64,
) -> anyhow::Result<Option<Node>> {
    let (store, me) = (store.clone(), me.clone());
    let holder = tokio::task::spawn_blocking(move || store.join_nodes(&me, live_after))
        .await
        .context("the node registration task failed")??;
    Ok(holder)
}

/// Whether something accepts connections at the node's address (no address: assume so). Our
/// own address never counts: this process holds that port now.
async fn answers(node: &Node, ours: Option<&str>) -> bool {
    let Some(address) = node.advertise.as_deref() else {
        return true;
    };
    if Some(address) == ours {
        return false;
    }
    let connect = tokio::net::TcpStream::connect(address);
    !matches!(
        tokio::time::timeout(PROBE_TIMEOUT, connect).await,
        Ok(Err(_))
    )
}

/// Renews the node's row and its leases every [`Cluster::timeout`] / [`BEATS_PER_TIMEOUT`],
/// and now and then deletes leases that ended long ago.
async fn heartbeat(cluster: Arc<Cluster>, store: Arc<Store>) {
    let mut ticks = tokio::time::interval(cluster.timeout / BEATS_PER_TIMEOUT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats: u64 = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = cluster.stop.cancelled() => return,
        }
        beats += 1;
        let (node, store) = (cluster.clone(), store.clone());
        let sweep = beats % 100 == 0;
        let beat = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            let ours = store.beat(&node.name, &node.instance, now, node.lease_expiry(now))?;
            if sweep {
                store.delete_ended_hash_leases(now - ENDED_LEASE_KEPT_MS)?;
            }
            imghash_store::Result::Ok(ours)
        })
        .await;
        match beat {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => tracing::error!(node = %cluster.name,
                "this node's row belongs to another server now (this one's heartbeat went \
                 stale); two servers run under one name"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the heartbeat did not reach the inventory"),
            Err(e) => tracing::warn!(error = %e, "the heartbeat task failed"),
        }
    }
}
