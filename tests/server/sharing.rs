//! What identical requests share: one job for equivalent keys, one record per computation,
//! and a session written at most once a minute however many calls it makes.

use std::path::Path;
use std::time::Duration;

use imghash::grpc::proto::*;
use tokio::task::JoinHandle;
use tonic::{Response, Status};

use crate::harness::*;

/// A server with one run slot and one queue place, the slot held by an MD5 of a huge
/// sparse image, and a small random image whose jobs therefore wait in the queue.
struct Busy {
    server: TestServer,
    session: String,
    storage: String,
    small: String,
    small_path: std::path::PathBuf,
    blocker: JoinHandle<Result<Response<CalculateImageHashResponse>, Status>>,
}

async fn busy(dir: &Path) -> Busy {
    let server = TestServer::start_with(dir, |c| {
        c.max_jobs = 1;
        c.max_queued = 1;
    })
    .await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let huge_path = Path::new(&storage.url).join("huge.raw");
    make_huge_sparse(&huge_path);
    let small_path = Path::new(&storage.url).join("small.raw");
    make_random(&small_path, 3 << 20);
    let huge = server.add_image(&session, &huge_path, "raw").await.unwrap();
    let small = server
        .add_image(&session, &small_path, "raw")
        .await
        .unwrap();
    let mut images = server.images();
    let request = authed(&session, hash_request(&huge.uuid, &storage.uuid, "md5"));
    let blocker = tokio::spawn(async move { images.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.inventory.count_record_inserts();
    Busy {
        server,
        session,
        storage: storage.uuid,
        small: small.uuid,
        small_path,
        blocker,
    }
}

/// Sends two requests for the small image, the second once the first is queued, then
/// frees the run slot; returns both answers.
async fn both(
    f: Busy,
    first: CalculateImageHashRequest,
    second: CalculateImageHashRequest,
) -> (Busy, [CalculateImageHashResponse; 2]) {
    let mut images = f.server.images();
    let request = authed(&f.session, first);
    let queued = tokio::spawn(async move { images.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut images = f.server.images();
    let request = authed(&f.session, second);
    let joined = tokio::spawn(async move { images.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The slot and the queue place are taken: a second job would have been refused.
    assert!(!joined.is_finished(), "{:?}", joined.await);
    f.blocker.abort();
    let first = queued
        .await
        .unwrap()
        .expect("the queued request")
        .into_inner();
    let second = joined
        .await
        .unwrap()
        .expect("the joined request")
        .into_inner();
    (f, [first, second])
}

#[tokio::test]
async fn identical_requests_are_hashed_and_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = busy(dir.path()).await;
    let first = hash_request(&f.small, &f.storage, "md5");
    let second = hash_request(&f.small, &f.storage, "MD5");
    let (f, answers) = both(f, first, second).await;
    let expected = reference_digest("md5sum", &f.small_path);
    for answer in &answers {
        assert_eq!(answer.hash.as_ref().unwrap().value, expected);
        assert_eq!(
            answer.inventory.as_ref().unwrap().md5_sum,
            Some(expected.clone())
        );
    }
    // Both render the one record: the same lastOpDate, one row written.
    assert_eq!(answers[0].inventory, answers[1].inventory);
    assert_eq!(f.server.inventory.record_inserts(), 1);
    f.server.stop().await;
}

#[tokio::test]
async fn the_default_chunk_size_given_or_not_is_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let f = busy(dir.path()).await;
    let first = hash_request(&f.small, &f.storage, "merkle-sha256");
    let mut second = hash_request(&f.small, &f.storage, "merkle-sha256");
    second.calculate_image_hash.as_mut().unwrap().chunk_size = "4MiB".into();
    let (f, answers) = both(f, first, second).await;
    let hashes: Vec<_> = answers.iter().map(|a| a.hash.clone().unwrap()).collect();
    assert_eq!(hashes[0].chunk_size, "4MiB");
    assert_eq!(hashes[0].value, hashes[1].value);
    assert_eq!(f.server.inventory.record_inserts(), 1);
    f.server.stop().await;
}

#[tokio::test]
async fn calls_within_a_minute_of_the_log_in_do_not_write_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let at_login = server.inventory.session_expiry(&session);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        server.default_storage(&session).await;
    }
    assert_eq!(server.inventory.session_expiry(&session), at_login);
    server.stop().await;
}
