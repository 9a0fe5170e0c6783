//! Content mode on a Ceph storage: a qcow2 stored in an RBD image (`rbd import` of the
//! file), hashed as the disk it holds. The expected value is md5sum of `qemu-img convert
//! -O raw` of the same file; the file mode still equals `rbd export | md5sum`.

use crate::ceph::{add_rbd_image, ceph_server, export_digest, RbdImage};
use crate::content::{calculate, qcow2_and_its_disk, request_in_mode};
use crate::harness::*;

#[tokio::test]
async fn ceph_qcow2_in_rbd_hashes_in_content_mode_like_its_converted_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (qcow2, disk) = qcow2_and_its_disk(dir.path());
    let (server, session, storage) = ceph_server(&dir.path().join("server")).await;
    let rbd = RbdImage::import("content", &qcow2, &[]);
    let image = add_rbd_image(&server, &session, &storage.uuid, &rbd.url(), "qcow2")
        .await
        .unwrap();

    let request = request_in_mode(&image.uuid, &storage.uuid, "md5", "content");
    let answer = calculate(&server, &session, request).await.unwrap();
    let hash = answer.hash.unwrap();
    assert_eq!(hash.value, reference_digest("md5sum", &disk));
    assert_eq!(hash.mode, "content");
    assert_eq!(answer.inventory.unwrap().md5_sum, None);

    let request = request_in_mode(&image.uuid, &storage.uuid, "md5", "file");
    let answer = calculate(&server, &session, request).await.unwrap();
    let file_md5 = export_digest(&rbd.spec(), &["md5sum"]);
    assert_eq!(answer.hash.unwrap().value, file_md5);
    assert_eq!(answer.inventory.unwrap().md5_sum, Some(file_md5));
    server.stop().await;
}
