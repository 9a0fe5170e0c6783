//! [`run`]: the server as a library function over a bound listener and a shutdown future.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::service::Routes;

use super::accounts::AccountService;
use super::backup_storages::BackupStorageService;
use super::images::ImageService;
use super::proto;
use super::proto::account_service_server::AccountServiceServer;
use super::proto::backup_storage_service_server::BackupStorageServiceServer;
use super::proto::image_service_server::ImageServiceServer;
use crate::app::{App, ServerConfig};
use crate::net;

/// Serves the API on `listener` until `shutdown` resolves, over TLS when `config.tls` is
/// set (plaintext otherwise; `imghash serve` allows that only on loopback by default).
///
/// Startup opens (or creates) the inventory in `config.data_dir`, removes images a crash
/// left half-copied, makes sure the admin account and the "default" backup storage exist.
/// Shutdown stops accepting connections, cancels in-flight hash jobs, waits for them and for
/// the open calls to end, then closes the inventory.
pub async fn run(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut config = config;
    config.advertise_listener(listener.local_addr().ok());
    let app = App::open(&config).await?;
    let stopping = {
        let app = app.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: cancelling hash jobs");
            // Cancelled jobs end the calls waiting on them, which lets the graceful
            // shutdown finish instead of waiting for hashes of terabytes.
            app.cancel_jobs();
        }
    };
    serve(app.clone(), &config, listener, stopping).await?;
    app.jobs_ended().await;
    app.leave().await;
    drop(app);
    tracing::info!("stopped");
    Ok(())
}

/// Serves the gRPC services of `app` on `listener` until `stopping` resolves and the open
/// calls have ended. The caller owns the application: it cancels the hash jobs when shutdown
/// begins (so that calls waiting on them end) and waits for them afterwards.
pub async fn serve(
    app: Arc<App>,
    config: &ServerConfig,
    listener: TcpListener,
    stopping: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ImageServiceServer<ImageService>>()
        .await;
    health
        .set_serving::<AccountServiceServer<AccountService>>()
        .await;
    health
        .set_serving::<BackupStorageServiceServer<BackupStorageService>>()
        .await;
    let reflection_v1 = reflection()
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("cannot build the reflection service")?;

    let address = listener.local_addr().ok();
    let listener =
        net::Listener::new(listener, config.connections).with_tls(config.tls.as_ref())?;
    let limits = listener.limits();
    tracing::info!(?address, data_dir = %config.data_dir.display(), tls = config.tls.is_some(),
        max_connections = limits.max_connections,
        handshake_timeout_s = limits.handshake_timeout.as_secs_f64(),
        idle_timeout_s = limits.idle_timeout.as_secs_f64(), "serving");
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(AccountServiceServer::new(AccountService {
            app: app.clone(),
        }))
        .add_service(BackupStorageServiceServer::new(BackupStorageService {
            app: app.clone(),
        }))
        .add_service(ImageServiceServer::new(ImageService { app: app.clone() }))
        .prepare();
    listener.serve(routes, stopping).await;
    Ok(())
}

/// Reflection describing every service served: ours, health, and both reflection versions
/// (grpcurl asks v1 first and falls back to v1alpha; each must list everything).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
}
