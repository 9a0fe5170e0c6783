//! The server on PostgreSQL: the database ending a connection mid-request, a database that
//! refuses the password, several servers on one database. Skipped on SQLite.

use std::time::Duration;

use imghash_store::TestDatabase;

use crate::harness::*;

/// A plain client on the server's database (the tests hold locks and end sessions with it).
/// Connecting blocks, so it runs off the async threads.
async fn admin(database: &TestDatabase) -> postgres::Client {
    let url = database.url().to_owned();
    tokio::task::spawn_blocking(move || postgres::Client::connect(&url, postgres::NoTls).unwrap())
        .await
        .unwrap()
}

fn database_of(server: &TestServer) -> &TestDatabase {
    match &server.inventory {
        Inventory::Postgres(db) => db,
        Inventory::Sqlite(_) => unreachable!("on_postgres() was checked"),
    }
}

fn skipped() -> bool {
    if !on_postgres() {
        eprintln!("skipped: the suite runs on SQLite (IMGHASH_TEST_DATABASE_URL is not set)");
    }
    !on_postgres()
}

async fn query_default(server: &TestServer, session: &str) -> Result<(), tonic::Status> {
    server.default_storage_result(session).await.map(|_| ())
}

#[tokio::test]
async fn a_connection_ended_mid_request_is_sys_1006_unavailable_and_the_server_recovers() {
    if skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.login().await;
    let database = database_of(&server);
    let locker = admin(database).await;
    let watcher = admin(database).await;

    // The request waits on a lock in the database, and its connection is ended meanwhile,
    // as when the database restarts.
    let locker = tokio::task::spawn_blocking(move || {
        let mut locker = locker;
        locker
            .batch_execute("BEGIN; LOCK TABLE backup_storage IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locker
    })
    .await
    .unwrap();
    let request = query_default(&server, &session);
    let ender = tokio::task::spawn_blocking(move || {
        let mut watcher = watcher;
        loop {
            let ended = watcher
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'imghash' \
                     AND wait_event_type = 'Lock'",
                    &[],
                )
                .unwrap();
            if ended > 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let result = request.await;
    ender.await.unwrap();
    let status = assert_zstack_error(result, tonic::Code::Unavailable, "SYS.1006");
    assert!(status.message().contains("unavailable"), "{status:?}");
    tokio::task::spawn_blocking(move || drop(locker))
        .await
        .unwrap();

    query_default(&server, &session).await.unwrap();
    assert!(server.healthy().await);
    server.stop().await;
}

#[tokio::test]
async fn a_database_refusing_the_password_stops_startup_without_showing_it() {
    if skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::from_env().unwrap();
    let url = database.url();
    let (head, rest) = url.split_once("://").unwrap();
    let (_, host) = rest.rsplit_once('@').unwrap();
    let user = rest.split(':').next().unwrap();
    let wrong = format!("{head}://{user}:Not-The-Password-42@{host}");
    let mut config = imghash::ServerConfig::new(dir.path().join("data"));
    config.database_url = Some(imghash::DatabaseUrl::new(&wrong));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = imghash::run(config, listener, std::future::pending())
        .await
        .expect_err("startup fails");
    let text = format!("{err:#}");
    assert!(!text.contains("Not-The-Password-42"), "{text}");
    assert!(text.contains(&format!("{user}:***@")), "{text}");
}

#[tokio::test]
async fn two_servers_on_one_database_see_one_inventory() {
    if skipped() {
        return;
    }
    let database = shared_database().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two live servers on one inventory need two names.
    let named = |name: &str| {
        let name = name.to_string();
        move |c: &mut imghash::ServerConfig| c.node_name = name
    };
    let a = TestServer::start_on_database(dir_a.path(), database.clone(), named("a")).await;
    let b = TestServer::start_on_database(dir_b.path(), database, named("b")).await;
    let session_a = a.login().await;
    let storage_dir = dir_a.path().join("shared-storage");
    std::fs::create_dir(&storage_dir).unwrap();
    let added = a.add_local_storage(&session_a, &storage_dir).await;

    // B logs in with the account A made, and sees A's storage.
    let session_b = b.login().await;
    let seen = b.default_storage(&session_b).await;
    let listed = b.inventory_dump();
    assert!(
        listed.iter().any(|row| row.contains(&added.uuid)),
        "{listed:#?}"
    );
    assert_eq!(seen, a.default_storage(&session_a).await);
    assert_eq!(a.inventory_dump(), b.inventory_dump());
    a.stop().await;
    b.stop().await;
}
