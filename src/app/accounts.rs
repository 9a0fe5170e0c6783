//! LogInByAccount and LogOut.

use std::net::IpAddr;

use imghash_store::{new_uuid, Session};

use super::error::ApiError;
use super::passwords::{dummy_password_hash, verify_password};
use super::{blocking, now_ms, validate, App};

/// LogInByAccount: an account name and its password (as typed, or its SHA-512 hex as
/// ZStack clients send it).
#[derive(Clone, Debug)]
pub struct LogIn {
    /// The account's name.
    pub account_name: String,
    /// The password, or its SHA-512 hex.
    pub password: String,
    /// The client's address, for the back-off (`None` if the transport cannot tell).
    pub client: Option<IpAddr>,
}

impl App {
    /// A new session for the account, or ID.1000 (wrong name or password, or locked for
    /// this client after repeated failures).
    pub async fn log_in(&self, req: LogIn) -> Result<Session, ApiError> {
        validate::required("accountName", &req.account_name)?;
        validate::required("password", &req.password)?;
        // Checked before the back-off keeps the name: a stranger's long names must not
        // grow the server's memory.
        validate::at_most("accountName", &req.account_name, validate::MAX_NAME)?;
        validate::at_most("password", &req.password, validate::MAX_PASSWORD)?;
        let attempt = (req.account_name.as_str(), req.client);
        // A locked pair is refused before anything else, the password check included.
        if let Some(remaining) = self.logins.locked(attempt) {
            return Err(ApiError::WrongCredentials(format!(
                "Too many failed logins for account '{}' from this address; wait {} s before \
                 trying again",
                req.account_name,
                remaining.as_secs() + 1
            )));
        }
        let name = req.account_name.clone();
        let account = self.db(move |store| store.account_by_name(&name)).await?;
        // An unknown name is checked against a dummy hash of the same cost, so that the
        // answer's timing does not tell which names exist (0.8 ms against 29 ms before).
        let stored = account.as_ref().map_or_else(
            || dummy_password_hash().to_string(),
            |a| a.password_hash.clone(),
        );
        let password = req.password.clone();
        let matches = blocking("password check", move || {
            Ok(verify_password(&password, &stored))
        })
        .await?;
        self.metrics.record_password_check();
        let Some(account) = account.filter(|_| matches) else {
            self.logins.failed(attempt);
            return Err(ApiError::WrongCredentials(
                "Wrong account name or password".to_string(),
            ));
        };
        self.logins.succeeded(attempt);
        let now = now_ms();
        let session = Session {
            uuid: new_uuid(),
            account_uuid: account.uuid.clone(),
            user_uuid: account.uuid,
            expired_date: now + self.session_timeout_ms,
            create_date: now,
        };
        let stored = session.clone();
        self.db(move |store| store.add_session(&stored)).await?;
        Ok(session)
    }

    /// Ends a session; logging out of one already gone succeeds, as in ZStack.
    pub async fn log_out(&self, session_uuid: String) -> Result<(), ApiError> {
        validate::uuid("sessionUuid", &session_uuid)?;
        self.db(move |store| store.delete_session(&session_uuid))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHash;

    use super::*;
    use crate::app::ServerConfig;

    fn wrong(name: &str) -> LogIn {
        LogIn {
            account_name: name.to_string(),
            password: "wrong".to_string(),
            client: None,
        }
    }

    /// Not a timed assertion: what a log-in costs is its argon2 verification (tens of ms,
    /// against well under one for the rest), so an unknown name answers as slowly as a
    /// known one when it makes one verification too, with a hash of the same settings.
    /// Both are checked here: the count of verifications, and the dummy hash's parameters
    /// against those of a stored one.
    #[tokio::test]
    async fn an_unknown_name_costs_one_verification_of_a_hash_like_a_stored_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.admin_password = Some("secret".to_string());
        let app = App::open(&config).await.unwrap();
        let before = app.metrics().password_checks();
        assert!(matches!(
            app.log_in(wrong("nobody")).await,
            Err(ApiError::WrongCredentials(_))
        ));
        assert_eq!(app.metrics().password_checks(), before + 1);
        assert!(matches!(
            app.log_in(wrong("admin")).await,
            Err(ApiError::WrongCredentials(_))
        ));
        assert_eq!(app.metrics().password_checks(), before + 2);

        let admin = app
            .db(|store| store.account_by_name("admin"))
            .await
            .unwrap()
            .unwrap();
        let stored = PasswordHash::new(&admin.password_hash).unwrap();
        let dummy = PasswordHash::new(dummy_password_hash()).unwrap();
        assert_eq!(dummy.algorithm, stored.algorithm);
        assert_eq!(dummy.version, stored.version);
        assert_eq!(dummy.params, stored.params);
    }
}
