//! One computation across servers: the [`Plan`] of a hash job that takes the key's lease in
//! the store before computing, or waits for the server that holds it.
//!
//! The waiter polls the lease (every [`POLL_INTERVAL`], bounded) until it ended, answering
//! from the hash record its owner wrote (the same value and duration everywhere), or with the
//! owner's failure. If the lease expires (its owner died: no heartbeat renewed it) or is
//! released (its owner's callers all left), the waiter takes it in one conditional write and
//! computes. A wait ends with the job's cancellation, so it follows the callers' deadlines.

use std::sync::Arc;
use std::time::Duration;

use imghash_store::{new_uuid, HashLease, LeaseTaken, Store};

use super::Cluster;
use crate::app::calculate::{recorded, HashKey, HashOutcome};
use crate::app::error::ApiError;
use crate::app::jobs::{JobContext, Plan, Work};
use crate::app::{blocking, now_ms};

/// How often a waiter reads the lease of a computation running on another server. A read
/// is one indexed row; at 10 a second per waiting job the store hardly notices.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The lease's name of a computation: every field of the key.
pub fn lease_key(key: &HashKey) -> String {
    let chunk = key.chunk_size.map_or("-".to_string(), |c| c.to_string());
    format!(
        "{}/{}/{}/{chunk}/{}",
        key.image_uuid,
        key.backup_storage_uuid,
        key.algorithm.name(),
        key.mode.name()
    )
}

/// The plan of a job whose input this server can read: compute it under the key's lease,
/// or wait for the server holding it.
pub fn shared(store: Arc<Store>, cluster: Arc<Cluster>, key: HashKey, work: Work) -> Plan {
    Box::new(move |context| {
        Box::pin(async move {
            let shared = Shared {
                store,
                cluster,
                name: lease_key(&key),
                key,
            };
            shared.run(context, work).await
        })
    })
}

/// The end of a wait on another server's computation.
enum Waited {
    /// It recorded the hash.
    Done,
    /// It failed with this.
    Failed(ApiError),
    /// The lease is free (expired or released): take it.
    Free,
}

struct Shared {
    store: Arc<Store>,
    cluster: Arc<Cluster>,
    key: HashKey,
    name: String,
}

impl Shared {
    async fn run(&self, context: JobContext, work: Work) -> Result<HashOutcome, ApiError> {
        loop {
            let computation = new_uuid();
            match self.take(&computation).await? {
                LeaseTaken::Taken => return self.compute(&context, work, computation).await,
                LeaseTaken::Full => {
                    return Err(ApiError::TooManyJobs(
                        "Too many hash jobs running and queued on the servers sharing this \
                         inventory; try again later"
                            .to_string(),
                    ))
                }
                LeaseTaken::Held(holder) => {
                    tracing::info!(lease = %self.name, node = %holder.node,
                        "another server computes this hash; waiting for it");
                    let waited = tokio::select! {
                        waited = self.wait(holder) => waited?,
                        () = context.cancelled() => return Err(cancelled()),
                    };
                    match waited {
                        Waited::Done => return self.recorded().await,
                        Waited::Failed(err) => return Err(err),
                        Waited::Free => continue,
                    }
                }
            }
        }
    }

    async fn take(&self, computation: &str) -> Result<LeaseTaken, ApiError> {
        let (store, cluster) = (self.store.clone(), self.cluster.clone());
        let mut lease = HashLease {
            key: self.name.clone(),
            computation: computation.to_string(),
            node: cluster.name.clone(),
            instance: cluster.instance.clone(),
            state: "running".to_string(),
            error: None,
            expire_date: 0,
        };
        blocking("hash lease", move || {
            let now = now_ms();
            lease.expire_date = cluster.lease_expiry(now);
            let live_after = cluster.live_after(now);
            Ok(store.take_hash_lease(&lease, now, live_after, cluster.capacity)?)
        })
        .await
    }

    /// Computes under the lease, then ends it: done, failed (the waiters elsewhere answer
    /// the same failure), or released if this job was cancelled (a waiter elsewhere then
    /// takes it over).
    async fn compute(
        &self,
        context: &JobContext,
        work: Work,
        computation: String,
    ) -> Result<HashOutcome, ApiError> {
        let outcome = context.compute(work).await;
        let (store, name) = (self.store.clone(), self.name.clone());
        let failure = match &outcome {
            Ok(_) => None,
            Err(ApiError::Cancelled(_)) => {
                let ended = blocking("hash lease", move || {
                    Ok(store.release_hash_lease(&name, &computation)?)
                });
                if let Err(e) = ended.await {
                    tracing::warn!(error = %e, "cannot release a hash lease; it expires instead");
                }
                return outcome;
            }
            Err(err) => Some((err.kind(), err.details().to_string())),
        };
        let ended = blocking("hash lease", move || {
            let error = failure.as_ref().map(|(kind, text)| (*kind, text.as_str()));
            Ok(store.end_hash_lease(&name, &computation, error, now_ms())?)
        });
        match ended.await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(lease = %self.name,
                "the hash lease was taken over while this server computed (its heartbeat was \
                 late); both computed the same value"),
            Err(e) => tracing::warn!(error = %e, "cannot end a hash lease; it expires instead"),
        }
        outcome
    }

    /// Polls the lease until its computation ends or it is free.
    async fn wait(&self, mut holder: HashLease) -> Result<Waited, ApiError> {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (store, name) = (self.store.clone(), self.name.clone());
            let now_and_lease = blocking("hash lease", move || {
                Ok((now_ms(), store.hash_lease(&name)?))
            })
            .await?;
            let (now, lease) = now_and_lease;
            let Some(lease) = lease else {
                tracing::info!(lease = %self.name, node = %holder.node,
                    "the server computing this hash gave it up; taking it over");
                return Ok(Waited::Free);
            };
            match lease.state.as_str() {
                "done" => return Ok(Waited::Done),
                "failed" if lease.computation == holder.computation => {
                    let (kind, text) = lease.error.unwrap_or_default();
                    return Ok(Waited::Failed(ApiError::from_kind(&kind, text)));
                }
                "running" if lease.expire_date > now => holder = lease,
                _ => {
                    tracing::info!(lease = %self.name, node = %holder.node,
                        "the server computing this hash stopped renewing its lease; taking it over");
                    return Ok(Waited::Free);
                }
            }
        }
    }

    async fn recorded(&self) -> Result<HashOutcome, ApiError> {
        let (store, key) = (self.store.clone(), self.key.clone());
        blocking("hash record", move || recorded(&store, &key)).await
    }
}

fn cancelled() -> ApiError {
    ApiError::Cancelled("The hash job was cancelled".to_string())
}
