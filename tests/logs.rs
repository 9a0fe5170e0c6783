//! `imghash serve` as a child process, read through its log: plain text when stderr is not
//! a terminal, `--log-format json` one object per line with one line per request, and
//! SIGTERM ending the server while a hash job runs.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::backup_storage_service_client::BackupStorageServiceClient;
use imghash::grpc::proto::image_service_client::ImageServiceClient;
use imghash::grpc::proto::*;
use tonic::transport::Channel;
use tonic::Request;

const PASSWORD: &str = "log test password";

/// A server process whose stderr is collected line by line.
struct Serve {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Serve {
    /// Starts it with `extra` flags; RUST_LOG=info, NO_COLOR unset (stderr is a pipe).
    fn start(data_dir: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imghash"))
            .args(["serve", "--listen", "127.0.0.1:0", "--hash-threads", "1"])
            .args(["--rest-listen", "off"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--admin-password", PASSWORD])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let collected = log.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("serving") {
                    let _ = addr_tx.send(address_in(&line));
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs 'serving'");
        Serve {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Sends SIGTERM; waits (at most 60 s) for the exit and the end of the log. The exit
    /// status, and every log line.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = wait_at_most(&mut self.child, Duration::from_secs(60))
            .expect("the server exits after SIGTERM");
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Our own child, by its pid, if a test failed before terminating it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_at_most(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(step);
        waited += step;
    }
    None
}

/// `127.0.0.1:PORT` in a log line (text `address=Some(…)` or JSON `"address":"Some(…)"`).
fn address_in(line: &str) -> String {
    let at = line.find("127.0.0.1:").expect("the address is logged");
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect()
}

async fn log_in(channel: &Channel, password: &str) -> Result<String, tonic::Status> {
    AccountServiceClient::new(channel.clone())
        .log_in_by_account(LogInByAccountRequest {
            account_name: "admin".into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().inventory.unwrap().uuid)
}

fn authed<T>(session: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("OAuth {session}").parse().unwrap());
    request
}

// Multi-threaded: the client's connection keeps answering (the server's GOAWAY) while the
// test thread blocks waiting for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_on_a_pipe_has_no_colour_codes_and_a_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("data"), &[]);
    let channel = serve.channel().await;
    log_in(&channel, "wrong").await.unwrap_err();
    let (status, log) = serve.terminate();
    assert!(status.success(), "{status:?}");
    let escapes: Vec<&String> = log.iter().filter(|l| l.contains('\x1b')).collect();
    assert!(
        escapes.is_empty(),
        "colour codes in a piped log: {escapes:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("api=\"LogInByAccount\"")
            && l.contains("code=\"ID.1000\"")
            && l.contains("duration_ms=")),
        "no request line for the failed log-in: {log:#?}"
    );
}

// Multi-threaded: the client's connection keeps answering (the server's GOAWAY) while the
// test thread blocks waiting for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_fields_of_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("data"), &["--log-format", "json"]);
    let channel = serve.channel().await;
    log_in(&channel, "wrong").await.unwrap_err();
    let session = log_in(&channel, PASSWORD).await.unwrap();
    let missing = "0123456789abcdef0123456789abcdef";
    ImageServiceClient::new(channel.clone())
        .get_image(authed(
            &session,
            GetImageRequest {
                uuid: missing.into(),
            },
        ))
        .await
        .unwrap_err();
    BackupStorageServiceClient::new(channel.clone())
        .query_backup_storage(authed(&session, QueryBackupStorageRequest::default()))
        .await
        .unwrap();
    let (status, log) = serve.terminate();
    assert!(status.success(), "{status:?}");

    let objects: Vec<serde_json::Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let requests: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o["target"] == "imghash::request")
        .collect();
    let summary: Vec<(String, String)> = requests
        .iter()
        .map(|o| (o["api"].to_string(), o["code"].to_string()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("LogInByAccount", "ID.1000"),
        ("LogInByAccount", "OK"),
        ("GetImage", "SYS.1003"),
        ("QueryBackupStorage", "OK"),
    ]
    .iter()
    .map(|(api, code)| (format!("\"{api}\""), format!("\"{code}\"")))
    .collect();
    assert_eq!(summary, expected);
    let account = requests[1]["account"].as_str().unwrap();
    assert_eq!(account.len(), 32, "{:?}", requests[1]);
    assert_eq!(requests[2]["account"], account);
    assert_eq!(requests[2]["image"], missing);
    for request in &requests {
        assert!(request["duration_ms"].is_u64(), "{request}");
        assert_eq!(request["front"], "grpc");
    }
}

// Multi-threaded: the client's connection keeps answering (the server's GOAWAY) while the
// test thread blocks waiting for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_server_while_a_hash_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let serve = Serve::start(&data_dir, &[]);
    let channel = serve.channel().await;
    let session = log_in(&channel, PASSWORD).await.unwrap();
    // 1 TiB of holes: SHA-256 over it takes far longer than this test may wait for the
    // exit, so an exit means the job was stopped, not finished.
    let image_path = data_dir.join("images").join("huge.raw");
    std::fs::File::create(&image_path)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let storage = BackupStorageServiceClient::new(channel.clone())
        .query_backup_storage(authed(
            &session,
            QueryBackupStorageRequest {
                conditions: vec!["name=default".into()],
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventories
        .remove(0)
        .uuid;
    let mut images = ImageServiceClient::new(channel.clone());
    let image = images
        .add_image(authed(
            &session,
            AddImageRequest {
                name: "huge".into(),
                url: format!("file://{}", image_path.display()),
                format: "raw".into(),
                backup_storage_uuids: vec![storage.clone()],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .inventory
        .unwrap()
        .uuid;
    let mut events = images
        .calculate_image_hash_stream(authed(
            &session,
            CalculateImageHashRequest {
                uuid: image,
                calculate_image_hash: Some(CalculateImageHashParams {
                    backup_storage_uuid: storage,
                    algorithm: "SHA256".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // The job is running once it reports progress.
    loop {
        let event = events.message().await.unwrap().expect("an event");
        match event.event {
            Some(calculate_image_hash_event::Event::Progress(p)) if p.bytes_done > 0 => break,
            Some(calculate_image_hash_event::Event::Result(_)) => panic!("1 TiB hashed already"),
            _ => {}
        }
    }
    let (status, log) = serve.terminate();
    assert!(status.success(), "{status:?}: {log:#?}");
    // The stream ends without a result: cancelled, or cut by the exit.
    while let Ok(Some(event)) = events.message().await {
        assert!(
            !matches!(
                event.event,
                Some(calculate_image_hash_event::Event::Result(_))
            ),
            "the job finished instead of being stopped"
        );
    }
    assert!(log.iter().any(|l| l.contains("stopped")), "{log:#?}");
}
