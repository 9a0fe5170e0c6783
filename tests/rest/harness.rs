//! A server with both fronts on 127.0.0.1:0 in a temp data dir, and REST helpers: log-in,
//! asynchronous calls polled to their end, images made and added over REST.

use std::path::{Path, PathBuf};
use std::time::Duration;

use imghash::rest::RestConfig;
use imghash::{run_fronts, DatabaseUrl, RestFront, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use tokio::sync::oneshot;

use crate::grpc_harness::ServerTask;
pub use crate::grpc_harness::{make_huge_sparse, make_random, reference_digest, ADMIN_PASSWORD};
use crate::inventory::Inventory;

/// A server running in this test's runtime, with its REST and gRPC addresses.
pub struct RestServer {
    pub rest: std::net::SocketAddr,
    pub grpc: std::net::SocketAddr,
    /// The SQLite file or PostgreSQL database the server keeps its inventory in.
    pub inventory: Inventory,
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` over TLS.
    origin: String,
    running: ServerTask,
}

/// The images of [`RestServer::huge_and_small`] and their storage, by uuid.
pub struct TwoImages {
    pub storage: String,
    pub huge: String,
    pub small: String,
    pub small_path: PathBuf,
}

/// An answer: status and body (JSON when it parses, else the text as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl RestServer {
    pub async fn start(dir: &Path) -> RestServer {
        Self::start_with(dir, |_| {}, |_| {}).await
    }

    pub async fn start_with(
        dir: &Path,
        server: impl FnOnce(&mut ServerConfig),
        rest: impl FnOnce(&mut RestConfig),
    ) -> RestServer {
        let data_dir = dir.join("data");
        let mut config = ServerConfig::new(&data_dir);
        let inventory = Inventory::for_dir(dir, &data_dir, None);
        config.database_url = inventory.database_url().map(DatabaseUrl::new);
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.hash_threads = Some(2);
        // As in the gRPC tests: sources and storages anywhere in the test's directory.
        config.import_roots = vec![dir.to_path_buf()];
        config.storage_roots = vec![dir.to_path_buf()];
        server(&mut config);
        // Over TLS the client trusts the server's certificate, issued for "localhost".
        let mut http = reqwest::Client::builder();
        if let Some(tls) = &config.tls {
            let ca = reqwest::Certificate::from_pem(&tls.cert_pem).unwrap();
            http = http.add_root_certificate(ca);
        }
        let mut rest_config = RestConfig::default();
        rest(&mut rest_config);
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rest_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_listener.local_addr().unwrap();
        let rest = rest_listener.local_addr().unwrap();
        let front = RestFront {
            listener: rest_listener,
            config: rest_config,
        };
        let config_tls = config.tls.is_some();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_fronts(config, grpc_listener, Some(front), async {
            let _ = stopped.await;
        }));
        let server = RestServer {
            rest,
            grpc,
            inventory,
            http: http.build().unwrap(),
            origin: match config_tls {
                true => format!("https://localhost:{}", rest.port()),
                false => format!("http://{rest}"),
            },
            running: ServerTask::new(stop, task),
        };
        // The port accepts connections before startup is done; an answer to a route that
        // needs the inventory says it is.
        loop {
            let probe = server
                .try_request(Method::GET, "/api-jobs/startup-probe", &[], None)
                .await;
            if probe.is_ok_and(|a| a.status == StatusCode::NOT_FOUND) {
                break;
            }
            assert!(
                !server.running.is_finished(),
                "server stopped during startup"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    /// `http://127.0.0.1:PORT/zstack/v1` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/zstack/v1{path}", self.origin)
    }

    /// A call with `headers` (`Authorization`, `X-Job-UUID`, …) and an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let sent = self.try_request(method, path, headers, body).await;
        sent.expect("the server answers")
    }

    async fn try_request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> reqwest::Result<Answer> {
        let mut request = self.http.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await?).await
    }

    /// A call with the session's `Authorization: OAuth <session>`.
    pub async fn authed(
        &self,
        session: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let auth = format!("OAuth {session}");
        self.request(method, path, &[("Authorization", &auth)], body)
            .await
    }

    /// Logs in as admin with the password's SHA-512 hex, as ZStack's SDKs send it.
    pub async fn login(&self) -> String {
        let body = json!({"logInByAccount": {"accountName": "admin",
            "password": sha512_hex(ADMIN_PASSWORD)}});
        let answer = self
            .request(Method::PUT, "/accounts/login", &[], Some(body))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        answer.body["inventory"]["uuid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// An asynchronous call submitted and polled until it ends: the final poll answer.
    pub async fn run_async(
        &self,
        session: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let submitted = self.authed(session, method, path, body).await;
        assert_eq!(submitted.status, StatusCode::ACCEPTED, "{submitted:?}");
        self.poll_to_end(&submitted).await
    }

    /// Polls the `location` of a 202 answer every 20 ms until it is not 202.
    pub async fn poll_to_end(&self, submitted: &Answer) -> Answer {
        let location = submitted.body["location"].as_str().expect("a location");
        loop {
            let polled = answer(self.http.get(location).send().await.unwrap())
                .await
                .unwrap();
            if polled.status != StatusCode::ACCEPTED {
                return polled;
            }
            assert_eq!(polled.body, json!({}), "a running job answers {{}}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The "default" backup storage's inventory.
    pub async fn default_storage(&self, session: &str) -> Value {
        let found = self
            .authed(session, Method::GET, "/backup-storage?q=name=default", None)
            .await;
        assert_eq!(found.status, StatusCode::OK, "{found:?}");
        found.body["inventories"][0].clone()
    }

    /// Adds the file at `path` on the default storage over REST; the image inventory.
    pub async fn add_image(&self, session: &str, path: &Path) -> Value {
        let storage = self.default_storage(session).await;
        let body = json!({"params": {"name": "test image", "format": "raw",
            "url": format!("file://{}", path.display()),
            "backupStorageUuids": [storage["uuid"]]}});
        let done = self
            .run_async(session, Method::POST, "/images", Some(body))
            .await;
        assert_eq!(done.status, StatusCode::OK, "{done:?}");
        done.body["inventory"].clone()
    }

    /// On the default storage: a Ready image of 256 GiB of holes (minutes of MD5) and a
    /// small random one.
    pub async fn huge_and_small(&self, session: &str) -> TwoImages {
        let storage = self.default_storage(session).await;
        let storage_dir = Path::new(storage["url"].as_str().unwrap()).to_path_buf();
        let huge_path = storage_dir.join("huge.raw");
        make_huge_sparse(&huge_path);
        let small_path = storage_dir.join("small.raw");
        make_random(&small_path, 3 << 20);
        let uuid = |image: Value| image["uuid"].as_str().unwrap().to_string();
        TwoImages {
            storage: uuid(storage),
            huge: uuid(self.add_image(session, &huge_path).await),
            small: uuid(self.add_image(session, &small_path).await),
            small_path,
        }
    }

    /// Every row of the inventory's resource tables (not the jobs), as text.
    pub fn inventory_dump(&self) -> Vec<String> {
        self.inventory.dump()
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

async fn answer(response: reqwest::Response) -> reqwest::Result<Answer> {
    let status = response.status();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer { status, body })
}

/// SHA-512 hex of a password, as ZStack's clients send it.
pub fn sha512_hex(text: &str) -> String {
    Sha512::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A CalculateImageHash body in ZStack's form.
pub fn hash_body(storage: &str, algorithm: &str) -> Value {
    json!({"calculateImageHash": {"backupStorageUuid": storage, "algorithm": algorithm}})
}
