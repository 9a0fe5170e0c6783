//! Deadlines, cancellation, the job bound and sharing, on a 256 GiB sparse file whose MD5
//! would take minutes.

use std::path::Path;
use std::time::{Duration, Instant};

use tonic::Code;

use crate::harness::*;

/// A server with a huge sparse image and a small one, both in place on the default storage.
struct Fixture {
    server: TestServer,
    session: String,
    storage: String,
    huge: String,
    small: String,
}

async fn fixture(dir: &Path, max_jobs: usize, max_queued: usize) -> Fixture {
    let server = TestServer::start_with(dir, |c| {
        c.max_jobs = max_jobs;
        c.max_queued = max_queued;
    })
    .await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let huge_path = Path::new(&storage.url).join("huge.raw");
    make_huge_sparse(&huge_path);
    let small_path = Path::new(&storage.url).join("small.raw");
    make_random(&small_path, 64 << 10);
    let huge = server
        .add_image(&session, &huge_path, "raw")
        .await
        .unwrap()
        .uuid;
    let small = server
        .add_image(&session, &small_path, "raw")
        .await
        .unwrap()
        .uuid;
    Fixture {
        server,
        session,
        storage: storage.uuid,
        huge,
        small,
    }
}

#[tokio::test]
async fn a_passed_deadline_is_sys_1001_deadline_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path(), 1, 0).await;
    let mut request = authed(&f.session, hash_request(&f.huge, &f.storage, "md5"));
    server_deadline(&mut request, 300);
    let started = Instant::now();
    let result = f.server.images().calculate_image_hash(request).await;
    assert_zstack_error(result, Code::DeadlineExceeded, "SYS.1001");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The job was cancelled: with one slot and no queue, the next job gets the slot.
    let mut ok = None;
    for _ in 0..50 {
        match f
            .server
            .images()
            .calculate_image_hash(authed(
                &f.session,
                hash_request(&f.small, &f.storage, "md5"),
            ))
            .await
        {
            Ok(r) => {
                ok = Some(r);
                break;
            }
            Err(s) if s.code() == Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(s) => panic!("{s:?}"),
        }
    }
    assert!(ok.is_some(), "the cancelled job freed its slot");
    f.server.stop().await;
}

#[tokio::test]
async fn too_many_jobs_is_resource_exhausted_and_a_client_cancel_frees_the_slot() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path(), 1, 1).await;
    // Two different long jobs: one runs, one waits.
    let mut pending = Vec::new();
    for algorithm in ["md5", "sha1"] {
        let mut images = f.server.images();
        let request = authed(&f.session, hash_request(&f.huge, &f.storage, algorithm));
        pending.push(tokio::spawn(async move {
            images.calculate_image_hash(request).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let result = f
        .server
        .images()
        .calculate_image_hash(authed(
            &f.session,
            hash_request(&f.small, &f.storage, "md5"),
        ))
        .await;
    assert_zstack_error(result, Code::ResourceExhausted, "SYS.1006");

    // The clients give up: their requests are dropped, which cancels both jobs.
    for task in pending {
        task.abort();
    }
    let started = Instant::now();
    loop {
        let result = f
            .server
            .images()
            .calculate_image_hash(authed(
                &f.session,
                hash_request(&f.small, &f.storage, "md5"),
            ))
            .await;
        match result {
            Ok(_) => break,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "slots never freed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }
    f.server.stop().await;
}

#[tokio::test]
async fn identical_concurrent_requests_share_one_computation() {
    let dir = tempfile::tempdir().unwrap();
    // One slot, no queue: a second computation would be refused, a shared one is not.
    let f = fixture(dir.path(), 1, 0).await;
    let mut first = f.server.images();
    let request = authed(&f.session, hash_request(&f.huge, &f.storage, "md5"));
    let running = tokio::spawn(async move { first.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut joined = authed(&f.session, hash_request(&f.huge, &f.storage, "MD5"));
    server_deadline(&mut joined, 300);
    let result = f.server.images().calculate_image_hash(joined).await;
    // It joined the running job (not RESOURCE_EXHAUSTED) and gave up at its own deadline,
    let status = assert_zstack_error(result, Code::DeadlineExceeded, "SYS.1001");
    drop(status);
    // ...which did not cancel the job the first request still waits for.
    assert!(!running.is_finished());
    let other = f
        .server
        .images()
        .calculate_image_hash(authed(
            &f.session,
            hash_request(&f.small, &f.storage, "md5"),
        ))
        .await;
    assert_zstack_error(other, Code::ResourceExhausted, "SYS.1006");
    running.abort();
    f.server.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_a_running_hash_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path(), 1, 0).await;
    let mut images = f.server.images();
    let request = authed(&f.session, hash_request(&f.huge, &f.storage, "md5"));
    let running = tokio::spawn(async move { images.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    f.server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let result = running.await.unwrap();
    assert!(result.is_err(), "the in-flight call ends with an error");
}
