//! ZStack's asynchronous API jobs: an API that changes state answers 202 with a `location`
//! at once, runs as a job, and its result is polled at `GET /zstack/v1/api-jobs/{id}`
//! (202 `{}` while running, 200 with the result, 503 with `{"error": ...}`, 404 once
//! unknown or expired) and POSTed to the job's `X-Web-Hook`, if any.
//!
//! # Design
//!
//! Every job is a row of the inventory from its start (so a reused `X-Job-UUID` is refused
//! while its result is kept, even across a restart) and gets its result written when it
//! ends. Results are kept for the retention time and bounded in number: older ended jobs are
//! pruned when a new one starts. A job task holds what it runs (for CalculateImageHash, a
//! handle on the shared hash job, so the hash goes on with no client connected) and is
//! tracked so that shutdown can wait for it. At shutdown the hash jobs are cancelled; a job
//! ended that way, or found still `Running` at the next start (the process was killed),
//! answers 503 with an error that says the server stopped. With several servers on one
//! inventory, the live ones end the running jobs of a server that went down within about
//! two `--node-timeout`s, the same way.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imghash_store::{new_uuid, ApiJob, ApiJobState};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::RestConfig;
use super::reply::{self, Refused};
use super::request::JobHeaders;
use super::webhook::{self, Hook};
use super::Rest;
use crate::app::{now_ms, ApiError, App};

/// The error of a job that was running when the server stopped.
fn server_stopped() -> ApiError {
    ApiError::Cancelled(
        "The server stopped while the job was running; submit the request again".to_string(),
    )
}

/// Every `--node-timeout` until `stopped`, ends the jobs of the other servers sharing the
/// inventory that went down (killed, or cut off from it): a client polling such a job on a
/// live server gets 503 "server stopped" instead of 202 until the dead one starts again.
async fn end_jobs_of_servers_gone(app: Arc<App>, stopped: CancellationToken) {
    let mut ticks = tokio::time::interval(app.node_timeout());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is at once: opening has just done this
    let body = reply::error_body(&server_stopped()).to_string();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped.cancelled() => return,
        }
        let (body, me, now) = (body.clone(), app.node_name().to_string(), now_ms());
        let live_after = app.live_after(now);
        let ended = app
            .db(move |store| store.fail_api_jobs_of_dead_nodes(&body, now, &me, live_after))
            .await;
        match ended {
            Ok(0) => {}
            Ok(jobs) => tracing::warn!(jobs, "ended the API jobs of a server that went down"),
            Err(e) => tracing::warn!(error = %e, "cannot end the API jobs of servers gone"),
        }
    }
}

/// The asynchronous jobs of the REST front.
pub struct ApiJobs {
    app: Arc<App>,
    config: RestConfig,
    /// Job tasks and web hook deliveries, for the wait at shutdown.
    tasks: TaskTracker,
    /// Set once shutdown began: a job cancelled from now on ended because the server stopped.
    stopping: AtomicBool,
    /// Ends web hook deliveries at shutdown (their retries could outlast it by 30 s).
    stopped: CancellationToken,
}

impl ApiJobs {
    /// The jobs of a server: jobs the last process left running end with an error now.
    pub async fn open(app: Arc<App>, config: RestConfig) -> Result<Arc<ApiJobs>, ApiError> {
        let body = reply::error_body(&server_stopped()).to_string();
        // This server's jobs, and those of servers that are down; never a live one's.
        let (node, live_after) = (app.node_name().to_string(), app.live_after(now_ms()));
        let failed = app
            .db(move |store| store.fail_orphaned_api_jobs(&body, now_ms(), &node, live_after))
            .await?;
        if failed > 0 {
            tracing::warn!(
                jobs = failed,
                "API jobs were running when the server stopped"
            );
        }
        let stopped = CancellationToken::new();
        tokio::spawn(end_jobs_of_servers_gone(app.clone(), stopped.clone()));
        Ok(Arc::new(ApiJobs {
            app,
            config,
            tasks: TaskTracker::new(),
            stopping: AtomicBool::new(false),
            stopped,
        }))
    }

