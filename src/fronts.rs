//! [`run_fronts`]: one server process with both fronts, gRPC and ZStack's REST API, over
//! one application, so that the same inventory, sessions and hash jobs serve both (two
//! identical requests, one per front, share one computation).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{App, ServerConfig};
use crate::rest::{self, ApiJobs, Rest, RestConfig};

/// The REST front of a server: its bound listener and settings.
pub struct RestFront {
    /// Bound by the caller, so a test can bind `127.0.0.1:0`.
    pub listener: TcpListener,
    /// Its settings.
    pub config: RestConfig,
}

/// Serves gRPC on `grpc`, and REST on `rest` when given, until `shutdown` resolves.
///
/// Shutdown, in order: asynchronous REST jobs learn the server is stopping (a job cancelled
/// now answers "the server stopped"), hash jobs are cancelled, both fronts stop accepting
/// and finish their open requests, then every job has ended and recorded its result.
pub async fn run_fronts(
    config: ServerConfig,
    grpc: TcpListener,
    rest: Option<RestFront>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut config = config;
    config.advertise_listener(grpc.local_addr().ok());
    let app = App::open(&config).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let rest_jobs = match &rest {
        Some(front) => Some(
            ApiJobs::open(app.clone(), front.config.clone())
                .await
                .context("cannot read the REST jobs of the inventory")?,
        ),
        None => None,
    };
    let trigger = {
        let (app, rest_jobs) = (app.clone(), rest_jobs.clone());
        async move {
            shutdown.await;
            tracing::info!("shutting down: cancelling hash jobs");
            if let Some(jobs) = &rest_jobs {
                jobs.stop();
            }
            app.cancel_jobs();
            let _ = stop_tx.send(true);
        }
    };
    let trigger = tokio::spawn(trigger);
    let grpc_front = crate::grpc::serve(app.clone(), &config, grpc, stopped());
    let rest_front = async {
        match (rest, &rest_jobs) {
            (Some(front), Some(jobs)) => {
                let state = Arc::new(Rest {
                    app: app.clone(),
                    jobs: jobs.clone(),
                    config: front.config,
                    scheme: if config.tls.is_some() {
                        "https"
                    } else {
                        "http"
                    },
                });
                let router = rest::router(state);
                rest::serve(front.listener, &config, router, stopped()).await
            }
            _ => Ok(()),
        }
    };
    let served = tokio::try_join!(grpc_front, rest_front);
    trigger.abort();
    app.cancel_jobs();
    app.jobs_ended().await;
    app.leave().await;
    if let Some(jobs) = &rest_jobs {
        jobs.stop();
        jobs.ended().await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}
