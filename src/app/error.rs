//! [`ApiError`]: every way a call can fail, with its ZStack error code.
//!
//! The application decides which failure a call met; each transport renders it (the gRPC
//! status code and `ErrorCode` details in `grpc::status`).

use imghash_store::StoreError;

/// Longest `details` sent to a client, in bytes (see [`ApiError::details`]).
pub const MAX_DETAILS: usize = 1024;

/// A failed call. Each variant holds the specific sentence (ZStack's `details`); the variant
/// decides the ZStack code and its fixed description (and, in each transport, the status).
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
    /// A server or service the call needs is out of reach for now: the inventory database
    /// is down or refuses work, or the node holding a Local backup storage is down or
    /// unreachable (SYS.1006, UNAVAILABLE). Worth retrying.
    #[error("{0}")]
    Unavailable(String),
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
    /// The ZStack code and its fixed description.
    pub fn zstack_code(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::InvalidSession(_) => ("ID.1001", "Invalid or expired session"),
            ApiError::WrongCredentials(_) => ("ID.1000", "Authentication error"),
            ApiError::InvalidArgument(_) => ("SYS.1007", "Invalid argument"),
            ApiError::NotFound(_) => ("SYS.1003", "Resource not found"),
            ApiError::FailedPrecondition(_)
            | ApiError::Unsupported(_)
            | ApiError::TooManyJobs(_)
            | ApiError::Unavailable(_) => ("SYS.1006", "Operation failure"),
            ApiError::DataLoss(_) | ApiError::FileUnavailable(_) => ("SYS.1016", "I/O error"),
            ApiError::DeadlineExceeded(_) => ("SYS.1001", "Operation timeout"),
            ApiError::Cancelled(_) => ("SYS.1017", "Operation cancelled"),
            ApiError::Internal(_) => ("SYS.1000", "An internal error happened in the system"),
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
            | ApiError::Unavailable(d)
            | ApiError::DataLoss(d)
            | ApiError::FileUnavailable(d)
            | ApiError::DeadlineExceeded(d)
            | ApiError::Cancelled(d)
            | ApiError::Internal(d) => d,
        }
    }

    /// The variant's name, to keep a failure in the store (a shared job's outcome) and
    /// rebuild it with [`ApiError::from_kind`] on another server.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidSession(_) => "InvalidSession",
            ApiError::WrongCredentials(_) => "WrongCredentials",
            ApiError::InvalidArgument(_) => "InvalidArgument",
            ApiError::NotFound(_) => "NotFound",
            ApiError::FailedPrecondition(_) => "FailedPrecondition",
            ApiError::Unsupported(_) => "Unsupported",
            ApiError::TooManyJobs(_) => "TooManyJobs",
            ApiError::Unavailable(_) => "Unavailable",
            ApiError::DataLoss(_) => "DataLoss",
            ApiError::FileUnavailable(_) => "FileUnavailable",
            ApiError::DeadlineExceeded(_) => "DeadlineExceeded",
            ApiError::Cancelled(_) => "Cancelled",
            ApiError::Internal(_) => "Internal",
        }
    }

    /// The failure [`ApiError::kind`] named, with its sentence; an unknown name is internal.
    pub fn from_kind(kind: &str, details: String) -> ApiError {
        let build = match kind {
            "InvalidSession" => ApiError::InvalidSession,
            "WrongCredentials" => ApiError::WrongCredentials,
            "InvalidArgument" => ApiError::InvalidArgument,
            "NotFound" => ApiError::NotFound,
            "FailedPrecondition" => ApiError::FailedPrecondition,
            "Unsupported" => ApiError::Unsupported,
            "TooManyJobs" => ApiError::TooManyJobs,
            "Unavailable" => ApiError::Unavailable,
            "DataLoss" => ApiError::DataLoss,
            "FileUnavailable" => ApiError::FileUnavailable,
            "DeadlineExceeded" => ApiError::DeadlineExceeded,
            "Cancelled" => ApiError::Cancelled,
            _ => ApiError::Internal,
        };
        build(details)
    }

    /// One failure of every kind, for tests that must cover them all.
    #[cfg(test)]
    pub(crate) fn one_of_each() -> Vec<ApiError> {
        [
            ApiError::InvalidSession,
            ApiError::WrongCredentials,
            ApiError::InvalidArgument,
            ApiError::NotFound,
            ApiError::FailedPrecondition,
            ApiError::Unsupported,
            ApiError::TooManyJobs,
            ApiError::Unavailable,
            ApiError::DataLoss,
            ApiError::FileUnavailable,
            ApiError::DeadlineExceeded,
            ApiError::Cancelled,
            ApiError::Internal,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, build)| build(format!("failure {i}")))
        .collect()
    }

    /// A missing mandatory field.
    pub fn missing(field: &str) -> ApiError {
        ApiError::InvalidArgument(format!("Missing mandatory field '{field}'"))
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
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %err, "inventory database unavailable");
                ApiError::Unavailable(sentence)
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
        // An image the content mode cannot read faithfully (corrupt, encrypted, with a
        // backing file, of an unsupported format) does not fit the request.
        E::UnknownAlgorithm { .. }
        | E::InvalidChunkSize { .. }
        | E::InvalidSetting { .. }
        | E::InvalidRequest(_)
        | E::Image { .. } => ApiError::InvalidArgument(sentence),
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
    fn every_kind_comes_back_as_itself() {
        for err in ApiError::one_of_each() {
            let back = ApiError::from_kind(err.kind(), err.details().to_string());
            assert_eq!(back, err);
        }
        assert_eq!(
            ApiError::from_kind("Nonsense", "x".into()),
            ApiError::Internal("x".into())
        );
    }

    #[test]
    fn details_are_cut_at_a_char_boundary() {
        let err = ApiError::InvalidArgument("é".repeat(MAX_DETAILS));
        assert!(err.details().len() <= MAX_DETAILS);
        assert!(err.details().len() >= MAX_DETAILS - 1);
    }
}
