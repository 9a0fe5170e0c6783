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
use axum::http::{header, HeaderMap, StatusCode};
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

use crate::app::{ApiError, App, ServerConfig};
use crate::request_log::RequestLine;
use crate::{metrics, net};

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
    /// on the poll, as in ZStack. `work` gets the application and runs inside the job; the
    /// request's log line is written when the job ends.
    async fn submit<F, W>(
        &self,
        api: &'static str,
        headers: &HeaderMap,
        image: Option<String>,
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
        let job = |job: String| async move {
            let mut line = RequestLine::start("rest", api);
            (line.image, line.job) = (image, Some(job));
            let result = async {
                let session = app.session(Some(&authorization)).await?;
                line.account = Some(session.account_uuid);
                work.await
            }
            .await;
            line.finish_with(app.metrics(), result)
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
        self.submit(api, headers, None, |app| work(app, params))
            .await
    }
}

/// ZStack's context path and version.
const BASE: &str = "/zstack/v1";

/// Every route of the front, and `/metrics` (Prometheus' text format).
pub fn router(rest: Arc<Rest>) -> Router {
    let limits = (
        DefaultBodyLimit::max(rest.config.max_body_bytes),
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, rest.config.request_timeout),
    );
    let metrics_of = rest.app.clone();
    let metrics = move || async move {
        let content_type = [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)];
        (content_type, metrics_of.render_metrics())
    };
    Router::new()
        .route("/metrics", get(metrics))
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
        )
        .fallback(reply::no_route)
        .method_not_allowed_fallback(reply::wrong_method)
        .layer(limits)
        .with_state(rest)
}

/// Serves `router` on `listener` through the server's listener layer (connection cap,
/// time-outs, TLS when `config.tls` is set) until `shutdown` resolves and the open requests
/// have ended. The one place the REST front meets the network.
pub async fn serve(
    listener: TcpListener,
    config: &ServerConfig,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr().ok();
    let listener =
        net::Listener::new(listener, config.connections).with_tls(config.tls.as_ref())?;
    tracing::info!(?address, tls = config.tls.is_some(), "serving REST");
    listener.serve(router, shutdown).await;
    Ok(())
}
