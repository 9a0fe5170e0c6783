//! Queries too large for the inventory are refused as bad input (SYS.1007) with the limit
//! named, instead of failing inside SQLite as an internal error (SYS.1000).

use imghash::grpc::proto::*;
use tonic::Code;

use crate::harness::*;

async fn query_images(
    server: &TestServer,
    session: &str,
    conditions: Vec<String>,
) -> Result<Vec<ImageInventory>, tonic::Status> {
    server
        .images()
        .query_image(authed(
            session,
            QueryImageRequest {
                conditions,
                limit: 0,
            },
        ))
        .await
        .map(|r| r.into_inner().inventories)
}

#[tokio::test]
async fn too_many_conditions_or_listed_values_are_sys_1007_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;

    // SQLite nests one AND per condition and refuses a tree deeper than 1000.
    let many = vec!["name!=x".to_string(); 2000];
    let status = assert_zstack_error(
        query_images(&server, &session, many).await,
        Code::InvalidArgument,
        "SYS.1007",
    );
    assert!(
        status.message().contains("at most 100 conditions"),
        "{status:?}"
    );
    assert!(status.message().contains("2000"), "{status:?}");

    // SQLite binds at most 32766 parameters.
    let values = vec!["0123456789abcdef0123456789abcdef"; 40_000].join(",");
    let status = assert_zstack_error(
        query_images(&server, &session, vec![format!("uuid?={values}")]).await,
        Code::InvalidArgument,
        "SYS.1007",
    );
    assert!(
        status.message().contains("at most 1000 values"),
        "{status:?}"
    );

    // At the limits, the queries run.
    let at_limit = vec!["name!=x".to_string(); 100];
    query_images(&server, &session, at_limit).await.unwrap();
    let values = vec!["0123456789abcdef0123456789abcdef"; 1000].join(",");
    query_images(&server, &session, vec![format!("uuid?={values}")])
        .await
        .unwrap();
    server.stop().await;
}
