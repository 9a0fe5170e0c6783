//! ZStack's asynchronous model: 202 with `location` and `apiTimeout`, polling (202 `{}`,
//! 200, 503, 404), `X-Job-UUID` (validated, reuse refused), `X-API-Timeout`, results kept
//! for the retention time and bounded in number, and across a restart.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

/// A server with a huge and a small image (see [`RestServer::huge_and_small`]).
struct Setup {
    server: RestServer,
    session: String,
    storage: String,
    huge: String,
    small: String,
}

async fn setup(dir: &Path, rest: impl FnOnce(&mut imghash::rest::RestConfig)) -> Setup {
    let server = RestServer::start_with(dir, |_| {}, rest).await;
    let session = server.login().await;
    let images = server.huge_and_small(&session).await;
    Setup {
        session,
        storage: images.storage,
        huge: images.huge,
        small: images.small,
        server,
    }
}

impl Setup {
    async fn submit(&self, image: &str, headers: &[(&str, &str)]) -> Answer {
        let auth = format!("OAuth {}", self.session);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        let path = format!("/images/{image}/actions");
        let body = hash_body(&self.storage, "md5");
        self.server
            .request(Method::PUT, &path, &all, Some(body))
            .await
    }
}

#[tokio::test]
async fn a_job_answers_202_while_running_then_its_result_and_its_id_is_the_clients() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), |_| {}).await;
    let job = "0123456789abcdef0123456789abcdef";
    let submitted = s
        .submit(&s.huge, &[("X-Job-UUID", job), ("X-API-Timeout", "3600")])
        .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED);
    let location = submitted.body["location"].as_str().unwrap();
    assert_eq!(
        location,
        format!("http://{}/zstack/v1/api-jobs/{job}", s.server.rest)
    );
    assert_eq!(submitted.body["apiTimeout"], 3_600_000);
    let running = s
        .server
        .request(Method::GET, &format!("/api-jobs/{job}"), &[], None)
        .await;
    assert_eq!(
        (running.status, running.body),
        (StatusCode::ACCEPTED, json!({}))
    );

    // The same id again is refused, whatever the call; a malformed one too.
    let again = s.submit(&s.small, &[("X-Job-UUID", job)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        again.body,
        Value::String(format!("Duplicate job uuid[{job}]"))
    );
    let malformed = s.submit(&s.small, &[("X-Job-UUID", "0123-4567")]).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.body,
        "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped"
    );

    // Another job ends while the first runs: 200 with the result.
    let small = s.submit(&s.small, &[]).await;
    let done = s.server.poll_to_end(&small).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["inventory"]["uuid"], s.small.as_str());

    // Unknown ids are 404, other methods 405, both plain text.
    let unknown = s
        .server
        .request(
            Method::GET,
            "/api-jobs/ffffffffffffffffffffffffffffffff",
            &[],
            None,
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body),
        (StatusCode::NOT_FOUND, json!("the job has been expired"))
    );
    let post = s
        .server
        .request(Method::POST, &format!("/api-jobs/{job}"), &[], None)
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        post.body,
        "only GET method is allowed for querying job status"
    );
    s.server.stop().await;
}

#[tokio::test]
async fn x_api_timeout_bounds_a_job_and_it_fails_with_sys_1001() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), |_| {}).await;
    let submitted = s.submit(&s.huge, &[("X-API-Timeout", "1")]).await;
    assert_eq!(submitted.body["apiTimeout"], 1000);
    let failed = s.server.poll_to_end(&submitted).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.body["error"]["code"], "SYS.1001");
    let bad = s.submit(&s.small, &[("X-API-Timeout", "soon")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    s.server.stop().await;
}

#[tokio::test]
async fn results_expire_after_the_retention_time_and_beyond_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    // Kept for no time at all: a job's result is expired as soon as it ends.
    let server =
        RestServer::start_with(dir.path(), |_| {}, |r| r.job_retention = Duration::ZERO).await;
    let session = server.login().await;
    let path = "/images/0123456789abcdef0123456789abcdef/actions";
    let body = hash_body("fedcba9876543210fedcba9876543210", "md5");
    let submitted = server.authed(&session, Method::PUT, path, Some(body)).await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED);
    let ended = server.poll_to_end(&submitted).await;
    assert_eq!(
        (ended.status, ended.body),
        (StatusCode::NOT_FOUND, json!("the job has been expired"))
    );
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), |r| r.max_jobs_kept = 2).await;
    // Two results kept: the third job pushes the first out.
    let first = s.submit(&s.small, &[]).await;
    assert_eq!(s.server.poll_to_end(&first).await.status, StatusCode::OK);
    let second = s.submit(&s.small, &[]).await;
    assert_eq!(s.server.poll_to_end(&second).await.status, StatusCode::OK);
    let third = s.submit(&s.small, &[]).await;
    assert_eq!(s.server.poll_to_end(&third).await.status, StatusCode::OK);
    let oldest = s.server.poll_to_end(&first).await;
    assert_eq!(oldest.status, StatusCode::NOT_FOUND);
    s.server.stop().await;
}

#[tokio::test]
async fn a_job_running_when_the_server_stopped_answers_503_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), |_| {}).await;
    let done = s.submit(&s.small, &[]).await;
    assert_eq!(s.server.poll_to_end(&done).await.status, StatusCode::OK);
    let running = s.submit(&s.huge, &[]).await;
    let done_job = job_id(&done);
    let running_job = job_id(&running);
    s.server.stop().await;

    let server = RestServer::start(dir.path()).await;
    // A finished job's result survives the restart.
    let kept = server
        .request(Method::GET, &format!("/api-jobs/{done_job}"), &[], None)
        .await;
    assert_eq!(kept.status, StatusCode::OK);
    let stopped = server
        .request(Method::GET, &format!("/api-jobs/{running_job}"), &[], None)
        .await;
    assert_eq!(
        stopped.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{stopped:?}"
    );
    let details = stopped.body["error"]["details"].as_str().unwrap();
    assert!(details.contains("server stopped"), "{details}");
    server.stop().await;
}

/// The job id at the end of a 202's location (clients split on `/zstack/v1/api-jobs`).
pub fn job_id(submitted: &Answer) -> String {
    let location = submitted.body["location"].as_str().unwrap();
    location.rsplit('/').next().unwrap().to_string()
}
