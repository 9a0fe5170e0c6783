//! Every route over a real HTTP client: log-in and log-out, backup storages, images, queries
//! with ZStack's parameters, CalculateImageHash, and the transport's own errors.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test]
async fn log_in_query_add_hash_and_delete_over_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start(dir.path()).await;
    let session = server.login().await;

    // Backup storages: the default one, another added as ZStack's ImageStore storage.
    let default = server.default_storage(&session).await;
    assert_eq!(default["type"], "Local");
    let other_dir = dir.path().join("other-storage");
    let body = json!({"params": {"name": "second", "url": other_dir.display().to_string(),
        "hostname": "ignored"}});
    let added = server
        .run_async(
            &session,
            Method::POST,
            "/backup-storage/image-store",
            Some(body),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    let second = added.body["inventory"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(other_dir.is_dir());
    let by_uuid = server
        .authed(
            &session,
            Method::GET,
            &format!("/backup-storage/{second}"),
            None,
        )
        .await;
    assert_eq!(by_uuid.body["inventories"][0]["name"], "second");

    // AddImage, then CalculateImageHash with ZStack's body: md5Sum is md5sum's.
    let file = Path::new(default["url"].as_str().unwrap()).join("disk.raw");
    make_random(&file, 3 << 20);
    let image = server.add_image(&session, &file).await;
    let uuid = image["uuid"].as_str().unwrap().to_string();
    let storage = default["uuid"].as_str().unwrap();
    let actions = format!("/images/{uuid}/actions");
    let md5 = server
        .run_async(
            &session,
            Method::PUT,
            &actions,
            Some(hash_body(storage, "MD5")),
        )
        .await;
    assert_eq!(md5.status, StatusCode::OK, "{md5:?}");
    let expected = reference_digest("md5sum", &file);
    assert_eq!(md5.body["inventory"]["md5Sum"], expected.as_str());
    assert_eq!(md5.body["hash"]["algorithm"], "md5");
    assert_eq!(md5.body["hash"]["value"], expected.as_str());
    assert_eq!(md5.body["hash"]["bytes"], 3 << 20);

    // SHA256 asked over REST: its value is in the hash extension, md5Sum keeps MD5's.
    let sha = server
        .run_async(
            &session,
            Method::PUT,
            &actions,
            Some(hash_body(storage, "SHA256")),
        )
        .await;
    assert_eq!(
        sha.body["hash"]["value"],
        reference_digest("sha256sum", &file).as_str()
    );
    assert_eq!(sha.body["inventory"]["md5Sum"], expected.as_str());

    // The chunk size extension, and tags inside the action object (as the SDKs send them).
    let body = json!({"calculateImageHash": {"backupStorageUuid": storage,
        "algorithm": "merkle-sha256", "chunkSize": "1MiB", "systemTags": ["a::b"]}});
    let merkle = server
        .run_async(&session, Method::PUT, &actions, Some(body))
        .await;
    assert_eq!(merkle.status, StatusCode::OK, "{merkle:?}");
    assert_eq!(merkle.body["hash"]["chunkSize"], "1MiB");

    // GET by uuid answers an inventories array; an unknown uuid an empty one.
    let got = server
        .authed(&session, Method::GET, &format!("/images/{uuid}"), None)
        .await;
    assert_eq!(got.body["inventories"][0]["uuid"], uuid.as_str());
    let ref_storage = &got.body["inventories"][0]["backupStorageRefs"][0];
    assert_eq!(ref_storage["backupStorageUuid"], storage);
    let none = server
        .authed(
            &session,
            Method::GET,
            "/images/0123456789abcdef0123456789abcdef",
            None,
        )
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body, json!({"inventories": []}));

    // DeleteImage, DeleteBackupStorage, LogOut; the session is gone afterwards.
    let deleted = server
        .run_async(
            &session,
            Method::DELETE,
            &format!("/images/{uuid}?deleteMode=Permissive"),
            None,
        )
        .await;
    assert_eq!((deleted.status, deleted.body), (StatusCode::OK, json!({})));
    assert!(
        file.exists(),
        "a file registered in place is the user's and stays"
    );
    let gone = server
        .run_async(
            &session,
            Method::DELETE,
            &format!("/backup-storage/{second}"),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{gone:?}");
    let out = server
        .request(
            Method::DELETE,
            &format!("/accounts/sessions/{session}"),
            &[],
            None,
        )
        .await;
    assert_eq!((out.status, out.body), (StatusCode::OK, json!({})));
    let after = server.authed(&session, Method::GET, "/images", None).await;
    assert_eq!(after.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(after.body["error"]["code"], "ID.1001");
    server.stop().await;
}

#[tokio::test]
async fn queries_take_zstacks_conditions_window_count_sort_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start(dir.path()).await;
    let session = server.login().await;
    let default = server.default_storage(&session).await;
    let storage_dir = Path::new(default["url"].as_str().unwrap()).to_path_buf();
    for (name, len) in [("b.raw", 2048), ("a.raw", 1024), ("c.raw", 3072)] {
        let file = storage_dir.join(name);
        make_random(&file, len);
        server.add_image(&session, &file).await;
    }
    let query = |q: &'static str| {
        let server = &server;
        let session = session.clone();
        async move {
            let answer = server.authed(&session, Method::GET, q, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{q}: {answer:?}");
            answer.body
        }
    };
    let sizes = |body: &Value| -> Vec<i64> {
        body["inventories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["size"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        sizes(&query("/images?sort=-size").await),
        [3072, 2048, 1024]
    );
    assert_eq!(
        sizes(&query("/images?sort=%2Bsize&start=1&limit=1").await),
        [2048]
    );
    assert_eq!(
        sizes(&query("/images?q=size>1024&q=size<3072").await),
        [2048]
    );
    assert_eq!(
        sizes(&query("/images?q=size?=1024,3072&sort=%2Bsize").await),
        [1024, 3072]
    );
    assert_eq!(query("/images?count=true").await, json!({"total": 3}));
    let counted = query("/images?replyWithCount=true&limit=1").await;
    assert_eq!(
        (counted["total"].clone(), sizes(&counted).len()),
        (json!(3), 1)
    );
    let fields = query("/images?fields=uuid,size&limit=1").await;
    let keys: Vec<&String> = fields["inventories"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["size", "uuid"]);
    let newest_first = query("/images?sort=-createDate").await;
    assert_eq!(newest_first["inventories"][0]["size"], 3072);
    assert_eq!(
        query("/images?q=md5Sum%20is%20null").await["inventories"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Malformed parameters are the REST layer's 400; an unknown field is the API's SYS.1007.
    for bad in ["/images?limit=x", "/images?start=-1", "/images?q=size"] {
        let answer = server.authed(&session, Method::GET, bad, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {answer:?}");
    }
    let unknown = server
        .authed(&session, Method::GET, "/backup-storage?q=colour=red", None)
        .await;
    assert_eq!(unknown.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unknown.body["error"]["code"], "SYS.1007");
    server.stop().await;
}

#[tokio::test]
async fn transport_errors_are_plain_text_with_zstacks_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start(dir.path()).await;
    let session = server.login().await;
    let text = |answer: &Answer| answer.body.as_str().unwrap_or_default().to_string();

    let no_route = server.request(Method::GET, "/volumes", &[], None).await;
    assert_eq!(no_route.status, StatusCode::NOT_FOUND);
    assert_eq!(text(&no_route), "no api mapping to /zstack/v1/volumes");
    let wrong = server.request(Method::PATCH, "/images", &[], None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);

    let missing = server.request(Method::GET, "/images", &[], None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(text(&missing), "missing header 'Authorization'");
    let bearer = format!("Bearer {session}");
    let scheme = server
        .request(Method::GET, "/images", &[("Authorization", &bearer)], None)
        .await;
    assert_eq!(scheme.status, StatusCode::BAD_REQUEST);
    assert_eq!(text(&scheme), "Authorization type must be 'OAuth'");

    let uuid = "0123456789abcdef0123456789abcdef";
    let no_action = server
        .authed(
            &session,
            Method::PUT,
            &format!("/images/{uuid}/actions"),
            Some(json!({"exportImage": {}})),
        )
        .await;
    assert_eq!(no_action.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text(&no_action),
        format!("the body doesn't contain action mapping to the URL[/v1/images/{uuid}/actions]")
    );
    let auth = format!("OAuth {session}");
    let not_json = server
        .http
        .put(server.url("/accounts/login"))
        .header("Authorization", auth)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let too_big = server
        .http
        .put(server.url("/accounts/login"))
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // /metrics counts this front's requests by API and code.
    let url = format!("http://{}/metrics", server.rest);
    let metrics = server
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let logins = r#"imghash_requests_total{front="rest",api="LogInByAccount",code="OK"} 1"#;
    assert!(metrics.contains(logins), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn api_errors_are_503_with_zstacks_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start(dir.path()).await;
    let session = server.login().await;

    // ID.1000: a wrong password, synchronous.
    let body = json!({"logInByAccount": {"accountName": "admin", "password": "wrong"}});
    let wrong = server
        .request(Method::PUT, "/accounts/login", &[], Some(body))
        .await;
    assert_eq!(wrong.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(wrong.body["error"]["code"], "ID.1000");
    assert!(wrong.body["error"]["description"].is_string());
    assert!(wrong.body["error"]["details"]
        .as_str()
        .unwrap()
        .contains("Wrong account name or password"));

    // ID.1001: an unknown session; synchronous 503, asynchronous 202 then 503 on the poll.
    let stranger = "0123456789abcdef0123456789abcdef";
    let query = server.authed(stranger, Method::GET, "/images", None).await;
    assert_eq!(query.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(query.body["error"]["code"], "ID.1001");
    let storage = server.default_storage(&session).await;
    let storage = storage["uuid"].as_str().unwrap();
    let path = format!("/images/{stranger}/actions");
    let polled = server
        .run_async(
            stranger,
            Method::PUT,
            &path,
            Some(hash_body(storage, "md5")),
        )
        .await;
    assert_eq!(polled.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(polled.body["error"]["code"], "ID.1001");

    // SYS.1003: no such image; SYS.1007: a missing mandatory field.
    let missing = server
        .run_async(
            &session,
            Method::PUT,
            &path,
            Some(hash_body(storage, "md5")),
        )
        .await;
    assert_eq!(missing.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(missing.body["error"]["code"], "SYS.1003");
    assert!(missing.body["error"]["details"]
        .as_str()
        .unwrap()
        .contains(stranger));
    let body = json!({"calculateImageHash": {"algorithm": "md5"}});
    let invalid = server
        .run_async(&session, Method::PUT, &path, Some(body))
        .await;
    assert_eq!(invalid.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(invalid.body["error"]["code"], "SYS.1007");
    assert!(invalid.body["error"]["details"]
        .as_str()
        .unwrap()
        .contains("backupStorageUuid"));
    server.stop().await;
}
