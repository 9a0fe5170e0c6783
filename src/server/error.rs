//! [`ApiError`]: every way a call can fail, with its ZStack error code and gRPC status.
//!
//! This is the one place where failures become `tonic::Status`: the message starts with the
//! ZStack code ("SYS.1003: Cannot find image[uuid:…], it may have been deleted") and the
//! details carry the ZStack `ErrorCode` as a `google.rpc.Status` holding one
//! `google.protobuf.Any`, so that grpcurl prints it through reflection.

use imghash_store::StoreError;
use prost::Message as _;
use tonic::Code;

use super::proto;

/// Longest `details` sent to a client, in bytes (see [`ApiError::details`]).
pub const MAX_DETAILS: usize = 1024;

/// The type URL of [`proto::ErrorCode`] inside `google.protobuf.Any`.
pub const ERROR_CODE_TYPE_URL: &str = "type.googleapis.com/zstack.v1.ErrorCode";

/// A failed call. Each variant holds the specific sentence (ZStack's `details`); the variant
/// decides the ZStack code, its fixed description, and the gRPC status code.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Missing, malformed, unknown, expired or logged-out session (ID.1001).
    #[error("{0}")]
    InvalidSession(String),
    /// Wrong account name or password (ID.1000).
    #[error("{0}")]
    WrongCredentials(String),
    /// Missing mandatory field, malformed uuid, unknown algorithm, bad chunk size (SYS.1007).
    #[error("{0}")]
    InvalidArgument(String),
    /// The image or backup storage does not exist (SYS.1003).
    #[error("{0}")]
    NotFound(String),
    /// The image is not on that backup storage, or a resource is not usable (SYS.1006).
    #[error("{0}")]
    FailedPrecondition(String),
    /// This server cannot do that at all: it was built without the feature (the Ceph
    /// backup storage without the `ceph` cargo feature) (SYS.1006, UNIMPLEMENTED).
    #[error("{0}")]
    Unsupported(String),
    /// Too many hash jobs running and queued (SYS.1006, RESOURCE_EXHAUSTED).
    #[error("{0}")]
    TooManyJobs(String),
    /// The image file is truncated, changed or unreadable (SYS.1016, DATA_LOSS).
    #[error("{0}")]
    DataLoss(String),
    /// The image file is missing (SYS.1016, UNAVAILABLE).
    #[error("{0}")]
    FileUnavailable(String),
    /// The request's deadline passed (SYS.1001).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The job was cancelled (client gone or server shutting down) (SYS.1017).
    #[error("{0}")]
    Cancelled(String),
    /// Anything else (SYS.1000); the details are logged, not hidden.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The ZStack code, its fixed description, and the gRPC status code.
    pub fn classify(&self) -> (&'static str, &'static str, Code) {
        match self {
            ApiError::InvalidSession(_) => (
                "ID.1001",
                "Invalid or expired session",
                Code::Unauthenticated,
            ),
            ApiError::WrongCredentials(_) => {
                ("ID.1000", "Authentication error", Code::Unauthenticated)
            }
            ApiError::InvalidArgument(_) => ("SYS.1007", "Invalid argument", Code::InvalidArgument),
            ApiError::NotFound(_) => ("SYS.1003", "Resource not found", Code::NotFound),
            ApiError::FailedPrecondition(_) => {
                ("SYS.1006", "Operation failure", Code::FailedPrecondition)
            }
            ApiError::Unsupported(_) => ("SYS.1006", "Operation failure", Code::Unimplemented),
            ApiError::TooManyJobs(_) => ("SYS.1006", "Operation failure", Code::ResourceExhausted),
            ApiError::DataLoss(_) => ("SYS.1016", "I/O error", Code::DataLoss),
            ApiError::FileUnavailable(_) => ("SYS.1016", "I/O error", Code::Unavailable),
            ApiError::DeadlineExceeded(_) => {
                ("SYS.1001", "Operation timeout", Code::DeadlineExceeded)
            }
            ApiError::Cancelled(_) => ("SYS.1017", "Operation cancelled", Code::Cancelled),
            ApiError::Internal(_) => (
                "SYS.1000",
                "An internal error happened in the system",
                Code::Internal,
            ),
        }
    }

    /// The specific sentence (ZStack's `details`), cut to [`MAX_DETAILS`] bytes.
    ///
    /// Sentences quote request fields, and the message and details travel in HTTP/2
    /// headers (`grpc-message`, `grpc-status-details-bin`): a 10 KiB uuid quoted in full made
    /// the headers exceed the client's 16 KiB header list limit, and the client saw an
    /// `h2 protocol error` instead of SYS.1007.
    pub fn details(&self) -> &str {
        let full = self.full_details();
        if full.len() <= MAX_DETAILS {
            return full;
        }
        let mut end = MAX_DETAILS;
        while !full.is_char_boundary(end) {
            end -= 1;
        }
        &full[..end]
    }

    fn full_details(&self) -> &str {
        match self {
            ApiError::InvalidSession(d)
            | ApiError::WrongCredentials(d)
            | ApiError::InvalidArgument(d)
            | ApiError::NotFound(d)
            | ApiError::FailedPrecondition(d)
            | ApiError::Unsupported(d)
            | ApiError::TooManyJobs(d)
            | ApiError::DataLoss(d)
            | ApiError::FileUnavailable(d)
            | ApiError::DeadlineExceeded(d)
            | ApiError::Cancelled(d)
            | ApiError::Internal(d) => d,
        }
    }

    /// The ZStack `ErrorCode` message for this error.
    pub fn error_code(&self) -> proto::ErrorCode {
        let (code, description, _) = self.classify();
        proto::ErrorCode {
            code: code.to_string(),
            description: description.to_string(),
            details: self.details().to_string(),
            ..Default::default()
        }
    }

    /// A missing mandatory field.
    pub fn missing(field: &str) -> ApiError {
        ApiError::InvalidArgument(format!("Missing mandatory field '{field}'"))
    }
}

