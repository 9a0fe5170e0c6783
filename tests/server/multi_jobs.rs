//! One computation across servers, on a Ceph storage (reachable from every server): the
//! same request on two servers at once is computed once, and when the server computing it
//! is killed (SIGKILL), another takes the job over and every waiter gets the right value.
//! Expected digests come from md5sum over the bytes the RBD image holds.

use std::path::Path;
use std::process::Command;

use imghash::grpc::proto::*;
use tokio_stream::StreamExt as _;

use crate::ceph::{ceph_conf, rbd, RbdImage};
use crate::harness::{authed, hash_request};
use crate::multi::{random_file, Node, Shared};

const MIB: u64 = 1 << 20;

/// An RBD image of `size` bytes: 1 MiB of random bytes, then zeros (unallocated, so the
/// cluster stores 1 MiB); and its MD5 by md5sum over the same bytes.
fn big_rbd_image(test: &str, dir: &Path, size: u64) -> (RbdImage, String) {
    let head = dir.join("head.raw");
    random_file(&head, MIB as usize);
    let image = RbdImage::import(test, &head, &[]);
    rbd(&[
        "resize",
        "--no-progress",
        "--size",
        &format!("{}M", size / MIB),
        &image.spec(),
    ]);
    let script = format!(
        "set -o pipefail; (cat '{}'; head -c {} /dev/zero) | md5sum",
        head.display(),
        size - MIB
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{script}");
    let md5 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (image, md5)
}

/// Adds a Ceph storage and the RBD image through `node`: (image uuid, storage uuid).
async fn add_on_ceph(node: &Node, session: &str, image: &RbdImage) -> (String, String) {
    let storage = AddCephBackupStorageRequest {
        name: "ceph".into(),
        pool_name: crate::ceph::POOL.into(),
        ceph_conf: ceph_conf().to_string_lossy().into_owned(),
        ..Default::default()
    };
    let storage = node
        .storages()
        .add_ceph_backup_storage(authed(session, storage))
        .await
        .unwrap()
        .into_inner()
        .inventory
        .unwrap();
    let add = AddImageRequest {
        name: "big".into(),
        url: image.url(),
        format: "raw".into(),
        backup_storage_uuids: vec![storage.uuid.clone()],
        ..Default::default()
    };
    let added = node.images().add_image(authed(session, add)).await.unwrap();
    (added.into_inner().inventory.unwrap().uuid, storage.uuid)
}

/// Starts the streaming hash on `node` and returns once it reported progress (so the
/// computation runs), with the rest of the stream.
async fn start_streaming(
    node: &Node,
    session: &str,
    image: &str,
    storage: &str,
) -> tonic::Streaming<CalculateImageHashEvent> {
    let request = authed(session, hash_request(image, storage, "md5"));
    let mut events = node
        .images()
        .calculate_image_hash_stream(request)
        .await
        .unwrap()
        .into_inner();
    while let Some(event) = events.next().await {
        if let Some(calculate_image_hash_event::Event::Progress(p)) = event.unwrap().event {
            if p.bytes_done > 0 {
                return events;
            }
        }
    }
    panic!("the hash ended before it reported progress");
}

/// The hash the unary call answers on `node`.
async fn hash_on(node: &Node, session: &str, image: &str, storage: &str) -> ImageHash {
    let request = authed(session, hash_request(image, storage, "md5"));
    let answer = node.images().calculate_image_hash(request).await;
    answer
        .unwrap_or_else(|e| panic!("on {}: {e:?}", node.name))
        .into_inner()
        .hash
        .unwrap()
}

/// The last event of a stream: the result.
async fn result_of(mut events: tonic::Streaming<CalculateImageHashEvent>) -> ImageHash {
    while let Some(event) = events.next().await {
        if let Some(calculate_image_hash_event::Event::Result(r)) = event.unwrap().event {
            return r.hash.unwrap();
        }
    }
    panic!("the stream ended without a result");
}

/// A test's servers (named `names`, the first adds the image) on one inventory, an RBD
/// image of `size` bytes on a Ceph storage, and its MD5 by md5sum.
struct Setup {
    nodes: Vec<Node>,
    session: String,
    image_uuid: String,
    storage: String,
    md5: String,
    _image: RbdImage,
    _shared: Shared,
}

async fn setup(test: &str, size: u64, names: &[&str]) -> Setup {
    let shared = Shared::new();
    let (image, md5) = big_rbd_image(test, shared.dir.path(), size);
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(Node::start(&shared, name).await);
    }
    let session = nodes[0].login().await;
    let (image_uuid, storage) = add_on_ceph(&nodes[0], &session, &image).await;
    Setup {
        nodes,
        session,
        image_uuid,
        storage,
        md5,
        _image: image,
        _shared: shared,
    }
}

