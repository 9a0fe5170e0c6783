//! Floods a running `imghash serve` and reports its peak RSS: log-ins with huge account
//! names, or thousands of idle TCP connections.
//!
//! ```text
//! imghash serve --data-dir /tmp/d --admin-password x &
//! cargo run --release --example flood -- names --server-pid $! --count 300 --mib 3
//! cargo run --release --example flood -- idle --server-pid $! --count 19000 --hold 15
//! ```
//!
//! `names`: `--count` LogInByAccount calls, `--parallel` at a time, each with a unique name
//! of `--mib` MiB (the server must refuse them without keeping them). `idle`: `--count`
//! connections that never send a byte, held `--hold` seconds; connections the server has
//! not accepted wait in its listen backlog, and those beyond the backlog do not complete
//! within `--connect-timeout`. At the end a real client must still log in. The report: the
//! answers, the connections opened and closed by the server, and the server's VmHWM.

#[path = "load/rss.rs"]
mod rss;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::LogInByAccountRequest;
use rss::peak_rss_kib;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// Its pid, for its peak RSS (VmHWM).
    #[arg(long)]
    server_pid: u32,
    /// The admin password, for the final log-in.
    #[arg(long, env = "IMGHASH_ADMIN_PASSWORD", default_value = "x")]
    password: String,
    #[command(subcommand)]
    flood: Flood,
}

#[derive(Subcommand)]
enum Flood {
    /// Log-ins with huge unique account names.
    Names {
        #[arg(long, default_value_t = 300)]
        count: usize,
        #[arg(long, default_value_t = 3)]
        mib: usize,
        #[arg(long, default_value_t = 30)]
        parallel: usize,
    },
    /// Idle TCP connections.
    Idle {
        #[arg(long, default_value_t = 19_000)]
        count: usize,
        /// Seconds to hold them open.
        #[arg(long, default_value_t = 15)]
        hold: u64,
        /// Seconds a connect may take before it counts as not opened.
        #[arg(long, default_value_t = 3)]
        connect_timeout: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let before = peak_rss_kib(args.server_pid).context("no such server pid")?;
    println!("server VmHWM before: {:.1} MiB", before as f64 / 1024.0);
    match args.flood {
        Flood::Names {
            count,
            mib,
            parallel,
        } => names(&args.addr, count, mib, parallel).await?,
        Flood::Idle {
            count,
            hold,
            connect_timeout,
        } => idle(&args.addr, count, hold, connect_timeout).await,
    }
    let result = log_in(&args.addr, "admin".into(), &args.password).await;
    println!("a real log-in afterwards: {result:?}");
    let after = peak_rss_kib(args.server_pid).context("the server is gone")?;
    println!("server VmHWM after:  {:.1} MiB", after as f64 / 1024.0);
    Ok(())
}

async fn names(addr: &str, count: usize, mib: usize, parallel: usize) -> anyhow::Result<()> {
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut done = 0;
    while done < count {
        let batch = parallel.min(count - done);
        let calls: Vec<_> = (0..batch)
            .map(|i| {
                // Unique names: a prefix that differs, then filler.
                let mut name = format!("stranger-{}-", done + i);
                name.push_str(&"n".repeat(mib << 20));
                let addr = addr.to_string();
                tokio::spawn(async move { log_in(&addr, name, "guess").await })
            })
            .collect();
        for call in calls {
            let answer = match call.await? {
                Ok(()) => "OK".to_string(),
                Err(e) => e.chars().take(60).collect(),
            };
            *answers.entry(answer).or_default() += 1;
        }
        done += batch;
    }
    for (answer, n) in answers {
        println!("{n} x {answer}");
    }
    Ok(())
}

async fn idle(addr: &str, count: usize, hold: u64, connect_timeout: u64) {
    let connects: Vec<_> = (0..count)
        .map(|_| {
            let addr = addr.to_string();
            tokio::spawn(async move {
                let limit = Duration::from_secs(connect_timeout);
                tokio::time::timeout(limit, TcpStream::connect(addr))
                    .await
                    .ok()
                    .and_then(Result::ok)
            })
        })
        .collect();
    let mut sockets = Vec::new();
    for connect in connects {
        if let Ok(Some(socket)) = connect.await {
            sockets.push(socket);
        }
    }
    println!("{} of {count} connections opened", sockets.len());
    tokio::time::sleep(Duration::from_secs(hold)).await;
    // A socket the server closed reads end-of-stream (or a reset) at once.
    let mut closed = 0;
    for socket in &mut sockets {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(1), socket.read(&mut byte)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    println!(
        "{closed} of them closed by the server after {hold} s; {} still open",
        sockets.len() - closed
    );
}

async fn log_in(addr: &str, name: String, password: &str) -> Result<(), String> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(120))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    AccountServiceClient::new(channel)
        .log_in_by_account(LogInByAccountRequest {
            account_name: name,
            password: password.to_string(),
            ..Default::default()
        })
        .await
        .map(drop)
        .map_err(|status| status.message().to_string())
}
