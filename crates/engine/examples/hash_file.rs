//! Hashes a file in the background while showing its progress on stderr.
//!
//! ```text
//! cargo run --release -p imghash-engine --example hash_file -- disk.img [ALGORITHM...]
//! ```

use std::time::Duration;

use imghash_engine::{Algorithm, HashJob};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: hash_file FILE [ALGORITHM...]")?;
    let mut algorithms = args
        .map(|name| name.parse())
        .collect::<Result<Vec<Algorithm>, _>>()?;
    if algorithms.is_empty() {
        algorithms.push(Algorithm::Sha256);
    }
    let job = HashJob::new(algorithms)?;

    let mut handle = job.start_file(&path);
    let report = loop {
        // Ctrl-C drops the handle, which cancels the run: nothing keeps reading the file.
        if let Some(outcome) = handle.wait_timeout(Duration::from_millis(250)) {
            break outcome?;
        }
        let progress = handle.progress();
        match progress.total() {
            Some(total) if total > 0 => {
                eprint!("\r{:5.1}%", progress.done() as f64 * 100.0 / total as f64)
            }
            _ => eprint!("\r{} bytes", progress.done()),
        }
    };
    eprintln!("\rhashed {} bytes in {:.2?}", report.bytes, report.elapsed);
    for digest in &report.digests {
        println!("{:<20} {digest}", digest.algorithm);
    }
    Ok(())
}
