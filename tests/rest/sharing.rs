//! One application behind both fronts: the same image hashed through gRPC and REST at the
//! same time is one computation, recorded once.

use std::time::Duration;

use imghash::grpc::proto::image_service_client::ImageServiceClient;
use reqwest::{Method, StatusCode};

use crate::grpc_harness::{authed, hash_request};
use crate::harness::*;

#[tokio::test]
async fn grpc_and_rest_requests_for_one_hash_share_one_computation() {
    let dir = tempfile::tempdir().unwrap();
    // One run slot, one queue place: a second job for the small image could not be queued,
    // so the gRPC request is answered only if it joins the REST request's job.
    let server = RestServer::start_with(
        dir.path(),
        |c| {
            c.max_jobs = 1;
            c.max_queued = 1;
        },
        |_| {},
    )
    .await;
    let session = server.login().await;
    let images = server.huge_and_small(&session).await;
    let (storage_uuid, small) = (images.storage.clone(), images.small.clone());

    let grpc = ImageServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let request = authed(&session, hash_request(&images.huge, &storage_uuid, "md5"));
    let mut blocker_client = grpc.clone();
    let blocker = tokio::spawn(async move { blocker_client.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.inventory.count_record_inserts();

    let path = format!("/images/{small}/actions");
    let submitted = server
        .authed(
            &session,
            Method::PUT,
            &path,
            Some(hash_body(&storage_uuid, "MD5")),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut grpc_client = grpc.clone();
    let request = authed(&session, hash_request(&small, &storage_uuid, "md5"));
    let from_grpc = tokio::spawn(async move { grpc_client.calculate_image_hash(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Freeing the run slot: the huge hash is cancelled once its only caller goes.
    blocker.abort();

    let from_rest = server.poll_to_end(&submitted).await;
    let from_grpc = from_grpc
        .await
        .unwrap()
        .expect("the gRPC request joined the job");
    let expected = reference_digest("md5sum", &images.small_path);
    assert_eq!(from_rest.status, StatusCode::OK, "{from_rest:?}");
    assert_eq!(from_rest.body["hash"]["value"], expected.as_str());
    assert_eq!(from_grpc.into_inner().hash.unwrap().value, expected);
    let inserts = server.inventory.record_inserts();
    assert_eq!(inserts, 1, "one computation, recorded once");
    server.stop().await;
}
