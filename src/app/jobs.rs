//! The job manager: server policy around the engine's [`JobHandle`]. It bounds running
//! and queued jobs, shares identical concurrent requests, and cancels a job once nobody
//! waits or the server shuts down.
//!
//! # Concurrency design
//!
//! A request submits a [`HashKey`] and a [`Plan`] for it, and gets a [`HashJobHandle`].
//! Requests with the same key in flight at the same time get handles on the same job, so the
//! image is read once and its result recorded once. Each job is a tokio task that runs its
//! plan: computing here ([`JobContext::compute`]: wait for a run slot, then start the work
//! with [`HashJob::start`] on its own thread, hashing on the shared rayon pool, never on
//! tokio's workers), or waiting for another server's computation, or forwarding the call.
//! Dropping the last [`HashJobHandle`] of an unfinished job (client cancelled, deadline
//! passed) cancels the job's token, which the engine run and the plan follow; it stops
//! within milliseconds.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use imghash_engine::{CancelToken, HashJob, JobHandle, Progress};
use rayon::ThreadPool;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::calculate::{HashKey, HashOutcome};
use super::config::ServerConfig;
use super::error::{from_engine, ApiError};
use crate::metrics::Metrics;

/// What a job does once it has a run slot, on the engine run's own thread: check, hash
/// (with the engine job it is given, which carries the pool, progress and cancel token)
/// and record.
pub type Work = Box<dyn FnOnce(&HashJob) -> Result<HashOutcome, ApiError> + Send>;

/// A job's way to its outcome, given its context: compute here, wait for another server's
/// computation, or forward the call.
pub type Plan = Box<dyn FnOnce(JobContext) -> PlanFuture + Send>;

/// What a [`Plan`] returns.
pub type PlanFuture = Pin<Box<dyn Future<Output = Result<HashOutcome, ApiError>> + Send>>;

/// The outcome every handle of a job sees.
type Outcome = Option<Result<Arc<HashOutcome>, ApiError>>;

/// One job, shared by its handles.
struct Job {
    key: HashKey,
    /// Stops the engine.
    cancel: CancelToken,
    /// Wakes the job task while it waits (for a run slot, another server, a forwarded call).
    cancelled: CancellationToken,
    progress: Progress,
    outcome: watch::Receiver<Outcome>,
    /// Handles alive; changed only under [`Jobs::inflight`]'s lock, so that joining a job and
    /// cancelling it on the last drop cannot interleave.
    waiters: AtomicUsize,
}

impl Job {
    fn stop(&self) {
        self.cancel.cancel();
        self.cancelled.cancel();
    }
}

/// The server's hash jobs.
pub struct Jobs {
    /// Hashing threads for every job (`HashJob::pool`), never tokio's.
    pool: Arc<ThreadPool>,
    /// Run slots (`--max-jobs`).
    running: Arc<Semaphore>,
    /// Slots to exist, running or waiting (`--max-jobs` + `--max-queued`); when none is
    /// left, a new job is refused with RESOURCE_EXHAUSTED rather than queued without bound.
    /// A job's task holds its slot until it ends, so all of them free means no job is left.
    admitted: Arc<Semaphore>,
    /// Permits of `admitted` in all.
    capacity: u32,
    /// False once shutdown began: no new job is admitted.
    accepting: AtomicBool,
    /// Unfinished jobs by key, for sharing and for cancelling all at shutdown.
    inflight: Mutex<HashMap<HashKey, Arc<Job>>>,
    /// Run slots in all (`--max-jobs`), to tell running jobs from free slots.
    max_jobs: usize,
    /// Where each completed computation is counted (bytes and time by algorithm).
    metrics: Arc<Metrics>,
}

