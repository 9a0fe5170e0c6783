//! Writes a chunk manifest of a file through the chunk sink, then prints the root.
//!
//! ```text
//! cargo run --release -p imghash-engine --example manifest -- disk.img disk.manifest
//! ```
//!
//! The manifest (JSON lines, one per 4 MiB chunk) is streamed out while the file is hashed;
//! `imghash diff` compares two of them to locate damage. A write error (a full disk) stops
//! the job at once instead of hashing the rest of the image for nothing.

use std::fs::File;
use std::io::BufWriter;

use imghash_engine::manifest::ManifestWriter;
use imghash_engine::{Algorithm, HashJob};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        return Err("usage: manifest IMAGE MANIFEST".into());
    };
    let algorithm = Algorithm::MerkleSha256;
    let job = HashJob::new([algorithm])?;
    let chunk_size = job
        .chunk_size_of(algorithm)
        .expect("a chunked construction");

    let out = BufWriter::new(File::create(&output)?);
    let mut manifest = ManifestWriter::new(out, algorithm, chunk_size)?;
    let report = job.hash_file_with(&input, &mut manifest)?;
    let root = report.get(algorithm).expect("requested").value();
    manifest.finish(report.bytes, &root)?;
    println!("{root}  {input}  ({output})");
    Ok(())
}
