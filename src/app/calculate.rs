//! CalculateImageHash: resolve the request to the computation it names, look the target up
//! once, then check, hash and record inside one job that every identical request shares;
//! each waiter only renders the recorded result.

use std::path::PathBuf;
use std::sync::Arc;

use imghash_engine::{parse_chunk_size, Algorithm, HashJob, Report};
use imghash_store::{BackupStorage, CephSettings, HashRecord, Image, ImageRef, Store};
use tokio::time::Instant;

use super::error::{from_engine, ApiError};
use super::images::ImageView;
use super::jobs::Work;
use super::vocabulary::{ImageStatus, State, StorageType};
use super::{now_ms, validate, App};
use crate::ceph::{self, RbdInput};

pub use super::jobs::HashJobHandle;

/// CalculateImageHash, as ZStack's REST body has it (plus the chunk size extension).
#[derive(Clone, Debug, Default)]
pub struct CalculateImageHash {
    /// The image (REST path `{uuid}`).
    pub image_uuid: String,
    /// The backup storage whose copy is hashed (mandatory).
    pub backup_storage_uuid: String,
    /// Any case; empty means MD5.
    pub algorithm: String,
    /// With a unit (`4MiB`); empty means the algorithm's default.
    pub chunk_size: String,
}

/// What makes two requests the same computation: every field resolved, so that requests
/// that differ only in spelling (`MD5`/`md5`, no chunk size/the default one) share a job.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HashKey {
    /// The image.
    pub image_uuid: String,
    /// The backup storage whose copy is hashed.
    pub backup_storage_uuid: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The chunk size the algorithm uses (`None` for the standard digests).
    pub chunk_size: Option<u64>,
}

/// A hash as computed and recorded.
#[derive(Clone, Debug)]
pub struct ComputedHash {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The digest as its tools print it.
    pub value: String,
    /// The chunk size of a chunked construction.
    pub chunk_size: Option<u64>,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time of the computation.
    pub seconds: f64,
}

/// The result of a CalculateImageHash: the hash, and the image as recording it left it.
#[derive(Clone, Debug)]
pub struct HashOutcome {
    /// The image after the record (md5Sum, lastOpDate).
    pub image: ImageView,
    /// The hash.
    pub hash: ComputedHash,
}

impl HashKey {
    /// Checks the fields: uuids, the mandatory backup storage, the algorithm (default MD5,
    /// any case), and the chunk size (with a unit, only for algorithms that take one).
    pub fn resolve(req: &CalculateImageHash) -> Result<HashKey, ApiError> {
        let image_uuid = validate::uuid("uuid", &req.image_uuid)?;
        let backup_storage_uuid = validate::uuid(
            "calculateImageHash.backupStorageUuid",
            &req.backup_storage_uuid,
        )?;
        let algorithm = match req.algorithm.trim() {
            "" => Algorithm::Md5,
            name => name.parse::<Algorithm>().map_err(from_engine)?,
        };
        Ok(HashKey {
            image_uuid: image_uuid.to_string(),
            backup_storage_uuid: backup_storage_uuid.to_string(),
            algorithm,
            chunk_size: chunk_size_used(algorithm, &req.chunk_size)?,
        })
    }
}

/// The chunk size `algorithm` will use given the request's text, by the engine's rule
/// (`HashJobBuilder::build` refuses a size the algorithm cannot use: SYS.1007).
fn chunk_size_used(algorithm: Algorithm, text: &str) -> Result<Option<u64>, ApiError> {
    let mut settings = HashJob::builder([algorithm]);
    match text.trim() {
        "" => {}
        text => settings = settings.chunk_size(parse_chunk_size(text).map_err(from_engine)?),
    }
    let job = settings.build().map_err(from_engine)?;
    Ok(job.chunk_size_of(algorithm))
}

/// The bytes a job hashes: a Local storage's file, or a Ceph storage's RBD image.
enum Input {
    File { path: PathBuf, expected_len: i64 },
    Rbd(RbdInput),
}

impl App {
    /// Computes (or joins the computation of) the hash, waits for it until `deadline`.
    pub async fn calculate_image_hash(
        &self,
        req: &CalculateImageHash,
        deadline: Option<Instant>,
    ) -> Result<Arc<HashOutcome>, ApiError> {
        let handle = self.start_hash(req).await?;
        wait(&handle, deadline).await
    }