impl Jobs {
    /// The job system of a server: its hashing pool, `max_jobs` running, `max_queued` waiting.
    pub fn new(config: &ServerConfig, metrics: Arc<Metrics>) -> anyhow::Result<Jobs> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.hash_threads.unwrap_or(0))
            .thread_name(|i| format!("imghash-hash-{i}"))
            .build()
            .context("cannot start the hashing threads")?;
        let max_jobs = config.max_jobs.max(1);
        let capacity = max_jobs
            .checked_add(config.max_queued)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n as usize <= Semaphore::MAX_PERMITS)
            .with_context(|| {
                format!(
                    "--max-jobs {max_jobs} plus --max-queued {} is too many jobs",
                    config.max_queued
                )
            })?;
        Ok(Jobs {
            pool: Arc::new(pool),
            running: Arc::new(Semaphore::new(max_jobs)),
            admitted: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            accepting: AtomicBool::new(true),
            inflight: Mutex::new(HashMap::new()),
            max_jobs,
            metrics,
        })
    }

    /// Jobs computing now and jobs waiting for a run slot.
    pub fn counts(&self) -> (usize, usize) {
        let running = self
            .max_jobs
            .saturating_sub(self.running.available_permits());
        let existing = (self.capacity as usize).saturating_sub(self.admitted.available_permits());
        (running, existing.saturating_sub(running))
    }

    /// The hashing pool, for other CPU-heavy work (AddImage's MD5 during the copy).
    pub fn pool(&self) -> &Arc<ThreadPool> {
        &self.pool
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<HashKey, Arc<Job>>> {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle on the unfinished job of `key`, if there is one.
    pub fn join(self: &Arc<Self>, key: &HashKey) -> Option<HashJobHandle> {
        self.handle_on(&self.inflight(), key)
    }

    /// A new handle on the job of `key` in `inflight` (the locked map), if unfinished.
    fn handle_on(
        self: &Arc<Self>,
        inflight: &HashMap<HashKey, Arc<Job>>,
        key: &HashKey,
    ) -> Option<HashJobHandle> {
        let job = inflight.get(key).filter(|job| !job.cancel.is_cancelled())?;
        job.waiters.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(image = %key.image_uuid, algorithm = %key.algorithm, "joined a running job");
        Some(HashJobHandle {
            jobs: self.clone(),
            job: job.clone(),
        })
    }

    /// Runs `plan` for `key`, or joins the job of `key` already in flight (then `plan` is
    /// dropped unrun).
    pub fn submit(self: &Arc<Self>, key: HashKey, plan: Plan) -> Result<HashJobHandle, ApiError> {
        let mut inflight = self.inflight();
        if let Some(joined) = self.handle_on(&inflight, &key) {
            return Ok(joined);
        }
        let admission = self.admitted.clone().try_acquire_owned().ok();
        let admission = admission.filter(|_| self.accepting.load(Ordering::SeqCst));
        let admission = admission.ok_or_else(|| {
            ApiError::TooManyJobs(
                "Too many hash jobs running and queued; try again later".to_string(),
            )
        })?;
        let (outcome_tx, outcome_rx) = watch::channel(None);
        let job = Arc::new(Job {
            key: key.clone(),
            cancel: CancelToken::new(),
            cancelled: CancellationToken::new(),
            progress: Progress::new(),
            outcome: outcome_rx,
            waiters: AtomicUsize::new(1),
        });
        inflight.insert(key, job.clone());
        drop(inflight);

        let jobs = self.clone();
        let task_job = job.clone();
        tokio::spawn(async move {
            let _admission = admission;
            let context = JobContext {
                jobs: jobs.clone(),
                job: task_job.clone(),
            };
            let outcome = plan(context).await.map(Arc::new);
            // Unregister before publishing, so a request arriving now starts a fresh job
            // instead of joining a finished one.
            jobs.forget(&task_job);
            let _ = outcome_tx.send(Some(outcome));
        });
        Ok(HashJobHandle {
            jobs: self.clone(),
            job,
        })
    }

    /// Waits for a run slot, then runs the work in the background with the shared pool and
    /// awaits it: the task lives until the run has ended, so [`Jobs::wait_idle`] covers it.
    async fn execute(&self, job: &Arc<Job>, work: Work) -> Result<HashOutcome, ApiError> {
        let cancelled = || ApiError::Cancelled("The hash job was cancelled".to_string());
        let _slot = tokio::select! {
            slot = self.running.clone().acquire_owned() => {
                slot.map_err(|_| cancelled())?
            }
            () = job.cancelled.cancelled() => return Err(cancelled()),
        };
        if job.cancel.is_cancelled() {
            return Err(cancelled());
        }
        let mut settings = HashJob::builder([job.key.algorithm]).pool(self.pool.clone());
        if let Some(size) = job.key.chunk_size {
            settings = settings.chunk_size(size);
        }
        let engine_job = settings
            .build()
            .map_err(from_engine)?
            .progress(&job.progress)
            .cancel(&job.cancel);
        let run: JobHandle<HashOutcome, ApiError> = engine_job.start(|run| {
            // A panic must end this job only, with an answer for its waiters.
            std::panic::catch_unwind(AssertUnwindSafe(|| work(run)))
                .unwrap_or_else(|_| Err(ApiError::Internal("the hash job panicked".to_string())))
        });
        let outcome = run.await;
        if let Ok(done) = &outcome {
            self.metrics.record_hash(
                done.hash.algorithm.name(),
                done.hash.bytes,
                std::time::Duration::from_secs_f64(done.hash.seconds.max(0.0)),
            );
        }
        outcome
    }

    /// Admits other work that counts as a job (AddImage's copies): a slot of
    /// `--max-jobs` + `--max-queued`, held until the permit drops; RESOURCE_EXHAUSTED when
    /// none is left or the server is shutting down.
    pub fn admit(&self, what: &str) -> Result<OwnedSemaphorePermit, ApiError> {
        let _inflight = self.inflight();
        let admission = self.admitted.clone().try_acquire_owned().ok();
        admission
            .filter(|_| self.accepting.load(Ordering::SeqCst))
            .ok_or_else(|| {
                ApiError::TooManyJobs(format!(
                    "Too many jobs running and queued to start {what}; try again later"
                ))
            })
    }

    /// A run slot (`--max-jobs`) for admitted work; fails once shutdown began.
    pub async fn run_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Cancelled("The server is shutting down".to_string()))
    }

    fn forget(&self, job: &Arc<Job>) {
        let mut inflight = self.inflight();
        if inflight.get(&job.key).is_some_and(|j| Arc::ptr_eq(j, job)) {
            inflight.remove(&job.key);
        }
    }

    /// Cancels every unfinished job and refuses new ones (shutdown).
    pub fn cancel_all(&self) {
        let inflight = self.inflight();
        // Under the lock `submit` admits under, so no job slips in uncancelled.
        self.accepting.store(false, Ordering::SeqCst);
        for job in inflight.values() {
            job.stop();
        }
        // Queued jobs fail instead of starting.
        self.running.close();
    }

    /// Waits until every job task has ended (each holds its admission slot until then).
    pub async fn wait_idle(&self) {
        let _all_free = self.admitted.acquire_many(self.capacity).await;
    }
}

