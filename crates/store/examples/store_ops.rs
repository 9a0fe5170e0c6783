//! Operations per second of the store on each back-end: a read (`get_session`, what every
//! authenticated call does) and a write transaction (`touch_session`), from 1 and from 8
//! threads at once.
//!
//! ```text
//! cargo run --release -p imghash-store --example store_ops               # SQLite only
//! IMGHASH_TEST_DATABASE_URL=postgres://… cargo run --release -p imghash-store --example store_ops
//! ```
//!
//! A measurement, not a test: the numbers depend on the machine and on what else runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use imghash_store::{new_uuid, Account, Session, Store, TestDatabase};

const RUN: Duration = Duration::from_secs(3);

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("bench.db")).unwrap();
    report("SQLite (file, WAL)", Arc::new(sqlite));
    if let Some(db) = TestDatabase::from_env() {
        let postgres = Store::connect(db.url()).unwrap();
        report("PostgreSQL (loopback)", Arc::new(postgres));
    }
}

fn report(name: &str, store: Arc<Store>) {
    let account = Account {
        uuid: new_uuid(),
        name: "admin".into(),
        password_hash: "x".into(),
        create_date: 0,
        last_op_date: 0,
    };
    store.add_account(&account).unwrap();
    let session = Session {
        uuid: new_uuid(),
        account_uuid: account.uuid.clone(),
        user_uuid: account.uuid,
        expired_date: i64::MAX / 2,
        create_date: 0,
    };
    store.add_session(&session).unwrap();
    for threads in [1, 8] {
        let uuid = Arc::new(session.uuid.clone());
        let id = uuid.clone();
        let reads = rate(&store, threads, move |s| {
            s.get_session(&id).unwrap();
        });
        let writes = rate(&store, threads, move |s| {
            s.touch_session(&uuid, 1, 1_000_000).unwrap();
        });
        println!(
            "{name}: {threads} thread(s): {reads:.0} reads/s, {writes:.0} write transactions/s"
        );
    }
}

/// Calls `op` from `threads` threads for [`RUN`]; calls per second in all.
fn rate(store: &Arc<Store>, threads: usize, op: impl Fn(&Store) + Clone + Send + 'static) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (store, op) = (store.clone(), op.clone());
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while started.elapsed() < RUN {
                    op(&store);
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let calls: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    calls as f64 / started.elapsed().as_secs_f64()
}
