//! A service that runs hash jobs in the background on its own thread pool, watches them,
//! and cancels the one it no longer wants.
//!
//! ```text
//! cargo run --release -p imghash-engine --example service -- FILE...
//! ```
//!
//! Every file is hashed with MD5 and a Merkle tree on a pool the service owns (built with
//! the `rayon` the engine re-exports, so the versions always match). A last job reads an
//! endless stream; the service cancels it once the others are done.

use std::sync::Arc;
use std::time::Duration;

use imghash_engine::rayon::ThreadPoolBuilder;
use imghash_engine::{Algorithm, Error, HashJob};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let pool = ThreadPoolBuilder::new()
        .num_threads(2)
        .thread_name(|i| format!("service-hash-{i}"))
        .build()?;
    let job = HashJob::builder([Algorithm::Md5, Algorithm::MerkleSha256])
        .pool(Arc::new(pool))
        .build()?;

    let mut running: Vec<_> = files
        .iter()
        .map(|file| (file.clone(), job.start_file(file)))
        .collect();
    let endless = job.start_reader(std::io::repeat(0x5a));

    // A service's loop would poll between requests; here it polls until every file is done.
    while !running.is_empty() {
        running.retain_mut(|(file, handle)| match handle.try_wait() {
            None => true,
            Some(Ok(report)) => {
                for digest in &report.digests {
                    println!("{file}: {:<14} {digest}", digest.algorithm);
                }
                false
            }
            Some(Err(err)) => {
                eprintln!("{file}: {err}");
                false
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }

    let read = endless.progress().done();
    endless.cancel();
    match endless.wait() {
        Err(Error::Cancelled) => println!("endless stream: cancelled after {read} bytes or more"),
        other => println!("endless stream: unexpected {other:?}"),
    }
    // The job stays usable after a run was cancelled: each run has its own token.
    let report = job.start_reader(&b"abc"[..]).wait()?;
    println!("abc: md5 {}", report.digests[0]);
    Ok(())
}
