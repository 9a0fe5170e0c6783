//! Starting a server on 127.0.0.1:0 in a temp data dir (its inventory on SQLite, or on
//! PostgreSQL: see `inventory.rs`), logging in, and making test images.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::backup_storage_service_client::BackupStorageServiceClient;
use imghash::grpc::proto::image_service_client::ImageServiceClient;
use imghash::grpc::proto::*;
use imghash::{run, DatabaseUrl, ServerConfig};
use imghash_store::TestDatabase;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Code, Request, Status};

#[allow(unused_imports)] // the REST tests use a part
pub use crate::inventory::{on_postgres, shared_database, Inventory};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A server running in this test's runtime.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    /// The SQLite file or PostgreSQL database the server keeps its inventory in.
    pub inventory: Inventory,
    running: ServerTask,
    channel: Channel,
}

/// An in-process server's task and the sender that asks it to stop; dropping it asks too.
/// The gRPC and the REST harness both hold one.
pub struct ServerTask {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ServerTask {
    pub fn new(stop: oneshot::Sender<()>, task: JoinHandle<anyhow::Result<()>>) -> ServerTask {
        ServerTask {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Whether the server's task has ended (during startup: it failed).
    #[allow(dead_code)] // the REST harness's startup loop asks
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops within 10 s")
                .unwrap()
                .expect("server ran cleanly");
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    /// A server on a fresh data dir inside `dir`, with small job bounds tests can reach.
    pub async fn start(dir: &Path) -> TestServer {
        Self::start_with(dir, |_| {}).await
    }

    pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        Self::start_inner(dir, tweak, None, None).await
    }

    /// A server on `database`, which other servers (on other directories) may share; see
    /// [`shared_database`].
    pub async fn start_on_database(
        dir: &Path,
        database: Arc<TestDatabase>,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        Self::start_inner(dir, tweak, None, Some(database)).await
    }

    /// A server serving TLS with `cert_pem`/`key_pem`, and a client that trusts `cert_pem`
    /// (a self-signed certificate for "localhost").
    pub async fn start_tls(dir: &Path, cert_pem: &str, key_pem: &str) -> TestServer {
        let identity = imghash::TlsIdentity::from_pem(cert_pem, key_pem);
        let client = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(cert_pem))
            .domain_name("localhost");
        Self::start_inner(dir, |c| c.tls = Some(identity), Some(client), None).await
    }

