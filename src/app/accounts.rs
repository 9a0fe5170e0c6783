//! LogInByAccount and LogOut.

use imghash_store::{new_uuid, Session};

use super::error::ApiError;
use super::passwords::verify_password;
use super::{blocking, now_ms, validate, App};

/// LogInByAccount: an account name and its password (as typed, or its SHA-512 hex as
/// ZStack clients send it).
#[derive(Clone, Debug)]
pub struct LogIn {
    /// The account's name.
    pub account_name: String,
    /// The password, or its SHA-512 hex.
    pub password: String,
}

impl App {
    /// A new session for the account, or ID.1000 (wrong name or password, or locked after
    /// repeated failures).
    pub async fn log_in(&self, req: LogIn) -> Result<Session, ApiError> {
        validate::required("accountName", &req.account_name)?;
        validate::required("password", &req.password)?;
        // A locked account is refused before anything else, the password check included.
        if let Some(remaining) = self.logins.locked(&req.account_name) {
            return Err(ApiError::WrongCredentials(format!(
                "Too many failed logins for account '{}'; wait {} s before trying again",
                req.account_name,
                remaining.as_secs() + 1
            )));
        }
        let wrong = || ApiError::WrongCredentials("Wrong account name or password".to_string());
        let fail = |name: &str| {
            self.logins.failed(name);
            wrong()
        };
        let name = req.account_name.clone();
        let account = self
            .db(move |store| store.account_by_name(&name))
            .await?
            .ok_or_else(|| fail(&req.account_name))?;
        // argon2 takes tens of milliseconds of CPU on purpose: keep it off the runtime.
        let stored = account.password_hash.clone();
        let password = req.password;
        let ok = blocking("password check", move || {
            Ok(verify_password(&password, &stored))
        })
        .await?;
        if !ok {
            return Err(fail(&req.account_name));
        }
        self.logins.succeeded(&req.account_name);
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