#[tokio::test]
async fn the_same_request_on_two_servers_at_once_is_computed_once() {
    let t = setup("multi-once", 2048 * MIB, &["a", "b"]).await;
    let (a, b) = (&t.nodes[0], &t.nodes[1]);
    let (session, image_uuid, storage, md5) = (&t.session, &t.image_uuid, &t.storage, &t.md5);

    let on_a = start_streaming(a, session, image_uuid, storage).await;
    let on_b = hash_on(b, session, image_uuid, storage).await;
    let on_a = result_of(on_a).await;

    assert_eq!(&on_a.value, md5);
    assert_eq!(&on_b.value, md5);
    // One computation: b answered from the record a wrote, duration included.
    assert_eq!(on_a.seconds, on_b.seconds);
    assert_eq!(on_a.bytes, on_b.bytes);
    assert!(b.logged("another server computes this hash; waiting for it"));
    assert!(!a.logged("another server computes this hash"));
}

#[tokio::test]
async fn when_the_server_computing_is_killed_another_takes_over_and_every_waiter_gets_the_value() {
    let mut t = setup("multi-kill", 4096 * MIB, &["a", "b", "c"]).await;
    let (session, image_uuid, storage, md5) = (&t.session, &t.image_uuid, &t.storage, &t.md5);
    let _on_a = start_streaming(&t.nodes[0], session, image_uuid, storage).await;
    let (b, c) = (&t.nodes[1], &t.nodes[2]);
    let waiters = [b, c].map(|node| {
        let (session, image_uuid, storage) = (session.clone(), image_uuid.clone(), storage.clone());
        let client = node.images();
        let name = node.name.clone();
        tokio::spawn(async move {
            let request = authed(&session, hash_request(&image_uuid, &storage, "md5"));
            let mut client = client;
            let answer = client.calculate_image_hash(request).await;
            answer
                .unwrap_or_else(|e| panic!("on {name}: {e:?}"))
                .into_inner()
                .hash
                .unwrap()
        })
    });
    for node in [b, c] {
        node.wait_for_log("another server computes this hash; waiting for it")
            .await;
    }
    let took_over = "stopped renewing its lease; taking it over";
    let taken = |t: &Setup| t.nodes[1].logged(took_over) || t.nodes[2].logged(took_over);
    t.nodes[0].kill();

    let mut answers = Vec::new();
    for waiter in waiters {
        answers.push(waiter.await.unwrap());
    }
    for answer in &answers {
        assert_eq!(&answer.value, md5);
        assert_eq!(answer.bytes, 4096 * MIB);
    }
    // One of them took the job over, the other waited for it: one computation.
    assert_eq!(answers[0].seconds, answers[1].seconds);
    assert!(taken(&t));
}

#[tokio::test]
async fn when_every_caller_of_the_computing_server_leaves_a_waiter_elsewhere_takes_it_over() {
    let t = setup("multi-leave", 2048 * MIB, &["a", "b"]).await;
    let (a, b) = (&t.nodes[0], &t.nodes[1]);
    let on_a = start_streaming(a, &t.session, &t.image_uuid, &t.storage).await;
    let waiter = {
        let request = authed(&t.session, hash_request(&t.image_uuid, &t.storage, "md5"));
        let mut client = b.images();
        tokio::spawn(async move { client.calculate_image_hash(request).await })
    };
    b.wait_for_log("another server computes this hash; waiting for it")
        .await;
    // a's only caller goes away: a cancels its job and releases the lease.
    drop(on_a);
    a.wait_for_log("no request waits for the hash job any more")
        .await;

    let hash = waiter.await.unwrap().unwrap().into_inner().hash.unwrap();
    assert_eq!(hash.value, t.md5);
    assert!(b.logged("taking it over"));
}
