//! Nodes and hash leases (several servers on one inventory): two `Store`s on one database, a
//! SQLite file as two servers on one host share it, or, when `IMGHASH_TEST_DATABASE_URL` is
//! set, a fresh PostgreSQL database.

use imghash_store::{
    new_uuid, ApiJob, ApiJobState, BackupStorage, HashLease, LeaseTaken, Node, Store, TestDatabase,
};

const T0: i64 = 1_700_000_000_000;
const TIMEOUT: i64 = 10_000;

struct Two {
    a: Store,
    b: Store,
    _dir: tempfile::TempDir,
    _db: Option<TestDatabase>,
}

fn two_servers() -> Two {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::from_env();
    let open = || match &db {
        Some(db) => Store::connect(db.url()).unwrap(),
        None => Store::open(&dir.path().join("inventory.db")).unwrap(),
    };
    let (a, b) = (open(), open());
    Two {
        a,
        b,
        _dir: dir,
        _db: db,
    }
}

/// Two servers, a and b, joined at `T0` with `capacity` each: their stores and nodes.
fn two_live_nodes(capacity: i64) -> (Two, Node, Node) {
    let s = two_servers();
    let (na, nb) = (node("a", capacity, T0), node("b", capacity, T0));
    s.a.join_nodes(&na, T0 - TIMEOUT).unwrap();
    s.b.join_nodes(&nb, T0 - TIMEOUT).unwrap();
    (s, na, nb)
}

fn node(name: &str, capacity: i64, at: i64) -> Node {
    Node {
        name: name.into(),
        advertise: Some("127.0.0.1:50051".into()),
        instance: new_uuid(),
        capacity,
        heartbeat_date: at,
    }
}

fn lease(key: &str, owner: &Node, now: i64) -> HashLease {
    HashLease {
        key: key.into(),
        computation: new_uuid(),
        node: owner.name.clone(),
        instance: owner.instance.clone(),
        state: "running".into(),
        error: None,
        expire_date: now + TIMEOUT,
    }
}

#[test]
fn a_name_held_by_a_live_node_is_refused_and_free_once_its_heartbeat_is_stale() {
    let s = two_servers();
    let first = node("n1", 4, T0);
    assert_eq!(s.a.join_nodes(&first, T0 - TIMEOUT).unwrap(), None);
    let second = node("n1", 4, T0 + 1);
    let holder = s.b.join_nodes(&second, T0 + 1 - TIMEOUT).unwrap();
    assert_eq!(holder.map(|n| n.instance), Some(first.instance.clone()));
    // The first beats, so it stays live; once it stops, the name is free.
    assert!(s.a.beat("n1", &first.instance, T0 + 5_000, 0).unwrap());
    let later = T0 + 5_000 + TIMEOUT;
    let second = node("n1", 4, later);
    assert_eq!(s.b.join_nodes(&second, later - TIMEOUT).unwrap(), None);
    // The first's heartbeat no longer lands: the row is the second's.
    assert!(!s.a.beat("n1", &first.instance, later + 1, 0).unwrap());
    assert_eq!(s.a.node("n1").unwrap().unwrap().instance, second.instance);
}

#[test]
fn one_server_takes_a_key_the_other_waits_and_takes_it_over_once_it_expires() {
    let (s, na, nb) = two_live_nodes(4);
    let mine = lease("k", &na, T0);
    let live = T0 - TIMEOUT;
    assert_eq!(
        s.a.take_hash_lease(&mine, T0, live, 1).unwrap(),
        LeaseTaken::Taken
    );
    let theirs = lease("k", &nb, T0);
    match s.b.take_hash_lease(&theirs, T0 + 1, live, 1).unwrap() {
        LeaseTaken::Held(held) => assert_eq!(held.computation, mine.computation),
        other => panic!("expected the key held by a, got {other:?}"),
    }
    // a's heartbeat renews its lease; without it the lease expires and b takes it over.
    s.a.beat("a", &na.instance, T0 + 1_000, T0 + 1_000 + TIMEOUT)
        .unwrap();
    let before_expiry = T0 + TIMEOUT + 999;
    assert!(matches!(
        s.b.take_hash_lease(&theirs, before_expiry, live, 1)
            .unwrap(),
        LeaseTaken::Held(_)
    ));
    let after_expiry = T0 + 1_000 + TIMEOUT;
    assert_eq!(
        s.b.take_hash_lease(&theirs, after_expiry, live, 1).unwrap(),
        LeaseTaken::Taken
    );
    // a's late end changes nothing; b's ends the computation.
    assert!(!s
        .a
        .end_hash_lease("k", &mine.computation, None, after_expiry)
        .unwrap());
    assert!(s
        .b
        .end_hash_lease("k", &theirs.computation, None, after_expiry)
        .unwrap());
    assert_eq!(s.a.hash_lease("k").unwrap().unwrap().state, "done");
}

#[test]
fn a_released_key_is_free_and_a_failure_is_kept_for_the_waiters() {
    let s = two_servers();
    let (na, nb) = (node("a", 4, T0), node("b", 4, T0));
    let live = T0 - TIMEOUT;
    let mine = lease("k", &na, T0);
    assert_eq!(
        s.a.take_hash_lease(&mine, T0, live, 1).unwrap(),
        LeaseTaken::Taken
    );
    s.a.release_hash_lease("k", &mine.computation).unwrap();
    let theirs = lease("k", &nb, T0);
    assert_eq!(
        s.b.take_hash_lease(&theirs, T0, live, 1).unwrap(),
        LeaseTaken::Taken
    );
    let error = Some(("DataLoss", "the file was truncated"));
    assert!(s
        .b
        .end_hash_lease("k", &theirs.computation, error, T0)
        .unwrap());
    let failed = s.a.hash_lease("k").unwrap().unwrap();
    assert_eq!(failed.state, "failed");
    assert_eq!(
        failed.error,
        Some(("DataLoss".into(), "the file was truncated".into()))
    );
    assert_eq!(s.a.delete_ended_hash_leases(T0).unwrap(), 1);
    assert_eq!(s.a.hash_lease("k").unwrap(), None);
}

