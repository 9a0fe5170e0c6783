//! What only the PostgreSQL back-end has: servers migrating one database at once, a server
//! that goes away mid-statement, time-outs, the password kept out of errors. Runs when
//! `IMGHASH_TEST_DATABASE_URL` names a superuser URL of a cluster; skips otherwise.

use std::thread;

use imghash_store::{Account, Store, StoreError, TestDatabase, SCHEMA_VERSION};

fn database() -> Option<TestDatabase> {
    let db = TestDatabase::from_env();
    if db.is_none() {
        eprintln!("skipped: {} is not set", TestDatabase::ENV);
    }
    db
}

fn account(name: &str) -> Account {
    Account {
        uuid: imghash_store::new_uuid(),
        name: name.into(),
        password_hash: "$argon2id$…".into(),
        create_date: 1,
        last_op_date: 1,
    }
}

/// A plain client on the test database, for holding locks and ending sessions.
fn admin(db: &TestDatabase) -> postgres::Client {
    postgres::Client::connect(db.url(), postgres::NoTls).unwrap()
}

#[test]
fn servers_starting_at_once_migrate_one_database_once() {
    let Some(db) = database() else { return };
    let url = db.url().to_owned();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || Store::connect(&url).map(|s| s.schema_version()))
        })
        .collect();
    for start in starts {
        assert_eq!(start.join().unwrap().unwrap().unwrap(), SCHEMA_VERSION);
    }
    let applied = db
        .query_text("SELECT count(*)::text FROM imghash_schema_version")
        .unwrap();
    assert_eq!(applied, Some(SCHEMA_VERSION.to_string()));
}

/// Holds an exclusive lock on `account` until dropped, so that a store statement on it waits.
fn lock_accounts(db: &TestDatabase) -> postgres::Client {
    let mut locker = admin(db);
    locker
        .batch_execute("BEGIN; LOCK TABLE account IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    locker
}

/// Waits until a statement of the store waits on a lock in this database.
fn wait_for_a_blocked_store(watcher: &mut postgres::Client) {
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'imghash' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Ends the server sessions of stores on this database (those matching `and`, too).
fn end_store_sessions(client: &mut postgres::Client, and: &str) {
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'imghash' {and}"
    );
    client.execute(&sql, &[]).unwrap();
}

#[test]
fn a_connection_ended_mid_statement_is_unavailable_and_the_store_recovers() {
    let Some(db) = database() else { return };
    let store = Store::connect(db.url()).unwrap();
    let acc = account("admin");
    store.add_account(&acc).unwrap();

    let locker = lock_accounts(&db);
    let blocked = {
        let url = db.url().to_owned();
        let uuid = acc.uuid.clone();
        thread::spawn(move || {
            let store = Store::connect(&url).unwrap();
            store.get_account(&uuid)
        })
    };
    let mut watcher = admin(&db);
    wait_for_a_blocked_store(&mut watcher);
    end_store_sessions(&mut watcher, "AND wait_event_type = 'Lock'");
    let err = blocked.join().unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    let password = db
        .url()
        .split(':')
        .nth(2)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    assert!(!err.to_string().contains(password), "{err}");
    drop(locker);

    // The pooled connections of the first store were not touched; a new one serves too.
    assert_eq!(store.get_account(&acc.uuid).unwrap(), Some(acc.clone()));
    let again = Store::connect(db.url()).unwrap();
    assert_eq!(again.get_account(&acc.uuid).unwrap(), Some(acc));
}

#[test]
fn every_pooled_connection_ended_and_the_next_call_still_succeeds() {
    let Some(db) = database() else { return };
    let store = Store::connect(db.url()).unwrap();
    let acc = account("admin");
    store.add_account(&acc).unwrap();
    end_store_sessions(&mut admin(&db), "");
    assert_eq!(store.get_account(&acc.uuid).unwrap(), Some(acc));
}

#[test]
fn a_statement_past_its_time_out_is_unavailable() {
    let Some(db) = database() else { return };
    // The URL's own statement_timeout wins over the store's default of 30 s.
    let url = format!("{}?options=-c%20statement_timeout%3D200", db.url());
    let store = Store::connect(&url).unwrap();
    let _locker = lock_accounts(&db);
    let err = store.get_account("x").unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("statement timeout"), "{err}");
}

#[test]
fn a_wrong_password_is_reported_without_the_password() {
    let Some(db) = database() else { return };
    let url = db.url();
    let (head, rest) = url.split_once("://").unwrap();
    let (_, host) = rest.rsplit_once('@').unwrap();
    let user = rest.split(':').next().unwrap();
    let wrong = format!("{head}://{user}:not-the-Password-7@{host}");
    let err = Store::connect(&wrong).err().unwrap().to_string();
    assert!(!err.contains("not-the-Password-7"), "{err}");
    assert!(err.contains(&format!("{user}:***@")), "{err}");
    assert!(err.contains("password"), "{err}");
}

/// `sslmode` as libpq reads it. On a cluster with TLS (`scripts/postgres/start-postgres.sh`
/// makes one, its certificate issued for "localhost" by `ca.pem` beside it): verify-full
/// needs the name, verify-ca only the chain, neither takes an unknown issuer. Without TLS:
/// `require` does not fall back to plain text.
#[test]
fn tls_modes_are_honoured() {
    let Some(db) = database() else { return };
    let mut client = admin(&db);
    let ssl: String = client.query_one("SHOW ssl", &[]).unwrap().get(0);
    let url = db.url();
    let require = format!("{url}?sslmode=require");
    if ssl != "on" {
        let err = Store::connect(&require).err().unwrap();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
        eprintln!("verify-ca and verify-full not checked: the cluster has no TLS");
        return;
    }
    let cert: String = client.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    let ca = std::path::Path::new(&cert).with_file_name("ca.pem");
    assert!(ca.exists(), "{} (the cluster's CA)", ca.display());
    assert!(url.contains("@127.0.0.1:"), "{url}");
    let by_name = url.replacen("@127.0.0.1:", "@localhost:", 1);
    let root = format!("sslrootcert={}", ca.display());

    Store::connect(&require).unwrap();
    Store::connect(&format!("{by_name}?sslmode=verify-full&{root}")).unwrap();
    Store::connect(&format!("{url}?sslmode=verify-ca&{root}")).unwrap();
    for refused in [
        // 127.0.0.1 is not a name in the certificate.
        format!("{url}?sslmode=verify-full&{root}"),
        // The Mozilla roots do not know the test CA.
        format!("{by_name}?sslmode=verify-full"),
    ] {
        let err = Store::connect(&refused).err().unwrap();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
    }
}
