//! The bad-input table of the gRPC tests replayed over REST: each malformed request gets its
//! ZStack code (503 with the error body, on the call or on its poll) and none changes the
//! inventory or the storage directory. REST adds its own: fields of the wrong JSON type.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const NO_SUCH_UUID: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn malformed_requests_get_their_zstack_code_over_rest_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start(dir.path()).await;
    let session = server.login().await;
    let storage = server.default_storage(&session).await;
    let bs = storage["uuid"].as_str().unwrap().to_string();
    let storage_dir = Path::new(storage["url"].as_str().unwrap()).to_path_buf();
    let file = storage_dir.join("small.raw");
    make_random(&file, 4096);
    let image = server.add_image(&session, &file).await;
    let img = image["uuid"].as_str().unwrap().to_string();
    let hash = |alg: Value, chunk: Value, bs: Value| json!({"calculateImageHash": {"backupStorageUuid": bs, "algorithm": alg, "chunkSize": chunk}});
    let md5 = |bs: &str| hash(json!("md5"), Value::Null, json!(bs));
    let file_url = format!("file://{}", file.display());
    let add = |fields: Value| {
        let mut params = json!({"name": "bad", "url": file_url, "format": "raw",
            "backupStorageUuids": [bs]});
        for (k, v) in fields.as_object().unwrap() {
            params[k] = v.clone();
        }
        json!({"params": params})
    };
    let actions = |uuid: &str| format!("/images/{uuid}/actions");

    let invalid = "SYS.1007";
    let put = Method::PUT;
    let cases: Vec<(&str, Method, String, Option<Value>, &str)> = vec![
        (
            "non-hex image uuid",
            put.clone(),
            actions(&"z".repeat(32)),
            Some(md5(&bs)),
            invalid,
        ),
        (
            "upper-case image uuid",
            put.clone(),
            actions(&img.to_uppercase()),
            Some(md5(&bs)),
            invalid,
        ),
        (
            "over-long image uuid",
            put.clone(),
            actions(&format!("{img}0")),
            Some(md5(&bs)),
            invalid,
        ),
        (
            "10 KiB image uuid",
            put.clone(),
            actions(&"a".repeat(10 << 10)),
            Some(md5(&bs)),
            invalid,
        ),
        (
            "unicode image uuid",
            put.clone(),
            actions(&"%C3%A9".repeat(16)),
            Some(md5(&bs)),
            invalid,
        ),
        (
            "empty action object",
            put.clone(),
            actions(&img),
            Some(json!({"calculateImageHash": {}})),
            invalid,
        ),
        (
            "action object not an object",
            put.clone(),
            actions(&img),
            Some(json!({"calculateImageHash": 7})),
            invalid,
        ),
        (
            "missing backupStorageUuid",
            put.clone(),
            actions(&img),
            Some(hash(json!("md5"), Value::Null, Value::Null)),
            invalid,
        ),
        (
            "backupStorageUuid a number",
            put.clone(),
            actions(&img),
            Some(hash(json!("md5"), Value::Null, json!(5))),
            invalid,
        ),
        (
            "non-hex backupStorageUuid",
            put.clone(),
            actions(&img),
            Some(md5("../../etc")),
            invalid,
        ),
        (
            "unknown algorithm",
            put.clone(),
            actions(&img),
            Some(hash(json!("md4"), Value::Null, json!(bs))),
            invalid,
        ),
        (
            "algorithm with SQL",
            put.clone(),
            actions(&img),
            Some(hash(
                json!("md5'; DROP TABLE image;--"),
                Value::Null,
                json!(bs),
            )),
            invalid,
        ),
        (
            "algorithm a list",
            put.clone(),
            actions(&img),
            Some(hash(json!(["md5"]), Value::Null, json!(bs))),
            invalid,
        ),
        (
            "zero chunk size",
            put.clone(),
            actions(&img),
            Some(hash(json!("merkle-sha256"), json!("0B"), json!(bs))),
            invalid,
        ),
        (
            "chunk size above 1 GiB",
            put.clone(),
            actions(&img),
            Some(hash(json!("merkle-sha256"), json!("2GiB"), json!(bs))),
            invalid,
        ),
        (
            "unit-less chunk size",
            put.clone(),
            actions(&img),
            Some(hash(json!("merkle-sha256"), json!("4096"), json!(bs))),
            invalid,
        ),
        (
            "chunk size a number",
            put.clone(),
            actions(&img),
            Some(hash(json!("merkle-sha256"), json!(4096), json!(bs))),
            invalid,
        ),
        (
            "chunk size for md5",
            put.clone(),
            actions(&img),
            Some(hash(json!("md5"), json!("4MiB"), json!(bs))),
            invalid,
        ),
        (
            "systemTags not a list",
            put.clone(),
            actions(&img),
            Some(json!({"calculateImageHash": {"backupStorageUuid": bs}, "systemTags": "x"})),
            invalid,
        ),
        (
            "unknown image",
            put.clone(),
            actions(NO_SUCH_UUID),
            Some(md5(&bs)),
            "SYS.1003",
        ),
        (
            "unknown storage",
            put.clone(),
            actions(&img),
            Some(md5(NO_SUCH_UUID)),
            "SYS.1003",
        ),
        (
            "add image: no params",
            Method::POST,
            "/images".into(),
            Some(json!({})),
            invalid,
        ),
        (
            "add image: params not an object",
            Method::POST,
            "/images".into(),
            Some(json!({"params": []})),
            invalid,
        ),
        (
            "add image: empty name",
            Method::POST,
            "/images".into(),
            Some(add(json!({"name": ""}))),
            invalid,
        ),
        (
            "add image: 256-character name",
            Method::POST,
            "/images".into(),
            Some(add(json!({"name": "x".repeat(256)}))),
            invalid,
        ),
        (
            "add image: 4 KiB description",
            Method::POST,
            "/images".into(),
            Some(add(json!({"description": "x".repeat(4096)}))),
            invalid,
        ),
        (
            "add image: http url",
            Method::POST,
            "/images".into(),
            Some(add(json!({"url": "http://example.com/a.qcow2"}))),
            invalid,
        ),
        (
            "add image: relative url",
            Method::POST,
            "/images".into(),
            Some(add(json!({"url": "file://small.raw"}))),
            invalid,
        ),
        (
            "add image: /dev/zero",
            Method::POST,
            "/images".into(),
            Some(add(json!({"url": "file:///dev/zero"}))),
            invalid,
        ),
        (
            "add image: unknown format",
            Method::POST,
            "/images".into(),
            Some(add(json!({"format": "qcow3"}))),
            invalid,
        ),
        (
            "add image: media type in the wrong case",
            Method::POST,
            "/images".into(),
            Some(add(json!({"mediaType": "iso"}))),
            invalid,
        ),
        (
            "add image: no backup storage",
            Method::POST,
            "/images".into(),
            Some(add(json!({"backupStorageUuids": []}))),
            invalid,
        ),
        (
            "add image: storages a string",
            Method::POST,
            "/images".into(),
            Some(add(json!({"backupStorageUuids": bs}))),
            invalid,
        ),
        (
            "add image: system a string",
            Method::POST,
            "/images".into(),
            Some(add(json!({"system": "yes"}))),
            invalid,
        ),
        (
            "add image: unknown storage",
            Method::POST,
            "/images".into(),
            Some(add(json!({"backupStorageUuids": [NO_SUCH_UUID]}))),
            "SYS.1003",
        ),
        (
            "delete image: malformed uuid",
            Method::DELETE,
            "/images/x".into(),
            None,
            invalid,
        ),
        (
            "delete image: unknown",
            Method::DELETE,
            format!("/images/{NO_SUCH_UUID}"),
            None,
            "SYS.1003",
        ),
        (
            "add storage: relative url",
            Method::POST,
            "/backup-storage/image-store".into(),
            Some(json!({"params": {"name": "s", "url": "relative/dir"}})),
            invalid,
        ),
        (
            "add storage: no name",
            Method::POST,
            "/backup-storage/sftp".into(),
            Some(json!({"params": {"url": "/tmp/x"}})),
            invalid,
        ),
        (
            "add storage: duplicate name",
            Method::POST,
            "/backup-storage/image-store".into(),
            Some(json!({"params": {"name": "default", "url": storage_dir.display().to_string()}})),
            invalid,
        ),
        (
            "delete storage: malformed uuid",
            Method::DELETE,
            "/backup-storage/x".into(),
            None,
            invalid,
        ),
        (
            "query: unknown field",
            Method::GET,
            "/images?q=colour=red".into(),
            None,
            invalid,
        ),
        (
            "query: SQL in a value",
            Method::GET,
            "/images?q=name%3Dx%27%20OR%20%271%27%3D%271".into(),
            None,
            "none",
        ),
        (
            "log in: no account",
            Method::PUT,
            "/accounts/login".into(),
            Some(json!({"logInByAccount": {}})),
            invalid,
        ),
        (
            "log in: name a number",
            Method::PUT,
            "/accounts/login".into(),
            Some(json!({"logInByAccount": {"accountName": 1, "password": "x"}})),
            invalid,
        ),
        (
            "log in: unknown account",
            Method::PUT,
            "/accounts/login".into(),
            Some(json!({"logInByAccount": {"accountName": "root", "password": "x"}})),
            "ID.1000",
        ),
        (
            "log out: malformed uuid",
            Method::DELETE,
            "/accounts/sessions/x".into(),
            None,
            invalid,
        ),
    ];

    let before = server.inventory_dump();
    let files_before = crate::grpc_harness::dir_listing(&storage_dir);
    for (name, method, path, body, code) in cases {
        let answer = server.authed(&session, method, &path, body).await;
        let answer = match answer.status {
            StatusCode::ACCEPTED => server.poll_to_end(&answer).await,
            _ => answer,
        };
        if code == "none" {
            assert_eq!(answer.status, StatusCode::OK, "{name}: {answer:?}");
            assert_eq!(answer.body["inventories"], json!([]), "{name}");
            continue;
        }
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{name}: {answer:?}"
        );
        assert_eq!(answer.body["error"]["code"], code, "{name}: {answer:?}");
        let details = answer.body["error"]["details"].as_str().unwrap_or_default();
        assert!(
            !details.is_empty() && details.len() <= 1024,
            "{name}: {details}"
        );
    }
    assert_eq!(
        server.inventory_dump(),
        before,
        "the inventory is unchanged"
    );
    assert_eq!(crate::grpc_harness::dir_listing(&storage_dir), files_before);
    server.stop().await;
}
