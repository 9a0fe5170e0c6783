//! Load test of the gRPC server: many concurrent clients calling CalculateImageHash.
//!
//! ```text
//! cargo run --release --example load -- --clients 64 --seconds 20
//! cargo run --release --example load -- --addr 127.0.0.1:50051 --password … --server-pid …
//! ```
//!
//! Without `--addr` the server runs in this process on 127.0.0.1:0 with a temporary data dir
//! and its default bounds (2 jobs at once, 16 queued). Random images (a few MiB to tens of
//! MiB) are added through AddImage; their MD5 and SHA-256 are computed here with the `md-5`
//! and `sha2` crates, independently of the engine. Then every client loops, calling
//! CalculateImageHash on a random image with a random algorithm, and checks each returned
//! value. The report: requests, successes, wrong values, errors by ZStack code, latency,
//! throughput (requests/s and MB/s of image bytes hashed per response), and the server's
//! peak RSS (VmHWM; with the in-process server that is this whole process).
//!
//! Reading the figures: MB/s counts the bytes of every successful response, but identical
//! concurrent requests (same image and algorithm; "", "md5" and "MD5" are the same) share
//! one computation, and the images sit in the page cache, so it exceeds what one read of the
//! disk could give. SYS.1006 RESOURCE_EXHAUSTED is the server's job bound (2 running + 16
//! queued by default) doing its work: those clients back off and retry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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
use tonic::Request;

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
    /// The admin password of the server at --addr.
    #[arg(long, env = "IMGHASH_ADMIN_PASSWORD", default_value = "load-test")]
    password: String,
    /// Pid of the server at --addr, for its peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Algorithms asked for, and which known value each must return.
const ALGORITHMS: &[(&str, Expect)] = &[
    ("MD5", Expect::Md5),
    ("md5", Expect::Md5),
    ("", Expect::Md5),
    ("SHA256", Expect::Sha256),
    ("sha256", Expect::Sha256),
];

#[derive(Clone, Copy, Debug)]
enum Expect {
    Md5,
    Sha256,
}

struct TestImage {
    uuid: String,
    md5: String,
    sha256: String,
}

#[derive(Default)]
struct Stats {
    requests: u64,
    successes: u64,
    wrong_values: u64,
    errors: BTreeMap<String, u64>,
    bytes: u64,
    latencies_us: Vec<u64>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.successes += other.successes;
        self.wrong_values += other.wrong_values;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.bytes += other.bytes;
        self.latencies_us.extend(other.latencies_us);
    }
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
    let storage = BackupStorageServiceClient::new(channel.clone())
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
        .context("no default backup storage")?
        .uuid;

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
    let images = Arc::new(images);
    let stats = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let channel = connect(&addr).await?;
        let (images, stats, session, storage) = (
            images.clone(),
            stats.clone(),
            session.clone(),
            storage.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut client = ImageServiceClient::new(channel);
            let mut rng = Rng::new();
            let mut mine = Stats::default();
            while Instant::now() < deadline {
                let image = &images[rng.below(images.len())];
                let (algorithm, expect) = ALGORITHMS[rng.below(ALGORITHMS.len())];
                let request = authed(
                    &session,
                    CalculateImageHashRequest {
                        uuid: image.uuid.clone(),
                        calculate_image_hash: Some(CalculateImageHashParams {
                            backup_storage_uuid: storage.clone(),
                            algorithm: algorithm.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                );
                let call = Instant::now();
                let result = client.calculate_image_hash(request).await;
                mine.requests += 1;
                mine.latencies_us
                    .push(u64::try_from(call.elapsed().as_micros()).unwrap_or(u64::MAX));
                match result {
                    Ok(response) => {
                        let hash = response.into_inner().hash.unwrap_or_default();
                        let wanted = match expect {
                            Expect::Md5 => &image.md5,
                            Expect::Sha256 => &image.sha256,
                        };
                        if &hash.value == wanted {
                            mine.successes += 1;
                            mine.bytes += hash.bytes;
                        } else {
                            mine.wrong_values += 1;
                            eprintln!("WRONG {algorithm} of {}: {}", image.uuid, hash.value);
                        }
                    }
                    Err(status) => {
                        let code = status
                            .message()
                            .split_once(':')
                            .map_or("(no ZStack code)", |(code, _)| code)
                            .to_string();
                        *mine
                            .errors
                            .entry(format!("{code} {:?}", status.code()))
                            .or_default() += 1;
                        if status.code() == tonic::Code::ResourceExhausted {
                            // The server asks to come back later: do, a little later.
                            tokio::time::sleep(Duration::from_millis(5 + rng.below(20) as u64))
                                .await;
                        }
                    }
                }
            }
            stats.lock().unwrap().merge(mine);
        }));
    }
    for client in clients {
        client.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut stats = std::mem::take(&mut *stats.lock().unwrap());

    stats.latencies_us.sort_unstable();
    let percentile = |p: f64| {
        let n = stats.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        stats.latencies_us[((n - 1) as f64 * p).round() as usize] as f64 / 1000.0
    };
    println!("elapsed:      {elapsed:.1} s");
    println!("requests:     {}", stats.requests);
    println!("successes:    {}", stats.successes);
    println!("wrong values: {}", stats.wrong_values);
    if stats.errors.is_empty() {
        println!("errors:       none");
    }
    for (code, n) in &stats.errors {
        println!("errors:       {n} x {code}");
    }
    println!(
        "throughput:   {:.1} requests/s, {:.1} successes/s, {:.1} MB/s hashed",
        stats.requests as f64 / elapsed,
        stats.successes as f64 / elapsed,
        stats.bytes as f64 / 1e6 / elapsed
    );
    println!(
        "latency:      p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(0.5),
        percentile(0.9),
        percentile(0.99),
        percentile(1.0)
    );
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

fn authed<T>(session: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("OAuth {session}").parse().expect("ascii"),
    );
    request
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `VmHWM` of a process, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// xorshift64*, seeded from the OS: enough to pick images and algorithms.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("random seed");
        Rng(u64::from_le_bytes(seed) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}
