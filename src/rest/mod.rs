//! The REST front: ZStack's REST API (`/zstack/v1/...`), a second thin transport over
//! [`crate::app`] beside [`crate::grpc`], so that ZStack's SDKs, scripts and curl lines talk
//! to imghash unchanged.
//!
//! What ZStack's REST server does, and so what this front does:
//! - Synchronous APIs (queries, log-in, log-out) answer 200 with the reply, or 503 with
//!   `{"error": {...}}` ([`reply`]).
//! - Asynchronous APIs (everything that changes state) answer 202 with a `location` to poll
//!   ([`api_jobs`]); the result is kept in the inventory for a while, survives a restart, and
//!   is POSTed to an `X-Web-Hook` if the operator allows its host ([`webhook`]).
//! - Errors of the transport itself (no route, no `Authorization`, a body without the
//!   action's key) are 400/404/405 with a plain-text sentence, as ZStack's.
//!
//! Routes are in [`router`]; each resource's handlers in [`accounts`], [`storages`] and
//! [`images`]; requests are read by [`request`] and [`query`], answers written by
//! [`inventory`].

mod accounts;
pub mod api_jobs;
pub mod config;
mod dates;
mod images;
mod inventory;
mod query;
mod reply;
mod request;
mod storages;
mod webhook;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

pub use api_jobs::ApiJobs;
pub use config::RestConfig;

use images::Images;
use query::{query_all, query_one};
use storages::Storages;

use crate::app::{ApiError, App};

/// What every handler shares: the application, the asynchronous jobs and the settings.
pub struct Rest {
    /// The application layer, shared with the gRPC front.
    pub app: Arc<App>,
    /// Asynchronous jobs and their kept results.
    pub jobs: Arc<ApiJobs>,
    /// The front's settings.
    pub config: RestConfig,
    /// `http` or `https`, for the `location` of an asynchronous job.
    pub scheme: &'static str,
}

impl Rest {
    /// Submits an asynchronous API: the `Authorization` header is checked now (400 when
    /// missing), the session when the job runs, so that a bad session answers 202 and fails
    /// on the poll, as in ZStack. `work` gets the application and runs inside the job.
    async fn submit<F, W>(
        &self,
        api: &'static str,
        headers: &HeaderMap,
        work: F,
    ) -> Result<Response, reply::Refused>
    where
        F: FnOnce(Arc<App>) -> W,
        W: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        let authorization = request::authorization(headers)?;
        let app = self.app.clone();
        // Lazy: nothing of `work` runs before the session is checked.
        let work = work(app.clone());
        let job = async move {
            app.session(Some(&authorization)).await?;
            work.await
        };
        Ok(self.jobs.submit(api, headers, self.scheme, job).await)
    }
}

impl Rest {
    /// Submits a create API (`POST`, fields wrapped in `params`): `work` gets the
    /// application and the fields, or why they are malformed (reported on the poll).
    async fn submit_create<F, W>(
        &self,
        api: &'static str,
        headers: &HeaderMap,
        body: &[u8],
        work: F,
    ) -> Result<Response, reply::Refused>
    where
        F: FnOnce(Arc<App>, Result<request::Object, ApiError>) -> W,
        W: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        let body = request::object(body)?;
        let params = request::params(&body)
            .and_then(|params| request::check_tags(&body, &params).map(|()| params));
        self.submit(api, headers, |app| work(app, params)).await
    }
}

/// Renders the Prometheus text of `/metrics`; the metrics live outside this front.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// ZStack's context path and version.
const BASE: &str = "/zstack/v1";

/// Every route of the front. `metrics`, when given, is served at `/metrics`.
pub fn router(rest: Arc<Rest>, metrics: Option<MetricsSource>) -> Router {
    let limits = (
        DefaultBodyLimit::max(rest.config.max_body_bytes),
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, rest.config.request_timeout),
    );
    let mut router = Router::new()
        .route(&format!("{BASE}/accounts/login"), put(accounts::log_in))
        .route(
            &format!("{BASE}/accounts/sessions/{{uuid}}"),
            delete(accounts::log_out),
        )
        .route(
            &format!("{BASE}/backup-storage"),
            get(query_all::<Storages>),
        )
        .route(
            &format!("{BASE}/backup-storage/{{uuid}}"),
            get(query_one::<Storages>).delete(storages::delete),
        )
        .route(
            &format!("{BASE}/backup-storage/image-store"),
            post(storages::add_local),
        )
        .route(
            &format!("{BASE}/backup-storage/sftp"),
            post(storages::add_local),
        )
        .route(
            &format!("{BASE}/backup-storage/ceph"),
            post(storages::add_ceph),
        )
        .route(
            &format!("{BASE}/images"),
            get(query_all::<Images>).post(images::add),
        )
        .route(
            &format!("{BASE}/images/{{uuid}}"),
            get(query_one::<Images>).delete(images::delete),
        )
        .route(
            &format!("{BASE}/images/{{uuid}}/actions"),
            put(images::action),
        )
        .route(
            &format!("{BASE}/api-jobs/{{uuid}}"),
            get(api_jobs::poll).fallback(api_jobs::wrong_method),
        );
    if let Some(metrics) = metrics {
        router = router.route("/metrics", get(move || async move { metrics() }));
    }
    router
        .fallback(reply::no_route)
        .method_not_allowed_fallback(reply::wrong_method)
        .layer(limits)
        .with_state(rest)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish.
/// The one place the REST front meets the network.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr().ok();
    tracing::info!(?address, "serving REST");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("the REST server failed: {e}"))
}
