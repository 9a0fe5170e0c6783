//! Hashes one RBD image with the library, the way another Rust service would embed it.
//!
//! `cargo run --release -p imghash-ceph --example rbd_sum -- ceph://POOL/IMAGE[@SNAP] [ALG...]`
//! (the cluster comes from `$CEPH_CONF` or /etc/ceph/ceph.conf, as client.admin).
//! `RBD_SUM_STRATEGY=inline|handoff|split-read|parallel` forces a read strategy, to
//! measure them on RBD (the engine's own choice is measured on memory).

use imghash_ceph::{Cluster, ClusterConfig, RbdSource, RbdSpec};
use imghash_engine::tuning::ReadStrategy;
use imghash_engine::{Algorithm, HashJob};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let spec: RbdSpec = args
        .next()
        .ok_or("usage: rbd_sum ceph://POOL/IMAGE[@SNAP] [ALGORITHM...]")?
        .parse()?;
    let mut algorithms = args
        .map(|a| a.parse())
        .collect::<Result<Vec<Algorithm>, _>>()?;
    if algorithms.is_empty() {
        algorithms.push(Algorithm::Md5);
    }
    let cluster = Cluster::connect(&ClusterConfig::default())?;
    let source = RbdSource::open(&cluster, &spec)?;
    let mut job = HashJob::builder(algorithms);
    if let Ok(name) = std::env::var("RBD_SUM_STRATEGY") {
        let strategy = ReadStrategy::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("unknown read strategy {name:?}"))?;
        job = job.read_strategy(strategy);
    }
    let report = job.build()?.hash_source(&source)?;
    for digest in &report.digests {
        println!("{} {}  {spec}", digest.algorithm, digest.value());
    }
    Ok(())
}