/// `google.rpc.Status`, the standard envelope of `grpc-status-details-bin`
/// (declared here rather than pulled from a crate: three fields).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> tonic::Status {
        let (code, _, grpc_code) = err.classify();
        let message = format!("{code}: {}", err.details());
        let envelope = RpcStatus {
            code: grpc_code as i32,
            message: message.clone(),
            details: vec![prost_types::Any {
                type_url: ERROR_CODE_TYPE_URL.to_string(),
                value: err.error_code().encode_to_vec(),
            }],
        };
        tonic::Status::with_details(grpc_code, message, envelope.encode_to_vec().into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        let sentence = capitalise(&err.to_string());
        match err {
            StoreError::NotFound { .. } => ApiError::NotFound(sentence),
            StoreError::NotOnBackupStorage { .. } | StoreError::InUse { .. } => {
                ApiError::FailedPrecondition(sentence)
            }
            StoreError::Duplicate { .. } | StoreError::InvalidCondition(_) => {
                ApiError::InvalidArgument(sentence)
            }
            _ => {
                tracing::error!(error = %err, "inventory failure");
                ApiError::Internal(sentence)
            }
        }
    }
}

/// Maps a hashing failure of the file at an image's install path.
pub fn from_engine(err: imghash_engine::Error) -> ApiError {
    use imghash_engine::Error as E;
    let sentence = capitalise(&err.to_string());
    match err {
        E::UnknownAlgorithm { .. }
        | E::InvalidChunkSize { .. }
        | E::InvalidSetting { .. }
        | E::InvalidRequest(_) => ApiError::InvalidArgument(sentence),
        E::Open { ref error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
            ApiError::FileUnavailable(sentence)
        }
        E::Open { .. } | E::Read { .. } | E::Changed { .. } => ApiError::DataLoss(sentence),
        E::Cancelled => ApiError::Cancelled("The hash job was cancelled".to_string()),
        _ => {
            tracing::error!(error = %err, "hashing failure");
            ApiError::Internal(sentence)
        }
    }
}

/// Maps a failure of the Ceph cluster or of opening an RBD image (the image and pool are
/// named in the sentence):
/// - the cluster unreachable, a request timed out, the pool missing, or an image layout
///   that cannot be hashed in place: SYS.1006 FAILED_PRECONDITION (the storage is unusable);
/// - the image or snapshot missing: SYS.1003 NOT_FOUND;
/// - a malformed `ceph://` address: SYS.1007;
/// - any other failed request to the cluster: SYS.1016 UNAVAILABLE (a network storage's
///   failures are usually transient, unlike a local file's).
#[cfg(feature = "ceph")]
pub fn from_ceph(err: &imghash_ceph::CephError) -> ApiError {
    use imghash_ceph::ErrorKind;
    let sentence = capitalise(&err.to_string());
    match err.kind() {
        ErrorKind::InvalidRequest => ApiError::InvalidArgument(sentence),
        ErrorKind::StorageUnusable | ErrorKind::Unsupported => {
            ApiError::FailedPrecondition(sentence)
        }
        ErrorKind::NotFound => ApiError::NotFound(sentence),
        ErrorKind::Io => ApiError::FileUnavailable(sentence),
    }
}

/// Why a Ceph backup storage cannot be used by a server built without the `ceph` feature.
#[cfg(not(feature = "ceph"))]
pub fn without_ceph() -> ApiError {
    ApiError::Unsupported(
        "This imghash server was built without Ceph support, so it cannot use Ceph backup \
         storages; rebuild it with `cargo build --release --features ceph` (needs librados-dev)"
            .to_string(),
    )
}

/// Upper-cases the first letter, since ZStack's details are sentences and our libraries'
/// messages start in lower case.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
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

    #[test]
    fn details_are_cut_at_a_char_boundary() {
        let err = ApiError::InvalidArgument("é".repeat(MAX_DETAILS));
        assert!(err.details().len() <= MAX_DETAILS);
        assert!(err.details().len() >= MAX_DETAILS - 1);
    }
}
