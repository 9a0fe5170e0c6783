//! The real `curl`, as a shell script would call ZStack: log-in, the body of ZStack's API
//! page for CalculateImageHash (its lower-case `calculateimagehash` key), polling.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

/// Runs curl with `args`; returns the HTTP status and the body.
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_runs_zstacks_api_page_example() {
    let dir = tempfile::tempdir().unwrap();
    let server = RestServer::start(dir.path()).await;
    let base = format!("http://{}/zstack/v1", server.rest);
    let password = sha512_hex(ADMIN_PASSWORD);
    let login =
        format!(r#"{{"logInByAccount":{{"accountName":"admin","password":"{password}"}}}}"#);
    let url = format!("{base}/accounts/login");
    let (status, body) = tokio::task::block_in_place(|| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "-d",
            &login,
            &url,
        ])
    });
    assert_eq!(status, 200, "{body}");
    let session = json(&body)["inventory"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();

    let storage = server.default_storage(&session).await;
    let file = Path::new(storage["url"].as_str().unwrap()).join("disk.raw");
    make_random(&file, 2 << 20);
    let image = server.add_image(&session, &file).await;
    let image = image["uuid"].as_str().unwrap();

    // ZStack's API page, with its lower-case key and tags at the top level.
    let page_body = format!(
        r#"{{"calculateimagehash":{{"backupStorageUuid":"{}","algorithm":"MD5"}},"systemTags":[],"userTags":[]}}"#,
        storage["uuid"].as_str().unwrap()
    );
    let auth = format!("Authorization: OAuth {session}");
    let url = format!("{base}/images/{image}/actions");
    let (status, body) = tokio::task::block_in_place(|| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json;charset=UTF-8",
            "-H",
            &auth,
            "-d",
            &page_body,
            &url,
        ])
    });
    assert_eq!(status, 202, "{body}");
    let location = json(&body)["location"].as_str().unwrap().to_string();
    let result = loop {
        let (status, body) = tokio::task::block_in_place(|| curl(&[&location]));
        if status != 202 {
            assert_eq!(status, 200, "{body}");
            break json(&body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let expected = reference_digest("md5sum", &file);
    assert_eq!(result["inventory"]["md5Sum"], expected.as_str());
    assert_eq!(result["hash"]["value"], expected.as_str());

    // curl against a route that does not exist: ZStack's plain-text 404.
    let url = format!("{base}/nothing");
    let (status, body) = tokio::task::block_in_place(|| curl(&[&url]));
    assert_eq!(
        (status, body.as_str()),
        (404, "no api mapping to /zstack/v1/nothing")
    );
    server.stop().await;
}
