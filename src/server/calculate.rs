//! CalculateImageHash: request checks, the job, persistence and the response; shared by the
//! unary and the streaming RPC.

use std::path::PathBuf;
use std::time::Duration;

use imghash_engine::{format_size, parse_chunk_size, Algorithm, Report};
use imghash_store::{BackupStorage, HashRecord, ImageRef};
use tokio::time::Instant;
use tonic::metadata::MetadataMap;

use super::backup_storage::{CEPH, LOCAL};
use super::context::{now_ms, Context};
use super::error::ApiError;
use super::jobs::{JobHandle, JobInput, JobKey};
use super::{inventory, proto, validate};

/// A checked `CalculateImageHash` request.
#[derive(Clone, Debug)]
pub struct HashRequest {
    /// Image, storage, algorithm and chunk size: the identity of the computation.
    pub key: JobKey,
}

impl HashRequest {
    /// Checks the fields: uuids, the mandatory backup storage, the algorithm (default MD5,
    /// any case), and the chunk size (with a unit, only for algorithms that take one).
    pub fn parse(req: &proto::CalculateImageHashRequest) -> Result<HashRequest, ApiError> {
        let image_uuid = validate::uuid("uuid", &req.uuid)?;
        let params = req
            .calculate_image_hash
            .as_ref()
            .ok_or_else(|| ApiError::missing("calculateImageHash.backupStorageUuid"))?;
        let backup_storage_uuid = validate::uuid(
            "calculateImageHash.backupStorageUuid",
            &params.backup_storage_uuid,
        )?;
        let algorithm = if params.algorithm.trim().is_empty() {
            Algorithm::Md5
        } else {
            params
                .algorithm
                .parse::<Algorithm>()
                .map_err(super::error::from_engine)?
        };
        let chunk_size = match params.chunk_size.trim() {
            "" => None,
            text => {
                let size = parse_chunk_size(text).map_err(super::error::from_engine)?;
                let allowed = algorithm.has_selectable_chunk_size()
                    || algorithm.default_chunk_size() == Some(size);
                if !allowed {
                    return Err(ApiError::InvalidArgument(format!(
                        "Algorithm {algorithm} does not take a chunk size ('{text}' given)"
                    )));
                }
                Some(size)
            }
        };
        Ok(HashRequest {
            key: JobKey {
                image_uuid: image_uuid.to_string(),
                backup_storage_uuid: backup_storage_uuid.to_string(),
                algorithm,
                chunk_size,
            },
        })
    }
}

/// When the request's `grpc-timeout` passes, a little early so that our SYS.1001 answer
/// beats tonic's own timer (which would answer a bare CANCELLED).
pub fn deadline(metadata: &MetadataMap) -> Option<Instant> {
    let timeout = parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)?;
    let margin = (timeout / 20).min(Duration::from_millis(50));
    Some(Instant::now() + timeout - margin)
}

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Looks up the image's file (or RBD image) on the storage, checks a file is intact, and
/// starts (or joins) the job.
pub async fn start(ctx: &Context, request: &HashRequest) -> Result<JobHandle, ApiError> {
    let key = request.key.clone();
    let lookup = key.clone();
    let (image, storage, image_ref) = ctx
        .db(move |store| {
            let image = store.get_image(&lookup.image_uuid)?;
            let storage = store.get_backup_storage(&lookup.backup_storage_uuid)?;
            let image_ref = store.get_image_ref(&lookup.image_uuid, &lookup.backup_storage_uuid)?;
            Ok((image, storage, image_ref))
        })
        .await?;
    let image = image.ok_or_else(|| not_found("image", &key.image_uuid))?;
    let storage = storage.ok_or_else(|| not_found("backup storage", &key.backup_storage_uuid))?;
    let image_ref = image_ref.ok_or_else(|| {
        ApiError::FailedPrecondition(format!(
            "Image[uuid:{}] is not on backup storage[uuid:{}]",
            image.uuid, storage.uuid
        ))
    })?;
    if image.status != "Ready" {
        return Err(ApiError::FailedPrecondition(format!(
            "Image[uuid:{}] is {}, not Ready",
            image.uuid, image.status
        )));
    }
    if storage.state != "Enabled" {
        return Err(ApiError::FailedPrecondition(format!(
            "Backup storage[uuid:{}] is {}",
            storage.uuid, storage.state
        )));
    }
    let input = match storage.storage_type.as_str() {
        LOCAL => {
            let path = PathBuf::from(&image_ref.install_path);
            check_file(&path, image.actual_size)?;
            JobInput::File(path)
        }
        CEPH => rbd_input(ctx, &storage, &image_ref, image.actual_size).await?,
        other => {
            return Err(ApiError::FailedPrecondition(format!(
                "Backup storage[uuid:{}] has type '{other}', which imghash cannot read",
                storage.uuid
            )))
        }
    };
    ctx.jobs.submit(key, input)
}

