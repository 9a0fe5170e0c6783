//! Load test of the gRPC server: many concurrent clients calling CalculateImageHash, mixed
//! with calls cancelled by short deadlines, failed log-ins, and copies deleted mid-way.
//!
//! ```text
//! cargo run --release --example load -- --clients 64 --seconds 20
//! cargo run --release --example load -- --cancel-percent 20 --bad-login-percent 10 --copiers 1
//! cargo run --release --example load -- --addr 127.0.0.1:50051 --password … --server-pid …
//! cargo run --release --example load -- --addr 127.0.0.1:50051 --also 127.0.0.1:50052 …
//! ```
//!
//! Without `--addr` the server runs in this process on 127.0.0.1:0 with a temporary data dir
//! and its default bounds (2 jobs at once, 16 queued). Random images (a few MiB to tens of
//! MiB) are added through AddImage; their MD5 and SHA-256 are computed here with the `md-5`
//! and `sha2` crates, independently of the engine. Then every client loops, calling
//! CalculateImageHash on a random image with a random algorithm, and checks each returned
//! value. Some calls carry a deadline of 1-20 ms (`--cancel-percent`): they must answer
//! the right value or a deadline error, never a wrong value. Some calls are log-ins with a
//! wrong password as unknown accounts (`--bad-login-percent`): they must fail with ID.1000.
//! `--copiers` tasks loop AddImage of a sparse `--copy-mib` file and DeleteImage of it while
//! it is copied: the image must be gone afterwards. After the run, files left in the storage
//! directory with no image are counted as orphans. The report: requests, successes, wrong
//! values, answers by kind and ZStack code, latency, throughput (requests/s and MB/s of
//! image bytes hashed per response), and the server's peak RSS (VmHWM; with the in-process
//! server that is this whole process).
//!
//! Reading the figures: MB/s counts the bytes of every successful response, but identical
//! concurrent requests (same image and algorithm; "", "md5" and "MD5" are the same) share
//! one computation, and the images sit in the page cache, so it exceeds what one read of the
//! disk could give. SYS.1006 RESOURCE_EXHAUSTED is the server's job bound (2 running + 16
//! queued by default) doing its work: those clients back off and retry.

mod mix;
mod rss;
mod stats;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::backup_storage_service_client::BackupStorageServiceClient;
use imghash::grpc::proto::image_service_client::ImageServiceClient;
use imghash::grpc::proto::*;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use tonic::transport::Channel;

use mix::{authed, Shared, TestImage};
use rss::peak_rss_kib;
use stats::Stats;

