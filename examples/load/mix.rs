//! The requests of the load: CalculateImageHash with the full deadline or a short one, failed
//! log-ins, and AddImage copies deleted while they run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imghash::grpc::proto::account_service_client::AccountServiceClient;
use imghash::grpc::proto::image_service_client::ImageServiceClient;
use imghash::grpc::proto::*;
use tonic::transport::Channel;
use tonic::Request;

use crate::stats::Stats;
use crate::Rng;

/// Algorithms asked for, and which known value each must return.
const ALGORITHMS: &[(&str, Expect)] = &[
    ("MD5", Expect::Md5),
    ("md5", Expect::Md5),
    ("", Expect::Md5),
    ("SHA256", Expect::Sha256),
    ("sha256", Expect::Sha256),
];

#[derive(Clone, Copy, Debug)]
enum Expect {
    Md5,
    Sha256,
}

/// An image of the load with its digests computed by the load tool.
pub struct TestImage {
    pub uuid: String,
    pub md5: String,
    pub sha256: String,
}

/// What every client shares.
pub struct Shared {
    pub images: Vec<TestImage>,
    pub session: String,
    pub storage: String,
    pub deadline: Instant,
    /// Per cent of hash calls made with a deadline of 1-20 ms (cancelled in flight).
    pub cancel_percent: usize,
    /// Per cent of calls that are log-ins with a wrong password.
    pub bad_login_percent: usize,
}

pub fn authed<T>(session: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("OAuth {session}").parse().expect("ascii"),
    );
    request
}

/// One client: hash calls (some with a short deadline) and failed log-ins until the end.
pub async fn client(channel: Channel, shared: Arc<Shared>) -> Stats {
    let mut images = ImageServiceClient::new(channel.clone());
    let mut accounts = AccountServiceClient::new(channel);
    let mut rng = Rng::new();
    let mut mine = Stats::default();
    while Instant::now() < shared.deadline {
        mine.requests += 1;
        if rng.below(100) < shared.bad_login_percent {
            bad_login(&mut accounts, &mut rng, &mut mine).await;
            continue;
        }
        let short = rng.below(100) < shared.cancel_percent;
        hash(&mut images, &shared, short, &mut rng, &mut mine).await;
    }
    mine
}

async fn hash(
    client: &mut ImageServiceClient<Channel>,
    shared: &Shared,
    short: bool,
    rng: &mut Rng,
    mine: &mut Stats,
) {
    let image = &shared.images[rng.below(shared.images.len())];
    let (algorithm, expect) = ALGORITHMS[rng.below(ALGORITHMS.len())];
    let mut request = authed(
        &shared.session,
        CalculateImageHashRequest {
            uuid: image.uuid.clone(),
            calculate_image_hash: Some(CalculateImageHashParams {
                backup_storage_uuid: shared.storage.clone(),
                algorithm: algorithm.into(),
                chunk_size: String::new(),
            }),
            ..Default::default()
        },
    );
    let kind = if short {
        request.set_timeout(Duration::from_millis(1 + rng.below(20) as u64));
        "hash, short deadline"
    } else {
        "hash"
    };
    let call = Instant::now();
    let result = client.calculate_image_hash(request).await;
    if !short {
        mine.latencies_us
            .push(u64::try_from(call.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    mine.outcome(kind, result.as_ref().map(drop));
    match result {
        Ok(response) => {
            let hash = response.into_inner().hash.unwrap_or_default();
            let wanted = match expect {
                Expect::Md5 => &image.md5,
                Expect::Sha256 => &image.sha256,
            };
            if &hash.value == wanted {
                mine.successes += 1;
                mine.bytes += hash.bytes;
            } else {
                mine.wrong_values += 1;
                eprintln!("WRONG {algorithm} of {}: {}", image.uuid, hash.value);
            }
        }
        Err(status) if status.code() == tonic::Code::ResourceExhausted => {
            // The server asks to come back later: do, a little later.
            tokio::time::sleep(Duration::from_millis(5 + rng.below(20) as u64)).await;
        }
        Err(_) => {}
    }
}

/// A log-in with a wrong password, as an unknown account (so the load does not lock the
/// admin out of this address): it must fail with ID.1000.
async fn bad_login(client: &mut AccountServiceClient<Channel>, rng: &mut Rng, mine: &mut Stats) {
    let result = client
        .log_in_by_account(LogInByAccountRequest {
            account_name: format!("load-stranger-{}", rng.below(1 << 30)),
            password: "not the password".into(),
            ..Default::default()
        })
        .await;
    mine.outcome("bad log-in", result.as_ref().map(drop));
    match result {
        Err(status) if crate::stats::zstack_code(&status) == "ID.1000" => mine.successes += 1,
        Err(_) => {}
        Ok(_) => {
            mine.wrong_values += 1;
            eprintln!("WRONG: a log-in with a wrong password succeeded");
        }
    }
}

/// Until the end: AddImage copies `source` (a sparse file) into the storage, and DeleteImage
/// removes the image as soon as it is listed (while it is being copied). Afterwards the
/// image must be gone: listed again would be a wrong value.
pub async fn copy_and_delete(channel: Channel, shared: Arc<Shared>, source: PathBuf) -> Stats {
    let mut client = ImageServiceClient::new(channel);
    let mut rng = Rng::new();
    let mut mine = Stats::default();
    while Instant::now() < shared.deadline {
        mine.requests += 1;
        let name = format!("load-copy-{}", rng.below(1 << 30));
        let add = {
            let mut client = client.clone();
            let request = authed(
                &shared.session,
                AddImageRequest {
                    name: name.clone(),
                    url: format!("file://{}", source.display()),
                    format: "raw".into(),
                    backup_storage_uuids: vec![shared.storage.clone()],
                    ..Default::default()
                },
            );
            tokio::spawn(async move { client.add_image(request).await })
        };
        let deleted = delete_when_listed(&mut client, &shared.session, &name).await;
        let added = add.await.expect("the AddImage task");
        mine.outcome("copy, then AddImage", added.as_ref().map(drop));
        mine.outcome("copy, DeleteImage", deleted.as_ref().map(drop));
        let left = query_by_name(&mut client, &shared.session, &name).await;
        if deleted.is_ok() && !left.is_empty() {
            mine.wrong_values += 1;
            eprintln!("WRONG: image {name} still listed after its DeleteImage succeeded");
        } else {
            mine.successes += 1;
        }
        // Whatever happened, leave nothing behind for the next round.
        for image in left {
            let _ = client
                .delete_image(authed(
                    &shared.session,
                    DeleteImageRequest { uuid: image.uuid },
                ))
                .await;
        }
    }
    mine
}

/// DeleteImage of the image named `name` once QueryImage lists it.
async fn delete_when_listed(
    client: &mut ImageServiceClient<Channel>,
    session: &str,
    name: &str,
) -> Result<(), tonic::Status> {
    for _ in 0..2000 {
        if let Some(image) = query_by_name(client, session, name).await.pop() {
            return client
                .delete_image(authed(session, DeleteImageRequest { uuid: image.uuid }))
                .await
                .map(drop);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(tonic::Status::not_found(format!("{name} was never listed")))
}

async fn query_by_name(
    client: &mut ImageServiceClient<Channel>,
    session: &str,
    name: &str,
) -> Vec<ImageInventory> {
    client
        .query_image(authed(
            session,
            QueryImageRequest {
                conditions: vec![format!("name={name}")],
                limit: 0,
            },
        ))
        .await
        .map(|r| r.into_inner().inventories)
        .unwrap_or_default()
}
