//! Sessions.

use super::{exists, not_found, Store};
use crate::db::{insert_sql, params};
use crate::error::{map_unique, Result};
use crate::records::*;

impl Store {
    /// Adds a session. [`crate::StoreError::NotFound`] if the account does not exist.
    pub fn add_session(&self, session: &Session) -> Result<()> {
        let sql = insert_sql("session", SESSION_COLUMNS);
        self.with_tx(|tx| {
            if !exists(tx, "account", &session.account_uuid)? {
                return Err(not_found("account", &session.account_uuid));
            }
            tx.execute(
                &sql,
                params![
                    &session.uuid,
                    &session.account_uuid,
                    &session.user_uuid,
                    session.expired_date,
                    session.create_date,
                ],
            )
            .map_err(|e| map_unique(e, "session", &session.uuid, None))
        })?;
        Ok(())
    }

    /// The session with this uuid, expired or not, if any. Reads only.
    pub fn get_session(&self, uuid: &str) -> Result<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM session WHERE uuid = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![uuid], session_from_row))
    }

    /// Validates and renews a session: `None` if it does not exist or expired at or before
    /// `now_ms` (an expired one is deleted); otherwise its expiry moves to
    /// `now_ms + idle_timeout_ms` and the renewed session is returned.
    ///
    /// Renewing is what makes the timeout an idle timeout (7200 s in ZStack); how often a
    /// session is renewed is the caller's decision.
    pub fn touch_session(
        &self,
        uuid: &str,
        now_ms: i64,
        idle_timeout_ms: i64,
    ) -> Result<Option<Session>> {
        let renew = format!(
            "UPDATE session SET expired_date = ?3 \
             WHERE uuid = ?1 AND expired_date > ?2 RETURNING {SESSION_COLUMNS}"
        );
        self.with_tx(|tx| {
            let renewed = tx.query_opt(
                &renew,
                params![uuid, now_ms, now_ms.saturating_add(idle_timeout_ms)],
                session_from_row,
            )?;
            if renewed.is_none() {
                tx.execute(
                    "DELETE FROM session WHERE uuid = ?1 AND expired_date <= ?2",
                    params![uuid, now_ms],
                )?;
            }
            Ok(renewed)
        })
    }

    /// Deletes a session (log out); `false` if there was none.
    pub fn delete_session(&self, uuid: &str) -> Result<bool> {
        let deleted =
            self.with_conn(|c| c.execute("DELETE FROM session WHERE uuid = ?1", params![uuid]))?;
        Ok(deleted > 0)
    }

    /// Deletes every session expired at or before `now_ms`; returns how many. Meant for a
    /// periodic sweep, since a session nobody presents again is never touched.
    pub fn delete_expired_sessions(&self, now_ms: i64) -> Result<usize> {
        self.with_conn(|c| {
            c.execute(
                "DELETE FROM session WHERE expired_date <= ?1",
                params![now_ms],
            )
        })
    }
}
