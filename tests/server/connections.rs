//! The listener under a flood of connections that never send a request: the cap bounds
//! what the server holds, the handshake time-out closes them, and a real client still gets
//! served. Loopback only, bounded in count (200 sockets) and in time (every wait has a limit).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tonic::transport::Channel;

use crate::harness::*;

const CAP: usize = 64;
const FLOOD: usize = 200;

/// The client preface of HTTP/2 (RFC 9113 §3.4); a flood sends only its first half.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Connections to `port` that the server has accepted, from the kernel's table: a socket
/// still in the listen backlog has no inode (no descriptor) until `accept` takes it.
fn accepted_connections(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, state 01 = ESTABLISHED, inode.
            fields[1].ends_with(&local) && fields[3] == "01" && fields[9] != "0"
        })
        .count()
}

/// Samples [`accepted_connections`] until stopped; the most it saw.
fn sample_accepted(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let most = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            most.fetch_max(accepted_connections(port), Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
        }
        most.load(Ordering::SeqCst)
    })
}

/// Waits (at most 60 s, far above the 1 s time-out) for the server to close `socket`:
/// end of stream or a reset. Whatever the server sends first (an HTTP/2 SETTINGS or
/// GOAWAY frame) is read past.
async fn closed_by_server(mut socket: TcpStream) -> bool {
    let mut buf = [0u8; 256];
    let wait = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_ok()
}

async fn log_in_on_a_new_connection(addr: SocketAddr) -> Result<(), String> {
    let endpoint = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(60));
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    AccountServiceClient::new(channel)
        .log_in_by_account(LogInByAccountRequest {
            account_name: "admin".into(),
            password: ADMIN_PASSWORD.into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_is_capped_closed_after_the_handshake_timeout_and_a_new_client_is_served(
) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.connections.max_connections = CAP;
        c.connections.handshake_timeout = Duration::from_secs(1);
        c.connections.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_accepted(server.addr.port(), stop.clone());

    // Half say nothing at all, half stop in the middle of the HTTP/2 preface.
    let mut flood = Vec::new();
    for i in 0..FLOOD {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            socket.write_all(&PREFACE[..12]).await.unwrap();
        }
        flood.push(socket);
    }

    // A client arriving behind the whole flood is still served, once the time-outs have
    // made room (the flood is accepted CAP at a time).
    log_in_on_a_new_connection(server.addr)
        .await
        .expect("a new client logs in during the flood");

    let closed = futures_all(flood.into_iter().map(closed_by_server)).await;
    let still_open = closed.iter().filter(|c| !**c).count();
    assert_eq!(still_open, 0, "idle sockets the server never closed");

    stop.store(true, Ordering::SeqCst);
    let most = sampler.join().unwrap();
    assert!(
        most <= CAP,
        "the server held {most} connections at once, above the cap of {CAP}"
    );
    // It did accept up to the cap: the flood was really served, not refused.
    assert!(most > 1, "the server accepted {most} connections");
    assert!(server.healthy().await);
    server.stop().await;
}

/// Runs the futures concurrently, results in order.
async fn futures_all<F: std::future::Future<Output = bool> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<bool> {
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}
