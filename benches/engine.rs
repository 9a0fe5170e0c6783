//! Engine throughput, one criterion group per question:
//!
//! - `algorithm`: each algorithm on 64 MiB in memory, on 2 threads;
//! - `threads`: the parallel constructions on 1 and 2 threads;
//! - `chunk_size`: merkle-sha256 from 16 KiB to 16 MiB chunks (per-chunk overhead);
//! - `input_size`: from 4 KiB to 64 MiB, where splitting work over threads starts to pay
//!   (around 128 KiB).
//!
//! Run with `cargo bench --bench engine`; add `-- algorithm` to run one group. The first
//! line of the output names the CPU and its core count.

use std::io;
use std::sync::Arc;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use imghash_engine::{Algorithm, HashJob, Source, KIB, MIB};

/// An in-memory source, so the benches measure hashing rather than the page cache.
struct Memory(Vec<u8>);

impl Source for Memory {
    fn describe(&self) -> String {
        "memory".to_string()
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = (offset as usize).min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}

fn noise(len: usize) -> Memory {
    let mut state = 0x9e3779b97f4a7c15u64;
    Memory(
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect(),
    )
}

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap(),
    )
}

fn algorithm(c: &mut Criterion) {
    let data = noise(64 * MIB as usize);
    let pool = pool(2);
    let mut group = c.benchmark_group("algorithm");
    group.throughput(Throughput::Bytes(data.len()));
    for alg in Algorithm::ALL {
        let job = HashJob::builder([alg]).pool(pool.clone()).build().unwrap();
        group.bench_function(alg.name(), |b| b.iter(|| job.hash_source(&data).unwrap()));
    }
    let combo = HashJob::builder([Algorithm::Md5, Algorithm::Sha256, Algorithm::MerkleSha256])
        .pool(pool.clone())
        .build()
        .unwrap();
    group.bench_function("md5+sha256+merkle-sha256", |b| {
        b.iter(|| combo.hash_source(&data).unwrap())
    });
    group.finish();
}

fn threads(c: &mut Criterion) {
    let data = noise(64 * MIB as usize);
    let mut group = c.benchmark_group("threads");
    group.throughput(Throughput::Bytes(data.len()));
    for threads in [1, 2] {
        let pool = pool(threads);
        for alg in [
            Algorithm::MerkleSha256,
            Algorithm::Blake3,
            Algorithm::BlkhashSha256,
            Algorithm::S3Etag,
        ] {
            let job = HashJob::builder([alg]).pool(pool.clone()).build().unwrap();
            group.bench_with_input(BenchmarkId::new(alg.name(), threads), &job, |b, job| {
                b.iter(|| job.hash_source(&data).unwrap())
            });
        }
    }
    group.finish();
}

fn chunk_size(c: &mut Criterion) {
    let data = noise(64 * MIB as usize);
    let pool = pool(2);
    let mut group = c.benchmark_group("chunk_size");
    group.throughput(Throughput::Bytes(data.len()));
    for size in [16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB] {
        let job = HashJob::builder([Algorithm::MerkleSha256])
            .chunk_size(size)
            .pool(pool.clone())
            .build()
            .unwrap();
        group.bench_with_input(
            BenchmarkId::new("merkle-sha256", imghash_engine::format_size(size)),
            &job,
            |b, job| b.iter(|| job.hash_source(&data).unwrap()),
        );
    }
    group.finish();
}

fn input_size(c: &mut Criterion) {
    let pool = pool(2);
    let mut group = c.benchmark_group("input_size");
    for size in [4 * KIB, 32 * KIB, 128 * KIB, 512 * KIB, 4 * MIB, 64 * MIB] {
        let data = noise(size as usize);
        group.throughput(Throughput::Bytes(size));
        for alg in [
            Algorithm::Blake3,
            Algorithm::MerkleSha256,
            Algorithm::Sha256,
        ] {
            let mut settings = HashJob::builder([alg]).pool(pool.clone());
            if alg.is_chunked() {
                // Small chunks, so that even small inputs have several to share out.
                settings = settings.chunk_size(64 * KIB);
            }
            let job = settings.build().unwrap();
            group.bench_with_input(
                BenchmarkId::new(alg.name(), imghash_engine::format_size(size)),
                &job,
                |b, job| b.iter(|| job.hash_source(&data).unwrap()),
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = algorithm, threads, chunk_size, input_size
}
/// `criterion_main!` with a first line saying where the numbers were measured: they
/// compare only with numbers from the same CPU.
fn main() {
    let (model, cores) = imghash_engine::tuning::cpu();
    println!("cpu: {model}, {cores} cores");
    benches();
    Criterion::default().configure_from_args().final_summary();
}
