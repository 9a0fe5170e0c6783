//! Several servers on one inventory: real `imghash serve` processes on loopback sharing one
//! database: a fresh PostgreSQL database when `IMGHASH_TEST_DATABASE_URL` is set (each
//! server with a data directory of its own), otherwise one SQLite file in a data directory
//! they share, as servers on one host can. This file holds their harness and the session
//! tests; `multi_jobs.rs` the shared and taken-over computations, `multi_local.rs` the
//! forwarding to a Local storage's node.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::backup_storage_service_client::BackupStorageServiceClient;
use imghash::grpc::proto::image_service_client::ImageServiceClient;
use imghash::grpc::proto::*;
use tonic::transport::Channel;
use tonic::Code;

use imghash_store::TestDatabase;

use crate::harness::{authed, ADMIN_PASSWORD};
use crate::inventory::shared_database;

/// The `--node-timeout` of test servers: short, so that a killed server's jobs are taken
/// over soon (a wait, never an assertion on time).
pub const NODE_TIMEOUT: &str = "2s";

/// What the servers of a test share: a temporary directory, and the database.
pub struct Shared {
    pub dir: tempfile::TempDir,
    database: Option<Arc<TestDatabase>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            dir: tempfile::tempdir().unwrap(),
            database: shared_database(),
        }
    }

    /// The flags that put server `name` on the shared inventory: its data directory, and
    /// the database URL on PostgreSQL (on SQLite the data directory, with the file, is
    /// shared).
    fn inventory_args(&self, name: &str) -> Vec<String> {
        match &self.database {
            Some(db) => {
                let data_dir = self.dir.path().join(format!("data-{name}"));
                vec![
                    "--data-dir".into(),
                    data_dir.display().to_string(),
                    "--database-url".into(),
                    db.url().to_string(),
                ]
            }
            None => {
                let data_dir = self.dir.path().join("data");
                vec!["--data-dir".into(), data_dir.display().to_string()]
            }
        }
    }
}

/// One `imghash serve` process.
pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    channel: Channel,
    /// Every line of its log so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts a server named `name` on the shared inventory; waits until it serves.
    pub async fn start(shared: &Shared, name: &str) -> Node {
        let (child, addr, log) = spawn(shared, name, &[]);
        let addr = addr.unwrap_or_else(|| panic!("{name} did not start: {:?}", log.lock()));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Node {
            name: name.to_string(),
            addr,
            child,
            channel,
            log,
        }
    }

    pub fn images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
    }

    pub fn storages(&self) -> BackupStorageServiceClient<Channel> {
        BackupStorageServiceClient::new(self.channel.clone())
    }

    pub fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel.clone())
    }

    /// Logs in as admin; the session uuid.
    pub async fn login(&self) -> String {
        let request = LogInByAccountRequest {
            account_name: "admin".into(),
            password: ADMIN_PASSWORD.into(),
            ..Default::default()
        };
        let session = self.accounts().log_in_by_account(request).await.unwrap();
        session.into_inner().inventory.unwrap().uuid
    }

    /// Whether a line of its log so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(text))
    }

    /// Waits (bounded) until its log has a line with `text`. Only the Ceph tests wait for
    /// a log line (a job on a Local image is over before a second call could watch it).
    #[cfg(feature = "ceph")]
    pub async fn wait_for_log(&self, text: &str) {
        for _ in 0..1200 {
            if self.logged(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never logged '{text}': {:?}", self.name, self.log.lock());
    }

    /// SIGKILL: no shutdown, no goodbye in the inventory.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `imghash serve` and reads its log until it serves (its address) or exits (`None`).
fn spawn(
    shared: &Shared,
    name: &str,
    extra: &[&str],
) -> (Child, Option<SocketAddr>, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imghash"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rest-listen", "off"])
        .args(shared.inventory_args(name))
        .arg("--storage-root")
        .arg(shared.dir.path())
        .arg("--import-root")
        .arg(shared.dir.path())
        .args(["--admin-password", ADMIN_PASSWORD, "--hash-threads", "1"])
        .args(["--node-name", name, "--node-timeout", NODE_TIMEOUT])
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env(
            "CEPH_CONF",
            std::env::var_os("CEPH_CONF").unwrap_or_default(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.split(" serving address=Some(").nth(1) {
                let _ = tx.send(rest.split(')').next().unwrap_or_default().parse().ok());
            }
            kept.lock().unwrap().push(line);
        }
        let _ = tx.send(None);
    });
    let addr = rx.recv_timeout(Duration::from_secs(120)).ok().flatten();
    (child, addr, log)
}

/// A call that needs a session, answered by `node`: its gRPC code.
async fn query_code(node: &Node, session: &str) -> Code {
    let query = QueryImageRequest::default();
    match node.images().query_image(authed(session, query)).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn a_session_made_on_one_server_works_on_the_others_and_a_log_out_holds_everywhere() {
    let shared = Shared::new();
    let a = Node::start(&shared, "a").await;
    let b = Node::start(&shared, "b").await;
    let c = Node::start(&shared, "c").await;
    let session = a.login().await;
    for node in [&a, &b, &c] {
        assert_eq!(
            query_code(node, &session).await,
            Code::Ok,
            "on {}",
            node.name
        );
    }
    let log_out = LogOutRequest {
        session_uuid: session.clone(),
    };
    b.accounts().log_out(log_out).await.unwrap();
    for node in [&a, &b, &c] {
        assert_eq!(
            query_code(node, &session).await,
            Code::Unauthenticated,
            "on {} after the log-out on b",
            node.name
        );
    }
}

#[tokio::test]
async fn a_second_live_server_with_the_same_name_refuses_to_start_naming_it() {
    let shared = Shared::new();
    let _first = Node::start(&shared, "twin").await;
    let (mut child, addr, log) = spawn(&shared, "twin", &[]);
    assert_eq!(addr, None, "the second 'twin' served");
    let status = child.wait().unwrap();
    assert!(!status.success());
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("another live server is named 'twin'"), "{log}");
}

/// Writes `len` random bytes to `path`.
pub fn random_file(path: &Path, len: usize) {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The first field of `TOOL FILE` (md5sum, sha256sum).
pub fn digest_of(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
