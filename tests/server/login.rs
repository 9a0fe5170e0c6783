//! The log-in back-off is per account *and* client address: a stranger's failures lock the
//! stranger out, not the account's owner on another machine. Loopback has many addresses
//! on Linux: the stranger connects from 127.0.0.2, the owner from 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use imghash::app::LoginLimits;
use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::*;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::harness::*;

/// A client whose connections come from `from`.
async fn client_from(server: &TestServer, from: Ipv4Addr) -> AccountServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .local_address(Some(IpAddr::V4(from)))
        .connect()
        .await
        .unwrap();
    AccountServiceClient::new(channel)
}

async fn log_in(
    client: &mut AccountServiceClient<Channel>,
    password: &str,
) -> Result<String, Status> {
    client
        .log_in_by_account(LogInByAccountRequest {
            account_name: "admin".into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().inventory.unwrap().uuid)
}

#[tokio::test]
async fn a_strangers_failed_logins_do_not_lock_the_owner_out_from_another_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.login_limits = LoginLimits {
            max_failures: 5,
            window: Duration::from_secs(600),
            // Far longer than the test: the stranger stays locked throughout.
            lockout: Duration::from_secs(600),
        };
    })
    .await;
    let mut stranger = client_from(&server, Ipv4Addr::new(127, 0, 0, 2)).await;
    let mut owner = client_from(&server, Ipv4Addr::LOCALHOST).await;
    for _ in 0..5 {
        let status = log_in(&mut stranger, "guess").await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(
            status.message().contains("Wrong account name or password"),
            "{status:?}"
        );
    }
    // The stranger is locked out, even with the right password...
    let status = assert_zstack_error(
        log_in(&mut stranger, ADMIN_PASSWORD).await,
        Code::Unauthenticated,
        "ID.1000",
    );
    assert!(
        status.message().contains("Too many failed logins"),
        "{status:?}"
    );
    // ...and the owner, from another address, is not.
    log_in(&mut owner, ADMIN_PASSWORD)
        .await
        .expect("the owner logs in from 127.0.0.1");
    // A wrong password from the owner's address counts from zero there.
    let status = log_in(&mut owner, "typo").await.unwrap_err();
    assert!(
        status.message().contains("Wrong account name or password"),
        "{status:?}"
    );
    log_in(&mut owner, ADMIN_PASSWORD).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_on_an_unknown_name_lock_it_like_a_real_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.login_limits = LoginLimits {
            max_failures: 2,
            window: Duration::from_secs(600),
            lockout: Duration::from_secs(600),
        };
    })
    .await;
    let mut client = client_from(&server, Ipv4Addr::LOCALHOST).await;
    let mut answers = Vec::new();
    for name in ["admin", "nobody"] {
        for _ in 0..3 {
            let status = client
                .log_in_by_account(LogInByAccountRequest {
                    account_name: name.into(),
                    password: "guess".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            answers.push((status.code(), status.message().replace(name, "NAME")));
        }
    }
    // The same answers, in the same order, whether the account exists or not.
    assert_eq!(answers[..3], answers[3..]);
    server.stop().await;
}
