//! [`run`]: the server as a library function over a bound listener and a shutdown future.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use imghash_store::Store;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Server, ServerTlsConfig};

use super::accounts::AccountApi;
use super::backup_storage::{self, BackupStorageApi};
use super::config::ServerConfig;
use super::context::Context;
use super::images::ImageApi;
use super::jobs::Jobs;
use super::login_limit::LoginLimiter;
use super::proto::account_service_server::AccountServiceServer;
use super::proto::backup_storage_service_server::BackupStorageServiceServer;
use super::proto::image_service_server::ImageServiceServer;
use super::{auth, import, proto};

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
    let store = Arc::new(open_inventory(&config).await?);
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.hash_threads.unwrap_or(0))
            .thread_name(|i| format!("imghash-hash-{i}"))
            .build()
            .context("cannot start the hashing threads")?,
    );
    let jobs = Arc::new(Jobs::new(pool, config.max_jobs, config.max_queued));
    let ctx = Arc::new(Context {
        store: store.clone(),
        jobs: jobs.clone(),
        session_timeout_ms: i64::try_from(config.session_timeout.as_millis()).unwrap_or(i64::MAX),
        logins: LoginLimiter::new(config.login_limits),
        #[cfg(feature = "ceph")]
        ceph: Arc::new(super::ceph::Clusters::new(config.ceph_timeout)),
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ImageServiceServer<ImageApi>>().await;
    health
        .set_serving::<AccountServiceServer<AccountApi>>()
        .await;
    health
        .set_serving::<BackupStorageServiceServer<BackupStorageApi>>()
        .await;
    let reflection_v1 = reflection()
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("cannot build the reflection service")?;

    let address = listener.local_addr().ok();
    let mut builder = Server::builder();
    if let Some(tls) = config.tls.clone() {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(tls.0))
            .context("cannot use the TLS certificate and key")?;
    }
    tracing::info!(?address, data_dir = %config.data_dir.display(), tls = config.tls.is_some(), "serving");
    let stopping = {
        let jobs = jobs.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: cancelling hash jobs");
            // Cancelled jobs end the calls waiting on them, which lets tonic's graceful
            // shutdown finish instead of waiting for hashes of terabytes.
            jobs.cancel_all();
        }
    };
    builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(AccountServiceServer::new(AccountApi { ctx: ctx.clone() }))
        .add_service(BackupStorageServiceServer::new(BackupStorageApi {
            ctx: ctx.clone(),
        }))
        .add_service(ImageServiceServer::new(ImageApi { ctx: ctx.clone() }))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stopping)
        .await
        .context("the gRPC server failed")?;

    jobs.wait_idle().await;
    drop(ctx);
    tracing::info!("stopped");
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

/// Opens the inventory and brings it to a state the API can serve (blocking work, so on a
/// blocking thread).
async fn open_inventory(config: &ServerConfig) -> anyhow::Result<Store> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create the data directory {}", config.data_dir.display())
        })?;
        let store = Store::open(&config.database_path())?;
        // Sessions nobody presents again are never touched; sweep them once per start.
        store.delete_expired_sessions(super::context::now_ms())?;
        let removed = import::remove_unfinished(&store)?;
        if removed > 0 {
            tracing::warn!(removed, "removed images left half-copied by a crash");
        }
        let password_file = config.admin_password_path();
        if let Some(generated) =
            auth::ensure_admin(&store, config.admin_password.as_deref(), &password_file)?
        {
            // Printed once, at the first start; the file keeps it for later.
            eprintln!(
                "imghash: generated the password of account 'admin': {generated} (also written to {})",
                password_file.display()
            );
        }
        backup_storage::ensure_default(&store, &config.default_storage_dir())?;
        Ok(store)
    })
    .await
    .context("the startup task failed")?
}