/// The RBD image at a Ceph ref's install path. Connecting and opening it happen in the
/// job, so that identical requests share them and they wait for a run slot like any job.
#[cfg(feature = "ceph")]
async fn rbd_input(
    ctx: &Context,
    storage: &BackupStorage,
    image_ref: &ImageRef,
    expected_len: i64,
) -> Result<JobInput, ApiError> {
    let settings = super::ceph::rbd::settings_of(ctx, storage).await?;
    let spec: imghash_ceph::RbdSpec = image_ref
        .install_path
        .parse()
        .map_err(|e| super::error::from_ceph(&e))?;
    Ok(JobInput::Rbd(Box::new(super::ceph::rbd::RbdInput {
        clusters: ctx.ceph.clone(),
        storage_uuid: storage.uuid.clone(),
        settings,
        spec,
        expected_len: u64::try_from(expected_len).unwrap_or(0),
    })))
}

#[cfg(not(feature = "ceph"))]
async fn rbd_input(
    _ctx: &Context,
    _storage: &BackupStorage,
    _image_ref: &ImageRef,
    _expected_len: i64,
) -> Result<JobInput, ApiError> {
    Err(super::error::without_ceph())
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

fn not_found(kind: &str, uuid: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Cannot find {kind}[uuid:{uuid}], it may have been deleted"
    ))
}

/// Waits for the job, or answers SYS.1001 once the deadline passes (dropping the handle then
/// cancels the job if no other request waits for it).
pub async fn wait(handle: &JobHandle, deadline: Option<Instant>) -> Result<Report, ApiError> {
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

/// Records the hash (md5Sum only for MD5; lastOpDate moves) and builds the response.
pub async fn finish(
    ctx: &Context,
    request: &HashRequest,
    report: Report,
) -> Result<proto::CalculateImageHashResponse, ApiError> {
    let digest = report
        .digests
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("the engine returned no digest".to_string()))?;
    let seconds = report.elapsed.as_secs_f64();
    let record = HashRecord {
        image_uuid: request.key.image_uuid.clone(),
        backup_storage_uuid: request.key.backup_storage_uuid.clone(),
        algorithm: digest.algorithm.name().to_string(),
        chunk_size: digest.chunk_size.map(|c| c as i64),
        value: digest.value(),
        bytes: i64::try_from(report.bytes).unwrap_or(i64::MAX),
        seconds,
        create_date: now_ms(),
    };
    let hash = proto::ImageHash {
        algorithm: record.algorithm.clone(),
        value: record.value.clone(),
        chunk_size: digest.chunk_size.map(format_size).unwrap_or_default(),
        bytes: report.bytes,
        seconds,
    };
    let (image, refs) = ctx
        .db(move |store| {
            let image = store.record_hash(&record, now_ms())?;
            let refs = store.image_refs(&image.uuid)?;
            Ok((image, refs))
        })
        .await?;
    Ok(proto::CalculateImageHashResponse {
        success: true,
        error: None,
        inventory: Some(inventory::image(image, refs)),
        hash: Some(hash),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_parse() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }
}
