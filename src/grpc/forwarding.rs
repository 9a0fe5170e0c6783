//! The gRPC side of forwarding a call to another node: the application's requests back into
//! messages, and the owner's `Status` back into the [`ApiError`] it was made from.

use prost::Message as _;
use tonic::Code;

use super::proto;
use crate::app::{AddImage, ApiError, CalculateImageHash};

/// CalculateImageHash as the owner receives it.
pub fn calculate_image_hash(req: &CalculateImageHash) -> proto::CalculateImageHashRequest {
    proto::CalculateImageHashRequest {
        uuid: req.image_uuid.clone(),
        calculate_image_hash: Some(proto::CalculateImageHashParams {
            backup_storage_uuid: req.backup_storage_uuid.clone(),
            algorithm: req.algorithm.clone(),
            chunk_size: req.chunk_size.clone(),
            mode: req.mode.clone(),
        }),
        ..Default::default()
    }
}

/// AddImage as the owner receives it.
pub fn add_image(req: &AddImage) -> proto::AddImageRequest {
    proto::AddImageRequest {
        name: req.name.clone(),
        description: req.description.clone(),
        url: req.url.clone(),
        media_type: req.media_type.clone(),
        guest_os_type: req.guest_os_type.clone(),
        format: req.format.clone(),
        platform: req.platform.clone(),
        architecture: req.architecture.clone(),
        system: req.system,
        virtio: req.virtio,
        backup_storage_uuids: req.backup_storage_uuids.clone(),
        ..Default::default()
    }
}

/// The failure a server answered (see `status.rs`: the ZStack `ErrorCode` in the details),
/// or `None` when the status carries none (the connection failed, not the call).
pub fn api_error(status: &tonic::Status) -> Option<ApiError> {
    let envelope = super::status::RpcStatus::decode(status.details()).ok()?;
    let any = envelope
        .details
        .iter()
        .find(|any| any.type_url == super::status::ERROR_CODE_TYPE_URL)?;
    let code = proto::ErrorCode::decode(&any.value[..]).ok()?;
    let details = code.details;
    Some(match (status.code(), code.code.as_str()) {
        (Code::Unauthenticated, "ID.1000") => ApiError::WrongCredentials(details),
        (Code::Unauthenticated, _) => ApiError::InvalidSession(details),
        (Code::InvalidArgument, _) => ApiError::InvalidArgument(details),
        (Code::NotFound, _) => ApiError::NotFound(details),
        (Code::FailedPrecondition, _) => ApiError::FailedPrecondition(details),
        (Code::Unimplemented, _) => ApiError::Unsupported(details),
        (Code::ResourceExhausted, _) => ApiError::TooManyJobs(details),
        (Code::DataLoss, _) => ApiError::DataLoss(details),
        (Code::Unavailable, "SYS.1016") => ApiError::FileUnavailable(details),
        (Code::Unavailable, _) => ApiError::Unavailable(details),
        (Code::DeadlineExceeded, _) => ApiError::DeadlineExceeded(details),
        (Code::Cancelled, _) => ApiError::Cancelled(details),
        _ => ApiError::Internal(details),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_survives_the_trip_through_a_status() {
        for err in ApiError::one_of_each() {
            let status = tonic::Status::from(err.clone());
            assert_eq!(api_error(&status), Some(err));
        }
        assert_eq!(
            api_error(&tonic::Status::unavailable("connection reset")),
            None
        );
    }
}
