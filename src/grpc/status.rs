//! The one place where an [`ApiError`] becomes a `tonic::Status`.
//!
//! The message starts with the ZStack code ("SYS.1003: Cannot find image[uuid:…], it may
//! have been deleted") and the details carry the ZStack `ErrorCode` as a `google.rpc.Status`
//! holding one `google.protobuf.Any`, so that grpcurl prints it through reflection.

use prost::Message as _;
use tonic::Code;

use super::proto;
use crate::app::ApiError;

/// The type URL of [`proto::ErrorCode`] inside `google.protobuf.Any`.
pub const ERROR_CODE_TYPE_URL: &str = "type.googleapis.com/zstack.v1.ErrorCode";

/// The gRPC status code of each failure (the ZStack code alone is too coarse: SYS.1006
/// covers a precondition, a missing capability and a full queue).
pub fn grpc_code(err: &ApiError) -> Code {
    match err {
        ApiError::InvalidSession(_) | ApiError::WrongCredentials(_) => Code::Unauthenticated,
        ApiError::InvalidArgument(_) => Code::InvalidArgument,
        ApiError::NotFound(_) => Code::NotFound,
        ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
        ApiError::Unsupported(_) => Code::Unimplemented,
        ApiError::TooManyJobs(_) => Code::ResourceExhausted,
        ApiError::DataLoss(_) => Code::DataLoss,
        ApiError::FileUnavailable(_) | ApiError::Unavailable(_) => Code::Unavailable,
        ApiError::DeadlineExceeded(_) => Code::DeadlineExceeded,
        ApiError::Cancelled(_) => Code::Cancelled,
        ApiError::Internal(_) => Code::Internal,
    }
}

/// The ZStack `ErrorCode` message of a failure.
pub fn error_code(err: &ApiError) -> proto::ErrorCode {
    let (code, description) = err.zstack_code();
    proto::ErrorCode {
        code: code.to_string(),
        description: description.to_string(),
        details: err.details().to_string(),
        ..Default::default()
    }
}

/// `google.rpc.Status`, the standard envelope of `grpc-status-details-bin`
/// (declared here rather than pulled from a crate: three fields).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> tonic::Status {
        let (code, _) = err.zstack_code();
        let grpc_code = grpc_code(&err);
        let message = format!("{code}: {}", err.details());
        let envelope = RpcStatus {
            code: grpc_code as i32,
            message: message.clone(),
            details: vec![prost_types::Any {
                type_url: ERROR_CODE_TYPE_URL.to_string(),
                value: error_code(&err).encode_to_vec(),
            }],
        };
        tonic::Status::with_details(grpc_code, message, envelope.encode_to_vec().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_message_starts_with_the_zstack_code_and_details_decode() {
        let status = tonic::Status::from(ApiError::NotFound("Cannot find image[uuid:x]".into()));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "SYS.1003: Cannot find image[uuid:x]");
        let envelope = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(envelope.details[0].type_url, ERROR_CODE_TYPE_URL);
        let code = proto::ErrorCode::decode(&envelope.details[0].value[..]).unwrap();
        assert_eq!(code.code, "SYS.1003");
        assert_eq!(code.description, "Resource not found");
    }
}
