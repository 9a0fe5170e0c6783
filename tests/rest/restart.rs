//! A server killed (SIGKILL) in the middle of a REST job: after the restart, or at once on
//! another live server sharing its inventory, the job's poll answers 503 with an error that
//! says the server stopped, never 202 forever.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::harness::*;
use crate::inventory::Inventory;

/// `imghash serve` on `dir`'s inventory with REST on a free port, with `extra` flags; its
/// REST address, read from its log.
fn spawn_server(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let data_dir = dir.join("data");
    let mut command = Command::new(env!("CARGO_BIN_EXE_imghash"));
    // The same inventory as a RestServer started on `dir` later (on PostgreSQL, its database).
    if let Some(url) = Inventory::for_dir(dir, &data_dir, None).database_url() {
        command.env("IMGHASH_DATABASE_URL", url);
    }
    let mut child = command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rest-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--admin-password", ADMIN_PASSWORD, "--hash-threads", "1"])
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.split("serving REST address=Some(").nth(1) {
                let _ = tx.send(rest.split(')').next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server serves REST");
    (child, addr)
}

/// Sends the request; its JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Logs in on the server at `addr`, adds a huge sparse image to its default storage and
/// submits its MD5 as the REST job `job` (long enough to be running when the test kills
/// the server); checks that the job is running.
async fn submit_long_hash_job(addr: &str, job: &str) {
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/zstack/v1");
    let login =
        serde_json::json!({"logInByAccount": {"accountName": "admin", "password": ADMIN_PASSWORD}});
    let session = json_of(http.put(format!("{base}/accounts/login")).json(&login)).await;
    let session = session["inventory"]["uuid"].as_str().unwrap().to_string();
    let auth = format!("OAuth {session}");
    let storages = json_of(
        http.get(format!("{base}/backup-storage?q=name=default"))
            .header("Authorization", &auth),
    )
    .await;
    let storage = &storages["inventories"][0];
    let huge = std::path::Path::new(storage["url"].as_str().unwrap()).join("huge.raw");
    make_huge_sparse(&huge);
    let add = serde_json::json!({"params": {"name": "huge", "format": "raw",
        "url": format!("file://{}", huge.display()), "backupStorageUuids": [storage["uuid"]]}});
    let added = json_of(
        http.post(format!("{base}/images"))
            .header("Authorization", &auth)
            .json(&add),
    )
    .await;
    let location = added["location"].as_str().unwrap().to_string();
    let image = loop {
        let polled = http.get(&location).send().await.unwrap();
        if polled.status() == StatusCode::OK {
            let body: serde_json::Value = polled.json().await.unwrap();
            break body["inventory"]["uuid"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let submitted = http
        .put(format!("{base}/images/{image}/actions"))
        .header("Authorization", &auth)
        .header("X-Job-UUID", job)
        .json(&hash_body(storage["uuid"].as_str().unwrap(), "md5"))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::ACCEPTED);
    let running = http
        .get(format!("{base}/api-jobs/{job}"))
        .send()
        .await
        .unwrap();
    assert_eq!(running.status(), StatusCode::ACCEPTED);
}

/// SIGKILL: no shutdown, nothing written.
fn kill(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_job_running_when_the_server_was_killed_answers_503_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = spawn_server(dir.path(), &[]);
    let job = "0123456789abcdef0123456789abcdef";
    submit_long_hash_job(&addr, job).await;
    kill(child);

    let server = RestServer::start(dir.path()).await;
    let polled = server
        .request(Method::GET, &format!("/api-jobs/{job}"), &[], None)
        .await;
    assert_eq!(polled.status, StatusCode::SERVICE_UNAVAILABLE, "{polled:?}");
    let details = polled.body["error"]["details"].as_str().unwrap();
    assert!(details.contains("server stopped"), "{details}");
}

#[tokio::test]
async fn a_job_of_a_killed_server_ends_on_a_live_server_sharing_its_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let node = |name| ["--node-name", name, "--node-timeout", "2s"];
    let (a, a_addr) = spawn_server(dir.path(), &node("a"));
    let job = "fedcba9876543210fedcba9876543210";
    submit_long_hash_job(&a_addr, job).await;
    let (_b, b_addr) = spawn_server(dir.path(), &node("b"));
    let poll = format!("http://{b_addr}/zstack/v1/api-jobs/{job}");
    let http = reqwest::Client::new();
    // Seen running from the other server while its server lives.
    let polled = http.get(&poll).send().await.unwrap();
    assert_eq!(polled.status(), StatusCode::ACCEPTED);
    kill(a);

    // Ended within about two node time-outs; the bound is only against a hang.
    for _ in 0..600 {
        let polled = http.get(&poll).send().await.unwrap();
        if polled.status() != StatusCode::ACCEPTED {
            assert_eq!(polled.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body: serde_json::Value = polled.json().await.unwrap();
            let details = body["error"]["details"].as_str().unwrap();
            assert!(details.contains("server stopped"), "{details}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the killed server's job still answers 202 after 60 s");
}
