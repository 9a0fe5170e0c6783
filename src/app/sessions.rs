//! The session of a call: `Authorization: OAuth <sessionUuid>` (a gRPC metadata entry, or
//! REST's header), checked and renewed.
//!
//! Sessions expire after an idle time (7200 s by default, as in ZStack), so a call renews
//! its session. Renewing is a write transaction; doing it on every call made every read a
//! write. A session is renewed at most once per [`RENEWAL_INTERVAL_MS`] (or half its
//! timeout, if shorter): a session may expire up to that much before a full idle timeout
//! after its last call, and a burst of calls costs one write.

use imghash_store::Session;

use super::error::ApiError;
use super::{now_ms, App};

/// The longest time between two renewals of a session that is in use.
pub const RENEWAL_INTERVAL_MS: i64 = 60_000;

impl App {
    /// The session named by an `authorization` value (`None`: the caller sent none),
    /// renewed if due; ID.1001 if missing, malformed, unknown, expired or logged out.
    pub async fn session(&self, authorization: Option<&str>) -> Result<Session, ApiError> {
        let token = session_token(authorization)?;
        let timeout = self.session_timeout_ms;
        let uuid = token.clone();
        self.db(move |store| {
            let now = now_ms();
            match store.get_session(&uuid)? {
                Some(session) if !renewal_due(&session, now, timeout) => Ok(Some(session)),
                // Renews, or deletes it if expired; either way one write.
                Some(_) => store.touch_session(&uuid, now, timeout),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(|| {
            ApiError::InvalidSession(format!(
                "Session[uuid:{token}] is expired, logged out or unknown; log in again"
            ))
        })
    }
}

/// Whether a call at `now` must write to the session: it expired (then it is deleted), or
/// its last renewal is older than the renewal interval.
fn renewal_due(session: &Session, now: i64, timeout: i64) -> bool {
    let renewed_at = session.expired_date.saturating_sub(timeout);
    let interval = RENEWAL_INTERVAL_MS.min(timeout / 2);
    session.expired_date <= now || now.saturating_sub(renewed_at) >= interval
}

/// The session uuid out of an `authorization` value.
fn session_token(authorization: Option<&str>) -> Result<String, ApiError> {
    const HINT: &str = "send metadata 'authorization: OAuth <sessionUuid>' with the uuid \
                        that AccountService/LogInByAccount returned";
    let text =
        authorization.ok_or_else(|| ApiError::InvalidSession(format!("No session: {HINT}")))?;
    let (scheme, token) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| ApiError::InvalidSession(format!("Malformed authorization: {HINT}")))?;
    let token = token.trim();
    let well_formed = scheme.eq_ignore_ascii_case("OAuth")
        && token.len() == 32
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(ApiError::InvalidSession(format!(
            "Malformed authorization '{text}': {HINT}"
        )));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const TIMEOUT: i64 = 7_200_000;

    fn renewed_at(at: i64, timeout: i64) -> Session {
        Session {
            uuid: String::new(),
            account_uuid: String::new(),
            user_uuid: String::new(),
            expired_date: at + timeout,
            create_date: at,
        }
    }

    #[test]
    fn a_session_is_renewed_at_most_once_a_minute() {
        let session = renewed_at(1_000_000, TIMEOUT);
        assert!(!renewal_due(&session, 1_000_000, TIMEOUT));
        assert!(!renewal_due(&session, 1_000_000 + MINUTE - 1, TIMEOUT));
        assert!(renewal_due(&session, 1_000_000 + MINUTE, TIMEOUT));
    }

    #[test]
    fn a_short_timeout_renews_at_half_of_it_and_an_expired_session_is_due() {
        let session = renewed_at(0, 700);
        assert!(!renewal_due(&session, 349, 700));
        assert!(renewal_due(&session, 350, 700));
        assert!(renewal_due(&renewed_at(0, TIMEOUT), TIMEOUT, TIMEOUT));
    }

    #[test]
    fn authorization_must_be_oauth_and_a_uuid() {
        assert!(session_token(None).is_err());
        assert!(session_token(Some("Bearer 0123456789abcdef0123456789abcdef")).is_err());
        assert_eq!(
            session_token(Some("OAuth 0123456789abcdef0123456789abcdef")).unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
    }
}
