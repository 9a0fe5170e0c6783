//! Starting a server on 127.0.0.1:0 in a temp data dir, logging in, and making test images.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use imghash::server::proto::account_service_client::AccountServiceClient;
use imghash::server::proto::backup_storage_service_client::BackupStorageServiceClient;
use imghash::server::proto::image_service_client::ImageServiceClient;
use imghash::server::proto::*;
use imghash::server::{run, ServerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A server running in this test's runtime.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    channel: Channel,
}

impl TestServer {
    /// A server on a fresh data dir inside `dir`, with small job bounds tests can reach.
    pub async fn start(dir: &Path) -> TestServer {
        Self::start_with(dir, |_| {}).await
    }

    pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let data_dir = dir.join("data");
        let mut config = ServerConfig::new(&data_dir);
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.hash_threads = Some(2);
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, listener, async {
            let _ = stopped.await;
        }));
        let channel = loop {
            match Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
            {
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
            stop: Some(stop),
            task: Some(task),
            channel,
        }
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

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
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

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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

/// A CalculateImageHash request body.
pub fn hash_request(image: &str, storage: &str, algorithm: &str) -> CalculateImageHashRequest {
    CalculateImageHashRequest {
        uuid: image.into(),
        calculate_image_hash: Some(CalculateImageHashParams {
            backup_storage_uuid: storage.into(),
            algorithm: algorithm.into(),
            chunk_size: String::new(),
        }),
        ..Default::default()
    }
}

/// Asserts the status code and that the message starts with the ZStack code.
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
    status
}

/// Output of `tool file` (md5sum, sha256sum): the first field.
pub fn reference_digest(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().expect(tool);
    assert!(out.status.success(), "{tool} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
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
