//! Times CalculateImageHash calls against a running server, without a tool's start-up in
//! the measurement: log in once, add the image once, then time each call from request to
//! answer. Used by `scripts/bench-grpc` to compare the gRPC path with `imghash sum`.
//!
//! ```text
//! cargo run --release --example calculate_once -- --addr 127.0.0.1:50051 \
//!     --password secret --file /data/images/disk.raw --runs 5
//! ```
//!
//! Prints one line per call: the client's wall seconds, the server's own seconds (the
//! `hash.seconds` of the answer) and the value.

use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::backup_storage_service_client::BackupStorageServiceClient;
use imghash::grpc::proto::image_service_client::ImageServiceClient;
use imghash::grpc::proto::*;
use tonic::Request;

/// Times CalculateImageHash on one image.
#[derive(Parser, Debug)]
struct Args {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// The admin password.
    #[arg(long, env = "IMGHASH_ADMIN_PASSWORD")]
    password: String,
    /// The image file (inside the default storage it is registered in place).
    #[arg(long)]
    file: std::path::PathBuf,
    /// The algorithm.
    #[arg(long, default_value = "md5")]
    algorithm: String,
    /// `file` or `content`.
    #[arg(long, default_value = "file")]
    mode: String,
    /// Calls to time, one after the other.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn authed<T>(session: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("OAuth {session}").parse().expect("ASCII");
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = std::fs::canonicalize(&args.file).context("the image file")?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", args.addr))?
        .connect()
        .await
        .context("connect")?;
    let login = LogInByAccountRequest {
        account_name: "admin".into(),
        password: args.password.clone(),
        ..Default::default()
    };
    let session = AccountServiceClient::new(channel.clone())
        .log_in_by_account(login)
        .await?
        .into_inner()
        .inventory
        .context("no session")?
        .uuid;
    let query = QueryBackupStorageRequest {
        conditions: vec!["name=default".into()],
        limit: 1,
    };
    let storage = BackupStorageServiceClient::new(channel.clone())
        .query_backup_storage(authed(&session, query))
        .await?
        .into_inner()
        .inventories
        .pop()
        .context("no default backup storage")?
        .uuid;
    let mut images = ImageServiceClient::new(channel);
    let add = AddImageRequest {
        name: "timed".into(),
        url: format!("file://{}", file.display()),
        format: "raw".into(),
        backup_storage_uuids: vec![storage.clone()],
        ..Default::default()
    };
    let image = images
        .add_image(authed(&session, add))
        .await?
        .into_inner()
        .inventory
        .context("no inventory")?
        .uuid;
    for _ in 0..args.runs {
        let request = CalculateImageHashRequest {
            uuid: image.clone(),
            calculate_image_hash: Some(CalculateImageHashParams {
                backup_storage_uuid: storage.clone(),
                algorithm: args.algorithm.clone(),
                mode: args.mode.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let started = Instant::now();
        let answer = images
            .calculate_image_hash(authed(&session, request))
            .await?;
        let wall = started.elapsed().as_secs_f64();
        let hash = answer.into_inner().hash.context("no hash")?;
        println!("{wall:.3} {:.3} {}", hash.seconds, hash.value);
    }
    Ok(())
}