#[test]
fn new_computations_stop_at_the_capacity_of_the_live_nodes() {
    let (s, na, nb) = two_live_nodes(1);
    let live = T0 - TIMEOUT;
    for key in ["k1", "k2"] {
        let l = lease(key, &na, T0);
        assert_eq!(
            s.a.take_hash_lease(&l, T0, live, 1).unwrap(),
            LeaseTaken::Taken
        );
    }
    let third = lease("k3", &nb, T0);
    assert_eq!(
        s.b.take_hash_lease(&third, T0, live, 1).unwrap(),
        LeaseTaken::Full
    );
    // A node leaving frees its leases.
    s.a.leave_nodes("a", &na.instance).unwrap();
    assert_eq!(s.b.node("a").unwrap(), None);
    assert_eq!(
        s.b.take_hash_lease(&third, T0, live, 1).unwrap(),
        LeaseTaken::Taken
    );
}

#[test]
fn local_storages_recorded_before_nodes_existed_go_to_the_first_node() {
    let s = two_servers();
    let local = storage("old", "Local");
    s.a.add_backup_storage(&local).unwrap();
    s.a.add_backup_storage(&storage("pool", "Ceph")).unwrap();
    assert_eq!(s.a.adopt_local_backup_storages("a").unwrap(), 1);
    assert_eq!(s.b.adopt_local_backup_storages("b").unwrap(), 0);
    assert_eq!(
        s.b.backup_storage_node(&local.uuid).unwrap().as_deref(),
        Some("a")
    );
    let added = storage("new", "Local");
    s.b.add_backup_storage(&added).unwrap();
    s.b.set_backup_storage_node(&added.uuid, "b").unwrap();
    assert_eq!(
        s.a.backup_storage_node(&added.uuid).unwrap().as_deref(),
        Some("b")
    );
    // The row goes with its storage.
    s.a.delete_backup_storage(&added.uuid).unwrap();
    assert_eq!(s.a.backup_storage_node(&added.uuid).unwrap(), None);
}

fn storage(name: &str, kind: &str) -> BackupStorage {
    BackupStorage {
        uuid: new_uuid(),
        name: name.into(),
        description: String::new(),
        storage_type: kind.into(),
        url: format!("/srv/{name}"),
        state: "Enabled".into(),
        status: "Connected".into(),
        total_capacity: 0,
        available_capacity: 0,
        create_date: T0,
        last_op_date: T0,
    }
}

/// Two live servers a and b, and running REST jobs of a, of b, of a node gone, and of no
/// node (from before nodes existed).
fn servers_with_running_jobs() -> Two {
    let (s, _, _) = two_live_nodes(4);
    let job = |uuid: &str| ApiJob {
        uuid: uuid.into(),
        api: "CalculateImageHash".into(),
        state: ApiJobState::Running,
        result: None,
        web_hook: None,
        create_date: T0,
        end_date: None,
    };
    for (uuid, node) in [("of-a", "a"), ("of-b", "b"), ("of-gone", "gone")] {
        s.a.add_api_job(&job(uuid)).unwrap();
        s.a.set_api_job_node(uuid, node).unwrap();
    }
    s.a.add_api_job(&job("of-nobody")).unwrap();
    s
}

#[test]
fn a_live_server_ends_the_rest_jobs_of_dead_nodes_never_its_own_or_a_live_ones() {
    let s = servers_with_running_jobs();
    let state = |uuid| s.b.get_api_job(uuid).unwrap().unwrap().state;
    let ended =
        s.a.fail_api_jobs_of_dead_nodes("{}", T0 + 1, "a", T0 - TIMEOUT)
            .unwrap();
    assert_eq!(ended, 1);
    assert_eq!(state("of-gone"), ApiJobState::Failed);
    for uuid in ["of-a", "of-b", "of-nobody"] {
        assert_eq!(state(uuid), ApiJobState::Running, "{uuid}");
    }
    // Later, with every heartbeat stale (a's own too): b's job ends, a's never by a.
    let later = T0 + 2 * TIMEOUT;
    let ended =
        s.a.fail_api_jobs_of_dead_nodes("{}", later, "a", later - TIMEOUT)
            .unwrap();
    assert_eq!(ended, 1);
    assert_eq!(state("of-b"), ApiJobState::Failed);
    assert_eq!(state("of-a"), ApiJobState::Running);
}

#[test]
fn a_starting_server_fails_its_own_and_dead_nodes_rest_jobs_never_a_live_ones() {
    let s = servers_with_running_jobs();
    // a restarts while b is live: a's job and the dead node's end; b's and the one of no
    // node (b may be running it) stay.
    let failed =
        s.a.fail_orphaned_api_jobs("{}", T0 + 1, "a", T0 - TIMEOUT)
            .unwrap();
    assert_eq!(failed, 2);
    let state = |uuid| s.b.get_api_job(uuid).unwrap().unwrap().state;
    assert_eq!(state("of-a"), ApiJobState::Failed);
    assert_eq!(state("of-gone"), ApiJobState::Failed);
    assert_eq!(state("of-b"), ApiJobState::Running);
    assert_eq!(state("of-nobody"), ApiJobState::Running);
    // Once b is down too, the rest end.
    let later = T0 + 2 * TIMEOUT;
    let failed =
        s.a.fail_orphaned_api_jobs("{}", later, "a", later - TIMEOUT)
            .unwrap();
    assert_eq!(failed, 2);
}
