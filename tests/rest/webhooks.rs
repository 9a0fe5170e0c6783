//! `X-Web-Hook`: the result POSTed to a loopback receiver (one that fails twice first is
//! retried), with `X-Job-UUID` and `X-Job-Success`; hooks to hosts the operator has not
//! allowed are refused with 400 and a sentence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

/// What the receiver got: `X-Job-UUID`, `X-Job-Success`, the body.
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A receiver on 127.0.0.1:0 that answers 500 to its first `failures` deliveries.
async fn receiver(failures: usize) -> (std::net::SocketAddr, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let header = |name: &str| {
                    let value = headers.get(name).map(|v| v.to_str().unwrap().to_string());
                    value.unwrap_or_default()
                };
                let mut log = log.lock().unwrap();
                let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                log.push((header("x-job-uuid"), header("x-job-success"), body));
                if log.len() <= failures {
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// Waits until the receiver has `n` deliveries.
async fn deliveries(received: &Received, n: usize) -> Vec<(String, String, Value)> {
    for _ in 0..1000 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    received.lock().unwrap().clone()
}

#[tokio::test]
async fn the_result_reaches_a_hook_that_fails_twice_first() {
    let (hook_addr, received) = receiver(2).await;
    let dir = tempfile::tempdir().unwrap();
    let allow = hook_addr.to_string();
    let server = RestServer::start_with(
        dir.path(),
        |_| {},
        |r| {
            r.webhook_allow = vec![allow];
            r.webhook_interval = Duration::from_millis(50);
        },
    )
    .await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let file = std::path::Path::new(storage["url"].as_str().unwrap()).join("a.raw");
    make_random(&file, 1 << 20);
    let image = server.add_image(&session, &file).await;

    let hook = format!("http://{hook_addr}/hook");
    let auth = format!("OAuth {session}");
    let path = format!("/images/{}/actions", image["uuid"].as_str().unwrap());
    let body = hash_body(storage["uuid"].as_str().unwrap(), "md5");
    let submitted = server
        .request(
            Method::PUT,
            &path,
            &[("Authorization", &auth), ("X-Web-Hook", &hook)],
            Some(body),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED);
    let polled = server.poll_to_end(&submitted).await;
    let got = deliveries(&received, 3).await;
    assert_eq!(
        got.len(),
        3,
        "two failures, then the delivery that succeeds"
    );
    let job = crate::async_jobs::job_id(&submitted);
    for (uuid, success, delivered) in &got {
        assert_eq!((uuid.as_str(), success.as_str()), (job.as_str(), "true"));
        assert_eq!(
            delivered, &polled.body,
            "the hook gets what the poll answers"
        );
    }
    assert_eq!(
        got[2].2["hash"]["value"],
        reference_digest("md5sum", &file).as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failed_job_is_delivered_with_x_job_success_false() {
    let (hook_addr, received) = receiver(0).await;
    let dir = tempfile::tempdir().unwrap();
    let allow = hook_addr.ip().to_string();
    let server =
        RestServer::start_with(dir.path(), |_| {}, |r| r.webhook_allow = vec![allow]).await;
    let session = server.login().await;
    let hook = format!("http://{hook_addr}/hook");
    let auth = format!("OAuth {session}");
    let path = "/images/0123456789abcdef0123456789abcdef/actions";
    let body =
        json!({"calculateImageHash": {"backupStorageUuid": "fedcba9876543210fedcba9876543210"}});
    let submitted = server
        .request(
            Method::PUT,
            path,
            &[("Authorization", &auth), ("X-Web-Hook", &hook)],
            Some(body),
        )
        .await;
    let polled = server.poll_to_end(&submitted).await;
    assert_eq!(polled.status, StatusCode::SERVICE_UNAVAILABLE);
    let got = deliveries(&received, 1).await;
    assert_eq!(got[0].1, "false");
    assert_eq!(got[0].2, polled.body);
    server.stop().await;
}

#[tokio::test]
async fn a_hook_to_a_host_not_allowed_is_refused_before_the_job_starts() {
    let dir = tempfile::tempdir().unwrap();
    // None allowed by default.
    let server = RestServer::start(dir.path()).await;
    let session = server.login().await;
    let auth = format!("OAuth {session}");
    let path = "/images/0123456789abcdef0123456789abcdef/actions";
    let body = hash_body("fedcba9876543210fedcba9876543210", "md5");
    let job = "00000000000000000000000000000001";
    let refused = server
        .request(
            Method::PUT,
            path,
            &[
                ("Authorization", &auth),
                ("X-Web-Hook", "http://169.254.169.254/latest"),
                ("X-Job-UUID", job),
            ],
            Some(body),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let sentence = refused.body.as_str().unwrap();
    assert!(
        sentence.contains("'169.254.169.254'") && sentence.contains("--webhook-allow"),
        "{sentence}"
    );
    // No job was recorded under that id.
    let poll = server
        .request(Method::GET, &format!("/api-jobs/{job}"), &[], None)
        .await;
    assert_eq!(poll.status, StatusCode::NOT_FOUND);
    server.stop().await;
}
