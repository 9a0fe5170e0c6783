//! With a certificate, the REST front serves TLS as the gRPC one does, and its locations are
//! https.

use reqwest::{Method, StatusCode};

use crate::harness::*;

#[tokio::test]
async fn with_a_certificate_rest_is_served_over_tls() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let identity =
        imghash::TlsIdentity::from_pem(certified.cert.pem(), certified.signing_key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start_with(dir.path(), |c| c.tls = Some(identity), |_| {}).await;
    let session = server.login().await;
    let path = "/images/0123456789abcdef0123456789abcdef/actions";
    let body = hash_body("fedcba9876543210fedcba9876543210", "md5");
    let submitted = server.authed(&session, Method::PUT, path, Some(body)).await;
    let location = submitted.body["location"].as_str().unwrap();
    assert!(location.starts_with("https://localhost:"), "{location}");
    let polled = server.poll_to_end(&submitted).await;
    assert_eq!(polled.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(polled.body["error"]["code"], "SYS.1003");

    // Plain HTTP on the TLS port gets no answer of ours.
    let plain = format!("http://{}/zstack/v1/images", server.rest);
    let answer = reqwest::get(plain).await;
    assert!(answer.is_err() || !answer.unwrap().status().is_success());
    server.stop().await;
}