    /// Starts the job of the request, or joins the identical one in flight. Fails at once
    /// for a bad request, a missing image or storage, or a full queue.
    pub async fn start_hash(&self, req: &CalculateImageHash) -> Result<HashJobHandle, ApiError> {
        let key = HashKey::resolve(req)?;
        if let Some(joined) = self.jobs.join(&key) {
            return Ok(joined);
        }
        let input = self.hash_input(&key).await?;
        let store = self.store.clone();
        let job_key = key.clone();
        let work: Work = Box::new(move |job| {
            let report = input.hash(job)?;
            record(&store, &job_key, report)
        });
        self.jobs.submit(key, work)
    }

    /// Looks up image, storage and ref in one inventory round trip and says what to hash.
    async fn hash_input(&self, key: &HashKey) -> Result<Input, ApiError> {
        let lookup = key.clone();
        let (image, storage, image_ref, ceph) = self
            .db(move |store| {
                let image = store.get_image(&lookup.image_uuid)?;
                let storage = store.get_backup_storage(&lookup.backup_storage_uuid)?;
                let image_ref =
                    store.get_image_ref(&lookup.image_uuid, &lookup.backup_storage_uuid)?;
                let ceph = store.ceph_settings(&lookup.backup_storage_uuid)?;
                Ok((image, storage, image_ref, ceph))
            })
            .await?;
        let image = image.ok_or_else(|| not_found("image", &key.image_uuid))?;
        let storage =
            storage.ok_or_else(|| not_found("backup storage", &key.backup_storage_uuid))?;
        let image_ref = usable(&image, &storage, image_ref)?;
        match storage.storage_type.parse() {
            Ok(StorageType::Local) => Ok(Input::File {
                path: PathBuf::from(&image_ref.install_path),
                expected_len: image.actual_size,
            }),
            Ok(StorageType::Ceph) => Ok(Input::Rbd(rbd_input(
                self, &storage, ceph, &image_ref, &image,
            )?)),
            Err(_) => Err(ApiError::FailedPrecondition(format!(
                "Backup storage[uuid:{}] has type '{}', which imghash cannot read",
                storage.uuid, storage.storage_type
            ))),
        }
    }
}

/// The image's ref on the storage, if the image is Ready there and the storage Enabled.
fn usable(
    image: &Image,
    storage: &BackupStorage,
    image_ref: Option<ImageRef>,
) -> Result<ImageRef, ApiError> {
    let image_ref = image_ref.ok_or_else(|| {
        ApiError::FailedPrecondition(format!(
            "Image[uuid:{}] is not on backup storage[uuid:{}]",
            image.uuid, storage.uuid
        ))
    })?;
    if image.status.parse() != Ok(ImageStatus::Ready) {
        return Err(ApiError::FailedPrecondition(format!(
            "Image[uuid:{}] is {}, not {}",
            image.uuid,
            image.status,
            ImageStatus::Ready
        )));
    }
    if storage.state.parse() != Ok(State::Enabled) {
        return Err(ApiError::FailedPrecondition(format!(
            "Backup storage[uuid:{}] is {}",
            storage.uuid, storage.state
        )));
    }
    Ok(image_ref)
}

fn rbd_input(
    app: &App,
    storage: &BackupStorage,
    ceph: Option<CephSettings>,
    image_ref: &ImageRef,
    image: &Image,
) -> Result<RbdInput, ApiError> {
    let settings = ceph.ok_or_else(|| {
        ApiError::Internal(format!(
            "Backup storage[uuid:{}] is a Ceph storage without Ceph settings",
            storage.uuid
        ))
    })?;
    let expected_len = u64::try_from(image.actual_size).unwrap_or(0);
    ceph::rbd_input(
        &app.ceph,
        &storage.uuid,
        settings,
        &image_ref.install_path,
        expected_len,
    )
}

impl Input {
    /// Checks the input is still what was added, and hashes it. Blocks.
    fn hash(&self, job: &HashJob) -> Result<Report, ApiError> {
        match self {
            Input::File { path, expected_len } => {
                check_file(path, *expected_len)?;
                job.hash_file(path).map_err(from_engine)
            }
            Input::Rbd(rbd) => rbd.hash(job),
        }
    }
}

/// A missing file is UNAVAILABLE; one whose length differs from the recorded size is
/// DATA_LOSS (truncated or replaced), never a silently different digest.
fn check_file(path: &std::path::Path, expected_len: i64) -> Result<(), ApiError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let sentence = format!("Cannot read the image file {}: {e}", path.display());
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::FileUnavailable(sentence)
        } else {
            ApiError::DataLoss(sentence)
        }
    })?;
    if !meta.is_file() {
        return Err(ApiError::DataLoss(format!(
            "The image file {} is no longer a regular file",
            path.display()
        )));
    }
    let len = i64::try_from(meta.len()).unwrap_or(i64::MAX);
    if len != expected_len {
        return Err(ApiError::DataLoss(format!(
            "The image file {} is {len} bytes but was {expected_len} bytes when added; \
             it was truncated or replaced",
            path.display()
        )));
    }
    Ok(())
}

