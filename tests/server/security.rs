//! Login back-off, the plaintext listen policy, and TLS.

use std::path::Path;
use std::time::{Duration, Instant};

use imghash::app::LoginLimits;
use imghash::cli::serve::ServeArgs;
use imghash::grpc::proto::*;
use tonic::Code;

use crate::harness::*;

fn login(name: &str, password: &str) -> LogInByAccountRequest {
    LogInByAccountRequest {
        account_name: name.into(),
        password: password.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_even_for_the_right_password_until_the_back_off_ends() {
    let dir = tempfile::tempdir().unwrap();
    let lockout = Duration::from_millis(1500);
    let server = TestServer::start_with(dir.path(), |c| {
        c.login_limits = LoginLimits {
            max_failures: 5,
            window: Duration::from_secs(60),
            lockout,
        };
    })
    .await;
    // Taken before the fifth failure, so the lock starts after it.
    let mut locked_at = Instant::now();
    for _ in 0..5 {
        locked_at = Instant::now();
        let result = server
            .accounts()
            .log_in_by_account(login("admin", "wrong"))
            .await;
        let status = assert_zstack_error(result, Code::Unauthenticated, "ID.1000");
        assert!(status.message().contains("Wrong account name or password"));
    }
    // Locked: even the right password is refused, with a message that says to wait; the
    // refusal comes before the (deliberately slow) password check.
    for password in [ADMIN_PASSWORD, "wrong"] {
        let result = server
            .accounts()
            .log_in_by_account(login("admin", password))
            .await;
        let status = assert_zstack_error(result, Code::Unauthenticated, "ID.1000");
        assert!(
            status
                .message()
                .contains("Too many failed logins for account 'admin'")
                && status.message().contains("wait"),
            "{status:?}"
        );
    }
    // Other account names are counted separately.
    let result = server
        .accounts()
        .log_in_by_account(login("nobody", "wrong"))
        .await;
    let status = assert_zstack_error(result, Code::Unauthenticated, "ID.1000");
    assert!(status.message().contains("Wrong account name or password"));

    // Once the back-off is over, the right password works again.
    let mut session = None;
    for _ in 0..100 {
        match server
            .accounts()
            .log_in_by_account(login("admin", ADMIN_PASSWORD))
            .await
        {
            Ok(r) => {
                session = r.into_inner().inventory;
                break;
            }
            Err(s) => {
                assert!(s.message().contains("wait"), "{s:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(session.is_some(), "the lockout ended");
    assert!(
        locked_at.elapsed() >= lockout,
        "not before the lockout ended"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    for _ in 0..3 {
        for _ in 0..4 {
            let result = server
                .accounts()
                .log_in_by_account(login("admin", "wrong"))
                .await;
            let status = assert_zstack_error(result, Code::Unauthenticated, "ID.1000");
            assert!(status.message().contains("Wrong account name or password"));
        }
        server.login().await;
    }
    server.stop().await;
}

fn serve_args(listen: &str) -> ServeArgs {
    // Parsed like the command line, so that every other flag keeps its default.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }
    let cli: Cli =
        clap::Parser::try_parse_from(["serve", "--data-dir", "unused", "--listen", listen])
            .unwrap();
    cli.serve
}

/// A self-signed certificate for "localhost", PEM.
fn self_signed() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

#[test]
fn plaintext_on_a_non_loopback_address_needs_allow_insecure_listen_or_tls() {
    let dir = tempfile::tempdir().unwrap();
    for loopback in ["127.0.0.1:0", "[::1]:0"] {
        serve_args(loopback).config().unwrap();
    }
    for public in ["0.0.0.0:0", "[::]:0", "192.0.2.1:50051"] {
        let err = serve_args(public).config().unwrap_err();
        assert!(
            err.to_string().contains("refusing to listen")
                && err.to_string().contains("--allow-insecure-listen"),
            "{err}"
        );
        let mut allowed = serve_args(public);
        allowed.allow_insecure_listen = true;
        assert!(allowed.config().unwrap().tls.is_none());
        let (cert, key) = self_signed();
        let cert_file = dir.path().join("cert.pem");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&cert_file, cert).unwrap();
        std::fs::write(&key_file, key).unwrap();
        let mut tls = serve_args(public);
        tls.tls_cert = Some(cert_file);
        tls.tls_key = Some(key_file);
        assert!(tls.config().unwrap().tls.is_some());
    }

    // The real binary refuses before touching the data dir.
    let data_dir = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imghash"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&data_dir)
        .env_remove("IMGHASH_ALLOW_INSECURE_LISTEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 in plaintext"),
        "{stderr}"
    );
    assert!(!data_dir.exists());
    // --tls-cert without --tls-key is a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imghash"))
        .args(["serve", "--tls-cert", "cert.pem", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

#[tokio::test]
async fn tls_serves_a_client_that_trusts_the_certificate_and_a_plaintext_client_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    // The harness connects over TLS, trusting only this certificate, and logs in.
    let server = TestServer::start_tls(dir.path(), &cert, &key).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let file = Path::new(&storage.url).join("small.raw");
    make_random(&file, 64 << 10);
    let image = server.add_image(&session, &file, "raw").await.unwrap();
    let hashed = server
        .images()
        .calculate_image_hash(authed(
            &session,
            hash_request(&image.uuid, &storage.uuid, "sha256"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        hashed.hash.unwrap().value,
        reference_digest("sha256sum", &file)
    );

    // Plaintext HTTP/2 to the TLS port: no call gets through.
    let plaintext = async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await?;
        let mut accounts = account_service_client::AccountServiceClient::new(channel);
        accounts
            .log_in_by_account(login("admin", ADMIN_PASSWORD))
            .await
            .map(drop)
            .map_err(|s| anyhow::anyhow!("{s:?}"))
    };
    let result: anyhow::Result<()> = tokio::time::timeout(Duration::from_secs(10), plaintext)
        .await
        .expect("the plaintext attempt ends")
        .map_err(|e| anyhow::anyhow!("{e:?}"));
    assert!(result.is_err(), "a plaintext client must not get through");

    // A TLS client that does not trust this self-signed certificate is refused too.
    let untrusting = tonic::transport::Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tonic::transport::ClientTlsConfig::new().domain_name("localhost"))
        .unwrap()
        .connect()
        .await;
    assert!(untrusting.is_err(), "an unknown certificate is not trusted");
    assert!(server.healthy().await);
    server.stop().await;
}

#[tokio::test]
async fn a_log_in_with_an_overlong_name_or_password_is_refused_before_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    for (name, password, field) in [
        ("n".repeat(3 << 20), "x".to_string(), "accountName"),
        ("admin".to_string(), "p".repeat(3 << 20), "password"),
    ] {
        let result = server
            .accounts()
            .log_in_by_account(login(&name, &password))
            .await;
        let status = assert_zstack_error(result, Code::InvalidArgument, "SYS.1007");
        assert!(status.message().contains(field), "{status:?}");
    }
    // The overlong attempts counted against nobody: admin still logs in.
    server.login().await;
    server.stop().await;
}