    /// Marks the start of shutdown; call before cancelling the hash jobs.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stopped.cancel();
        self.tasks.close();
    }

    /// Waits until every job has written its result.
    pub async fn ended(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Starts `work` as the job of `api` and answers 202 with its `location`, or refuses it
    /// (a reused job id, a hook to a host not allowed, too many jobs kept).
    /// `work` gets the job's id (for the request's log line).
    pub async fn submit<F, W>(
        self: &Arc<Self>,
        api: &'static str,
        headers: &HeaderMap,
        scheme: &str,
        work: F,
    ) -> Response
    where
        F: FnOnce(String) -> W,
        W: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        match self.start(api, headers, work).await {
            Ok((uuid, timeout)) => {
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                let location = format!("{scheme}://{host}{}/api-jobs/{uuid}", super::BASE);
                let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                let body = json!({ "location": location, "apiTimeout": timeout_ms });
                (StatusCode::ACCEPTED, Json(body)).into_response()
            }
            Err(Ok(refused)) => refused.into_response(),
            Err(Err(err)) => reply::failed(&err),
        }
    }

    /// Records the job and spawns it; returns its id and time bound.
    async fn start<F, W>(
        self: &Arc<Self>,
        api: &'static str,
        headers: &HeaderMap,
        work: F,
    ) -> Result<(String, Duration), Result<Refused, ApiError>>
    where
        F: FnOnce(String) -> W,
        W: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        let job = JobHeaders::read(headers).map_err(Ok)?;
        let hook = job
            .web_hook
            .as_deref()
            .map(|url| Hook::allowed(url, &self.config.webhook_allow))
            .transpose()
            .map_err(Ok)?;
        let uuid = job.job_uuid.unwrap_or_else(new_uuid);
        let timeout = job.api_timeout.unwrap_or(self.config.default_api_timeout);
        self.record(api, &uuid, hook.as_ref()).await?;
        let work = work(uuid.clone());
        let jobs = self.clone();
        let id = uuid.clone();
        // Shutdown closes the tracker; a job that still slips in runs and ends as stopped.
        self.tasks.spawn(async move {
            let result = match tokio::time::timeout(timeout, work).await {
                Ok(result) => result,
                Err(_) => Err(ApiError::DeadlineExceeded(format!(
                    "The job did not end within its X-API-Timeout of {} s and was cancelled",
                    timeout.as_secs()
                ))),
            };
            jobs.finish(api, &id, result, hook).await;
        });
        Ok((uuid, timeout))
    }

    /// Prunes old results, then adds the job's row (refusing a reused id).
    async fn record(
        &self,
        api: &'static str,
        uuid: &str,
        hook: Option<&Hook>,
    ) -> Result<(), Result<Refused, ApiError>> {
        let cutoff = now_ms() - millis(self.config.job_retention);
        let keep = self.config.max_jobs_kept.saturating_sub(1);
        let row = ApiJob {
            uuid: uuid.to_string(),
            api: api.to_string(),
            state: ApiJobState::Running,
            result: None,
            web_hook: hook.map(|h| h.url.to_string()),
            create_date: now_ms(),
            end_date: None,
        };
        let node = self.app.node_name().to_string();
        let added = self
            .app
            .db(move |store| {
                store.prune_api_jobs(cutoff, keep)?;
                if store.count_api_jobs()? > keep {
                    return Ok(false);
                }
                store.add_api_job(&row)?;
                // So that another server starting leaves this job alone.
                store.set_api_job_node(&row.uuid, &node).map(|()| true)
            })
            .await;
        match added {
            Ok(true) => Ok(()),
            Ok(false) => Err(Err(ApiError::TooManyJobs(format!(
                "{} API jobs are running; try again later",
                self.config.max_jobs_kept
            )))),
            // The store's Duplicate, the only invalid argument of this insert.
            Err(ApiError::InvalidArgument(_)) => Err(Ok(Refused::bad_request(format!(
                "Duplicate job uuid[{uuid}]"
            )))),
            Err(err) => Err(Err(err)),
        }
    }

    /// Writes the result, then delivers it to the hook.
    async fn finish(
        &self,
        api: &'static str,
        uuid: &str,
        result: Result<Value, ApiError>,
        hook: Option<Hook>,
    ) {
        let result = match result {
            // Shutdown cancels running hash jobs and refuses new ones.
            Err(ApiError::Cancelled(_) | ApiError::TooManyJobs(_))
                if self.stopping.load(Ordering::SeqCst) =>
            {
                Err(server_stopped())
            }
            other => other,
        };
        let (state, body) = match &result {
            Ok(body) => (ApiJobState::Succeeded, body.clone()),
            Err(err) => (ApiJobState::Failed, reply::error_body(err)),
        };
        match &result {
            Ok(_) => tracing::info!(api, job = uuid, "API job succeeded"),
            Err(err) => tracing::warn!(api, job = uuid, error = %err, "API job failed"),
        }
        let text = body.to_string();
        let id = uuid.to_string();
        let written = self
            .app
            .db(move |store| store.finish_api_job(&id, state, &text, now_ms()))
            .await;
        if let Err(err) = written {
            tracing::error!(api, job = uuid, error = %err, "cannot record the API job's result");
        }
        if let Some(hook) = hook {
            let success = state == ApiJobState::Succeeded;
            let delivery = webhook::deliver(hook, uuid.to_string(), success, body, &self.config);
            tokio::select! {
                () = delivery => {}
                () = self.stopped.cancelled() => {
                    tracing::warn!(api, job = uuid, "server stopping: web hook delivery abandoned");
                }
            }
        }
    }

    /// The poll's answer for a job id.
    async fn answer(&self, uuid: String) -> Response {
        let expired = || (StatusCode::NOT_FOUND, "the job has been expired").into_response();
        let found = match self.app.db(move |store| store.get_api_job(&uuid)).await {
            Ok(found) => found,
            Err(err) => return reply::failed(&err),
        };
        let Some(job) = found else {
            return expired();
        };
        if job.state != ApiJobState::Running
            && job.create_date < now_ms() - millis(self.config.job_retention)
        {
            return expired();
        }
        let status = match job.state {
            ApiJobState::Running => return (StatusCode::ACCEPTED, Json(json!({}))).into_response(),
            ApiJobState::Succeeded => StatusCode::OK,
            ApiJobState::Failed => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = job.result.unwrap_or_else(|| "{}".to_string());
        let content_type = [(axum::http::header::CONTENT_TYPE, "application/json")];
        (status, content_type, body).into_response()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `GET /zstack/v1/api-jobs/{id}` (no session needed, as in ZStack).
pub async fn poll(State(rest): State<Arc<Rest>>, Path(uuid): Path<String>) -> Response {
    rest.jobs.answer(uuid).await
}

/// Any other method on a job: 405, ZStack's sentence.
pub async fn wrong_method() -> Refused {
    Refused(
        StatusCode::METHOD_NOT_ALLOWED,
        "only GET method is allowed for querying job status".to_string(),
    )
}