/// Records the hash once for every waiter: a hash record, and the image's md5Sum when
/// the algorithm is MD5 (ZStack writes any algorithm's value there, a bug we do not copy);
/// lastOpDate moves. Blocks.
fn record(store: &Store, key: &HashKey, report: Report) -> Result<HashOutcome, ApiError> {
    let digest = report
        .digests
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("the engine returned no digest".to_string()))?;
    let hash = ComputedHash {
        algorithm: digest.algorithm,
        value: digest.value(),
        chunk_size: digest.chunk_size,
        bytes: report.bytes,
        seconds: report.elapsed.as_secs_f64(),
    };
    let now = now_ms();
    let record = HashRecord {
        image_uuid: key.image_uuid.clone(),
        backup_storage_uuid: key.backup_storage_uuid.clone(),
        algorithm: hash.algorithm.name().to_string(),
        chunk_size: hash
            .chunk_size
            .map(|c| i64::try_from(c).unwrap_or(i64::MAX)),
        value: hash.value.clone(),
        bytes: i64::try_from(hash.bytes).unwrap_or(i64::MAX),
        seconds: hash.seconds,
        create_date: now,
    };
    let md5_sum = md5_sum_of(&hash);
    let image = store.record_hash(&record, md5_sum, now)?;
    let refs = store.image_refs(&image.uuid)?;
    Ok(HashOutcome {
        image: ImageView { image, refs },
        hash,
    })
}

/// What the image's md5Sum becomes: the value of a plain MD5, nothing else.
fn md5_sum_of(hash: &ComputedHash) -> Option<&str> {
    (hash.algorithm == Algorithm::Md5).then_some(hash.value.as_str())
}

fn not_found(kind: &str, uuid: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Cannot find {kind}[uuid:{uuid}], it may have been deleted"
    ))
}

/// Waits for the job, or answers SYS.1001 once the deadline passes (dropping the handle then
/// cancels the job if no other request waits for it).
pub async fn wait(
    handle: &HashJobHandle,
    deadline: Option<Instant>,
) -> Result<Arc<HashOutcome>, ApiError> {
    match deadline {
        None => handle.wait().await,
        Some(at) => tokio::time::timeout_at(at, handle.wait())
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::DeadlineExceeded(
                    "The deadline of the request passed before the hash was computed; the \
                     job was cancelled"
                        .to_string(),
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(algorithm: &str, chunk_size: &str) -> Result<HashKey, ApiError> {
        HashKey::resolve(&CalculateImageHash {
            image_uuid: "0123456789abcdef0123456789abcdef".into(),
            backup_storage_uuid: "fedcba9876543210fedcba9876543210".into(),
            algorithm: algorithm.into(),
            chunk_size: chunk_size.into(),
        })
    }

    #[test]
    fn the_default_chunk_size_and_its_spelling_make_one_key() {
        assert_eq!(
            key("merkle-sha256", "").unwrap(),
            key("MERKLE-SHA256", "4MiB").unwrap()
        );
        assert_eq!(key("merkle-sha256", "").unwrap().chunk_size, Some(4 << 20));
        assert_ne!(
            key("merkle-sha256", "").unwrap(),
            key("merkle-sha256", "1MiB").unwrap()
        );
        assert_eq!(
            key("glacier-sha256", "").unwrap(),
            key("glacier-sha256", "1MiB").unwrap()
        );
        assert_eq!(key("", "").unwrap(), key("MD5", " ").unwrap());
        assert_eq!(key("md5", "").unwrap().chunk_size, None);
    }

    #[test]
    fn a_chunk_size_the_algorithm_cannot_use_is_sys_1007() {
        for (algorithm, size) in [
            ("md5", "4MiB"),
            ("glacier-sha256", "4MiB"),
            ("sha256", "1MiB"),
        ] {
            let err = key(algorithm, size).unwrap_err();
            assert!(
                matches!(err, ApiError::InvalidArgument(_)),
                "{algorithm} {size}: {err}"
            );
        }
    }

    #[test]
    fn only_md5_makes_an_md5_sum() {
        let hash = |algorithm| ComputedHash {
            algorithm,
            value: "v".into(),
            chunk_size: None,
            bytes: 0,
            seconds: 0.0,
        };
        assert_eq!(md5_sum_of(&hash(Algorithm::Md5)), Some("v"));
        for other in [
            Algorithm::Sha256,
            Algorithm::S3Etag,
            Algorithm::MerkleSha256,
        ] {
            assert_eq!(md5_sum_of(&hash(other)), None);
        }
    }
}