    async fn start_inner(
        dir: &Path,
        tweak: impl FnOnce(&mut ServerConfig),
        tls: Option<ClientTlsConfig>,
        database: Option<Arc<TestDatabase>>,
    ) -> TestServer {
        let data_dir = dir.join("data");
        let mut config = ServerConfig::new(&data_dir);
        let inventory = Inventory::for_dir(dir, &data_dir, database);
        config.database_url = inventory.database_url().map(DatabaseUrl::new);
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.hash_threads = Some(2);
        // Tests make their images and storages in the temp dir, next to the data dir.
        config.import_roots = vec![dir.to_path_buf()];
        config.storage_roots = vec![dir.to_path_buf()];
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, listener, async {
            let _ = stopped.await;
        }));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Channel::from_shared(format!("{scheme}://{addr}")).unwrap();
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).unwrap();
        }
        let channel = loop {
            match endpoint.connect().await {
                Ok(channel) => break channel,
                Err(_) if !task.is_finished() => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("server did not start: {e}"),
            }
        };
        // The port accepts connections before startup (inventory, admin account) is done;
        // the health service answers only once the server is really serving.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        loop {
            let check = tonic_health::pb::HealthCheckRequest::default();
            if health.check(check).await.is_ok() {
                break;
            }
            assert!(!task.is_finished(), "server stopped during startup");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        TestServer {
            addr,
            data_dir,
            inventory,
            running: ServerTask::new(stop, task),
            channel,
        }
    }

    /// Whether the health service answers SERVING.
    pub async fn healthy(&self) -> bool {
        let mut health = tonic_health::pb::health_client::HealthClient::new(self.channel.clone());
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .is_ok_and(|r| r.into_inner().status == 1)
    }

    /// The logical content of the inventory, read on a second connection: every row of every
    /// table, ordered by primary key. A session's `expired_date` is left out, since every
    /// authenticated call renews it (by design, like ZStack).
    pub fn inventory_dump(&self) -> Vec<String> {
        self.inventory.dump()
    }

    pub fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel.clone())
    }

    pub fn storages(&self) -> BackupStorageServiceClient<Channel> {
        BackupStorageServiceClient::new(self.channel.clone())
    }

    pub fn images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
    }

    /// Logs in as admin; returns the session uuid.
    pub async fn login(&self) -> String {
        self.accounts()
            .log_in_by_account(LogInByAccountRequest {
                account_name: "admin".into(),
                password: ADMIN_PASSWORD.into(),
                ..Default::default()
            })
            .await
            .expect("admin logs in")
            .into_inner()
            .inventory
            .unwrap()
            .uuid
    }

    /// The "default" backup storage.
    pub async fn default_storage(&self, session: &str) -> BackupStorageInventory {
        self.default_storage_result(session).await.unwrap()
    }

    /// The "default" backup storage, or why it cannot be listed.
    pub async fn default_storage_result(
        &self,
        session: &str,
    ) -> Result<BackupStorageInventory, Status> {
        self.storages()
            .query_backup_storage(authed(
                session,
                QueryBackupStorageRequest {
                    conditions: vec!["name=default".into()],
                    limit: 0,
                },
            ))
            .await
            .map(|r| r.into_inner().inventories.remove(0))
    }

    /// Adds the file at `path` (copied into, or in place on, the default storage).
    pub async fn add_image(
        &self,
        session: &str,
        path: &Path,
        format: &str,
    ) -> Result<ImageInventory, Status> {
        let bs = self.default_storage(session).await;
        self.images()
            .add_image(authed(
                session,
                AddImageRequest {
                    name: "test image".into(),
                    url: format!("file://{}", path.display()),
                    format: format.into(),
                    backup_storage_uuids: vec![bs.uuid],
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().inventory.unwrap())
    }

    /// Adds a Local backup storage named after its directory.
    pub async fn add_local_storage(&self, session: &str, dir: &Path) -> BackupStorageInventory {
        self.storages()
            .add_backup_storage(authed(
                session,
                AddBackupStorageRequest {
                    name: dir.display().to_string(),
                    r#type: "Local".into(),
                    url: dir.display().to_string(),
                    ..Default::default()
                },
            ))
            .await
            .expect("AddBackupStorage")
            .into_inner()
            .inventory
            .unwrap()
    }

    /// DeleteImage.
    pub async fn delete_image(&self, session: &str, uuid: &str) -> Result<(), Status> {
        self.images()
            .delete_image(authed(session, DeleteImageRequest { uuid: uuid.into() }))
            .await
            .map(|_| ())
    }

    /// The image's inventory as GetImage returns it.
    pub async fn get_image(&self, session: &str, uuid: &str) -> ImageInventory {
        self.images()
            .get_image(authed(session, GetImageRequest { uuid: uuid.into() }))
            .await
            .expect("GetImage")
            .into_inner()
            .inventory
            .expect("an inventory")
    }

    /// CalculateImageHashStream to its end; returns the final result event.
    pub async fn calculate_streaming(
        &self,
        session: &str,
        image: &str,
        storage: &str,
        algorithm: &str,
    ) -> CalculateImageHashResponse {
        let request = hash_request(image, storage, algorithm);
        self.calculate_streaming_request(session, request).await
    }

    /// CalculateImageHashStream of `request` to its end; returns the final result event.
    pub async fn calculate_streaming_request(
        &self,
        session: &str,
        request: CalculateImageHashRequest,
    ) -> CalculateImageHashResponse {
        use tokio_stream::StreamExt as _;
        let mut events = self
            .images()
            .calculate_image_hash_stream(authed(session, request))
            .await
            .expect("CalculateImageHashStream")
            .into_inner();
        let mut last = None;
        while let Some(event) = events.next().await {
            last = event.expect("a stream event").event;
        }
        match last {
            Some(calculate_image_hash_event::Event::Result(response)) => response,
            other => panic!("the last event is the result, not {other:?}"),
        }
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// A request carrying `authorization: OAuth <session>`.
pub fn authed<T>(session: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("OAuth {session}").parse().unwrap());
    request
}

/// Gives `request` a deadline the server enforces (`grpc-timeout`), without the client-side
/// timer of `set_timeout`: on a loaded machine that timer can fire before the server's
/// SYS.1001 answer arrives, and the answer under test is the server's.
pub fn server_deadline<T>(request: &mut Request<T>, millis: u64) {
    request
        .metadata_mut()
        .insert("grpc-timeout", format!("{millis}m").parse().unwrap());
}

/// A CalculateImageHash request body.
pub fn hash_request(image: &str, storage: &str, algorithm: &str) -> CalculateImageHashRequest {
    CalculateImageHashRequest {
        uuid: image.into(),
        calculate_image_hash: Some(CalculateImageHashParams {
            backup_storage_uuid: storage.into(),
            algorithm: algorithm.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Asserts the status code, that the message starts with the ZStack code, and that the
/// details hold a ZStack `ErrorCode` with that code.
#[track_caller]
pub fn assert_zstack_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    zstack: &str,
) -> Status {
    let status = result.expect_err("the call fails");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{zstack}: ")),
        "message should start with {zstack}: {status:?}"
    );
    let error_code = error_code_of(&status);
    assert_eq!(
        error_code.code, zstack,
        "ErrorCode in the details: {status:?}"
    );
    assert!(!error_code.description.is_empty(), "{error_code:?}");
    status
}

/// The ZStack `ErrorCode` in a status's details (`google.rpc.Status` holding one `Any`),
/// decoded with a definition of `google.rpc.Status` independent of the server's.
#[track_caller]
pub fn error_code_of(status: &Status) -> ErrorCode {
    use prost::Message as _;
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<prost_types::Any>,
    }
    let envelope = RpcStatus::decode(status.details()).expect("details are a google.rpc.Status");
    assert_eq!(envelope.code, status.code() as i32, "{status:?}");
    let any = envelope.details.first().expect("one detail");
    assert_eq!(any.type_url, "type.googleapis.com/zstack.v1.ErrorCode");
    ErrorCode::decode(&any.value[..]).expect("an ErrorCode")
}

/// Names of the entries of a directory, sorted (temp files included).
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Output of `tool file` (md5sum, sha256sum): the first field.
pub fn reference_digest(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().expect(tool);
    assert!(out.status.success(), "{tool} failed");
    first_field(out.stdout)
}

/// The first whitespace-separated field of a checksum tool's output: the digest.
pub fn first_field(stdout: Vec<u8>) -> String {
    String::from_utf8(stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .expect("the tool printed a digest")
        .to_string()
}

/// A real qcow2 made with qemu-img, with 1 MiB of 0x5a written by qemu-io when it exists.
pub fn make_qcow2(path: &Path) {
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg("64M")
        .status()
        .expect("qemu-img is installed (apt-get install qemu-utils)");
    assert!(status.success());
    if let Ok(status) = Command::new("qemu-io")
        .args(["-c", "write -P 0x5a 0 1M"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .status()
    {
        assert!(status.success(), "qemu-io write failed");
    }
}

/// A raw file of random bytes.
pub fn make_random(path: &Path, len: usize) {
    let mut data = vec![0u8; len];
    getrandom::fill(&mut data).unwrap();
    std::fs::write(path, data).unwrap();
}

/// A sparse file that takes minutes to MD5 but no disk space.
pub fn make_huge_sparse(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(256 << 30).unwrap();
}