/// What a running job's [`Plan`] works with.
pub struct JobContext {
    jobs: Arc<Jobs>,
    job: Arc<Job>,
}

impl JobContext {
    /// Computes here: waits for a run slot, then runs `work` with the engine.
    pub async fn compute(&self, work: Work) -> Result<HashOutcome, ApiError> {
        self.jobs.execute(&self.job, work).await
    }

    /// Resolves once nobody waits for the job any more, or the server shuts down.
    pub async fn cancelled(&self) {
        self.job.cancelled.cancelled().await;
    }
}

/// A request's interest in a job. Dropping the last handle of an unfinished job cancels it.
pub struct HashJobHandle {
    jobs: Arc<Jobs>,
    job: Arc<Job>,
}

impl HashJobHandle {
    /// Bytes hashed so far of bytes in total.
    pub fn progress(&self) -> &Progress {
        &self.job.progress
    }

    /// The job's result, once it has one: the same for every handle of the job.
    pub async fn wait(&self) -> Result<Arc<HashOutcome>, ApiError> {
        let vanished = || ApiError::Internal("the hash job vanished".to_string());
        let mut outcome = self.job.outcome.clone();
        let result = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| vanished())?;
        result.clone().unwrap_or_else(|| Err(vanished()))
    }
}

impl Drop for HashJobHandle {
    fn drop(&mut self) {
        let mut inflight = self.jobs.inflight();
        if self.job.waiters.fetch_sub(1, Ordering::Relaxed) == 1
            && self.job.outcome.borrow().is_none()
        {
            tracing::info!(image = %self.job.key.image_uuid, algorithm = %self.job.key.algorithm,
                "no request waits for the hash job any more; cancelling it");
            self.job.stop();
            if inflight
                .get(&self.job.key)
                .is_some_and(|j| Arc::ptr_eq(j, &self.job))
            {
                inflight.remove(&self.job.key);
            }
        }
    }
}
