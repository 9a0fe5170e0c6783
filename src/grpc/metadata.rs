//! What a call carries besides its message: the session (`authorization: OAuth <uuid>`)
//! and the deadline (`grpc-timeout`).

use std::time::Duration;

use imghash_store::Session;
use tokio::time::Instant;
use tonic::metadata::MetadataMap;

use crate::app::cluster::FORWARDED_BY;
use crate::app::{ApiError, App, Origin};

/// The call's session, checked (and renewed when due) by the application.
pub async fn session(app: &App, metadata: &MetadataMap) -> Result<Session, ApiError> {
    // A value that is not visible ASCII is a malformed authorization, not a missing one.
    let authorization = metadata
        .get("authorization")
        .map(|value| value.to_str().unwrap_or_default());
    app.session(authorization).await
}

/// Who asked: the session to pass on if the call is forwarded, and whether another node
/// forwarded it here.
pub fn origin(metadata: &MetadataMap) -> Origin {
    Origin {
        authorization: metadata
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        forwarded: metadata.contains_key(FORWARDED_BY),
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
