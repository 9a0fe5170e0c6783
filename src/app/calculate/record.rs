//! Recording a computed hash: once per job, whatever the number of waiters.

use imghash_engine::{Algorithm, Report};
use imghash_store::{HashRecord, Store};

use super::{ComputedHash, HashKey, HashMode, HashOutcome};
use crate::app::error::ApiError;
use crate::app::images::ImageView;
use crate::app::now_ms;

/// Records the hash once for every waiter: a hash record, and the image's md5Sum when
/// the algorithm is MD5 of the file (ZStack writes any algorithm's value there, a bug we do
/// not copy); lastOpDate moves. Blocks.
pub(super) fn record(
    store: &Store,
    key: &HashKey,
    report: Report,
) -> Result<HashOutcome, ApiError> {
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
        mode: key.mode,
    };
    let now = now_ms();
    let record = HashRecord {
        image_uuid: key.image_uuid.clone(),
        backup_storage_uuid: key.backup_storage_uuid.clone(),
        algorithm: hash.algorithm.name().to_string(),
        chunk_size: hash
            .chunk_size
            .map(|c| i64::try_from(c).unwrap_or(i64::MAX)),
        mode: hash.mode.name().to_string(),
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

/// The outcome another computation recorded for `key` (on another server, or through a
/// forwarded call): the recorded value, bytes and duration, and the image as it is now.
/// Blocks.
pub(crate) fn recorded(store: &Store, key: &HashKey) -> Result<HashOutcome, ApiError> {
    let gone = || {
        ApiError::NotFound(format!(
            "The hash of image[uuid:{}] on backup storage[uuid:{}] was computed, but the \
             image or its copy there has been deleted since",
            key.image_uuid, key.backup_storage_uuid
        ))
    };
    let chunk_size = key.chunk_size.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
    let record = store
        .hash_record(
            &key.image_uuid,
            &key.backup_storage_uuid,
            key.algorithm.name(),
            chunk_size,
            key.mode.name(),
        )?
        .ok_or_else(gone)?;
    let image = store.get_image(&key.image_uuid)?.ok_or_else(gone)?;
    let refs = store.image_refs(&key.image_uuid)?;
    let hash = ComputedHash {
        algorithm: key.algorithm,
        value: record.value,
        chunk_size: key.chunk_size,
        bytes: u64::try_from(record.bytes).unwrap_or(0),
        seconds: record.seconds,
        mode: key.mode,
    };
    Ok(HashOutcome {
        image: ImageView { image, refs },
        hash,
    })
}

/// What the image's md5Sum becomes: the value of a plain MD5 of the file (ZStack's
/// meaning), never of the disk it holds, nor of another algorithm.
fn md5_sum_of(hash: &ComputedHash) -> Option<&str> {
    let file_md5 = hash.algorithm == Algorithm::Md5 && hash.mode == HashMode::File;
    file_md5.then_some(hash.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_md5_of_the_file_makes_an_md5_sum() {
        let hash = |algorithm, mode| ComputedHash {
            algorithm,
            value: "v".into(),
            chunk_size: None,
            bytes: 0,
            seconds: 0.0,
            mode,
        };
        assert_eq!(md5_sum_of(&hash(Algorithm::Md5, HashMode::File)), Some("v"));
        assert_eq!(md5_sum_of(&hash(Algorithm::Md5, HashMode::Content)), None);
        for other in [
            Algorithm::Sha256,
            Algorithm::S3Etag,
            Algorithm::MerkleSha256,
        ] {
            assert_eq!(md5_sum_of(&hash(other, HashMode::File)), None);
        }
    }
}