/// Many concurrent CalculateImageHash clients against one server.
#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients, each on its own connection.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long to run.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Images to create.
    #[arg(long, default_value_t = 16)]
    images: usize,
    /// Smallest image, MiB.
    #[arg(long, default_value_t = 2)]
    min_mib: usize,
    /// Largest image, MiB.
    #[arg(long, default_value_t = 32)]
    max_mib: usize,
    /// A running server to load instead of an in-process one (it must be able to read the
    /// image files this program writes to a temporary directory).
    #[arg(long)]
    addr: Option<String>,
    /// More servers sharing the inventory of --addr (repeatable): the clients are spread
    /// over --addr and these, round robin; images are added through --addr.
    #[arg(long, requires = "addr")]
    also: Vec<String>,
    /// The admin password of the server at --addr.
    #[arg(long, env = "IMGHASH_ADMIN_PASSWORD", default_value = "load-test")]
    password: String,
    /// Pid of the server at --addr, for its peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Per cent of hash calls with a deadline of 1-20 ms.
    #[arg(long, default_value_t = 0)]
    cancel_percent: usize,
    /// Per cent of calls that are log-ins with a wrong password.
    #[arg(long, default_value_t = 0)]
    bad_login_percent: usize,
    /// Tasks that loop AddImage of a sparse file and DeleteImage during its copy.
    #[arg(long, default_value_t = 0)]
    copiers: usize,
    /// Size of the sparse file the copiers add, MiB.
    #[arg(long, default_value_t = 64)]
    copy_mib: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.clients > 0 && args.images > 0,
        "need clients and images"
    );
    anyhow::ensure!(
        args.min_mib > 0 && args.min_mib <= args.max_mib,
        "bad sizes"
    );
    let work = tempfile::tempdir().context("temp dir")?;

    // The server: in this process unless --addr.
    let (addr, server_pid, stop) = match &args.addr {
        Some(addr) => (addr.clone(), args.server_pid, None),
        None => {
            let mut config = imghash::ServerConfig::new(work.path().join("data"));
            config.admin_password = Some(args.password.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?.to_string();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(imghash::run(config, listener, async {
                let _ = stopped.await;
            }));
            (addr, Some(std::process::id()), Some((stop, task)))
        }
    };
    let channel = connect(&addr).await?;
    let session = AccountServiceClient::new(channel.clone())
        .log_in_by_account(LogInByAccountRequest {
            account_name: "admin".into(),
            password: args.password.clone(),
            ..Default::default()
        })
        .await
        .context("log in")?
        .into_inner()
        .inventory
        .context("no session")?
        .uuid;
    let storage_inventory = BackupStorageServiceClient::new(channel.clone())
        .query_backup_storage(authed(
            &session,
            QueryBackupStorageRequest {
                conditions: vec!["name=default".into()],
                limit: 1,
            },
        ))
        .await?
        .into_inner()
        .inventories
        .pop()
        .context("no default backup storage")?;
    let storage = storage_inventory.uuid;
    let storage_dir = PathBuf::from(storage_inventory.url);

    // The images, with values computed here.
    let mut rng = Rng::new();
    let mut images = Vec::new();
    let mut total = 0usize;
    for i in 0..args.images {
        let len = (args.min_mib + rng.below(args.max_mib - args.min_mib + 1)) << 20;
        let mut data = vec![0u8; len];
        getrandom::fill(&mut data).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
        let path: PathBuf = work.path().join(format!("image-{i}.raw"));
        std::fs::write(&path, &data)?;
        let md5 = hex(&Md5::digest(&data));
        let sha256 = hex(&Sha256::digest(&data));
        let added = ImageServiceClient::new(channel.clone())
            .add_image(authed(
                &session,
                AddImageRequest {
                    name: format!("load-{i}"),
                    url: format!("file://{}", path.display()),
                    format: "raw".into(),
                    backup_storage_uuids: vec![storage.clone()],
                    ..Default::default()
                },
            ))
            .await
            .context("AddImage")?
            .into_inner()
            .inventory
            .context("no inventory")?;
        anyhow::ensure!(
            added.md5_sum.as_deref() == Some(md5.as_str()),
            "AddImage's md5Sum {:?} differs from {md5}",
            added.md5_sum
        );
        total += len;
        images.push(TestImage {
            uuid: added.uuid,
            md5,
            sha256,
        });
    }
    println!(
        "{} images, {:.1} MiB in all; {} clients for {} s against {addr}",
        images.len(),
        total as f64 / (1 << 20) as f64,
        args.clients,
        args.seconds
    );

    // The load.
    let shared = Arc::new(Shared {
        images,
        session,
        storage,
        deadline: Instant::now() + Duration::from_secs(args.seconds),
        cancel_percent: args.cancel_percent,
        bad_login_percent: args.bad_login_percent,
    });
    let sparse = work.path().join("sparse-source.raw");
    std::fs::File::create(&sparse)?.set_len(args.copy_mib << 20)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    let servers: Vec<&String> = std::iter::once(&addr).chain(&args.also).collect();
    for i in 0..args.clients {
        tasks.push(tokio::spawn(mix::client(
            connect(servers[i % servers.len()]).await?,
            shared.clone(),
        )));
    }
    for _ in 0..args.copiers {
        let (channel, shared) = (connect(&addr).await?, shared.clone());
        tasks.push(tokio::spawn(mix::copy_and_delete(
            channel,
            shared,
            sparse.clone(),
        )));
    }
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(task.await?);
    }
    stats.print(started.elapsed().as_secs_f64());
    let listed = ImageServiceClient::new(channel.clone())
        .query_image(authed(&shared.session, QueryImageRequest::default()))
        .await?
        .into_inner()
        .inventories;
    let known: HashSet<String> = listed.into_iter().map(|image| image.uuid).collect();
    match orphans(&storage_dir, &known) {
        Ok(n) => println!(
            "orphans:      {n} file(s) in {} with no image",
            storage_dir.display()
        ),
        Err(e) => println!("orphans:      unknown ({e})"),
    }
    match server_pid.and_then(peak_rss_kib) {
        Some(kib) => println!(
            "peak RSS:     {:.1} MiB (VmHWM of pid {}{})",
            kib as f64 / 1024.0,
            server_pid.unwrap_or(0),
            if args.addr.is_none() {
                ", server and clients in one process"
            } else {
                ""
            }
        ),
        None => println!("peak RSS:     unknown (pass --server-pid)"),
    }

    if let Some((stop, task)) = stop {
        let _ = stop.send(());
        task.await??;
    }
    anyhow::ensure!(stats.wrong_values == 0, "some values were wrong");
    Ok(())
}

async fn connect(addr: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {addr}"))
}

/// Files of `dir` that belong to no listed image (named `<uuid>.<format>`, or
/// `.<uuid>.tmp` while copied).
fn orphans(dir: &Path, known: &HashSet<String>) -> std::io::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let uuid = name.trim_start_matches('.').split('.').next().unwrap_or("");
        if !known.contains(uuid) {
            count += 1;
        }
    }
    Ok(count)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// xorshift64*, seeded from the OS: enough to pick images and algorithms.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Rng {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("random seed");
        Rng(u64::from_le_bytes(seed) | 1)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}
