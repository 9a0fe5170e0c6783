//! Accounts.

use super::{not_found, Store};
use crate::db::{insert_sql, params};
use crate::error::{map_unique, Result};
use crate::records::*;

impl Store {
    /// Adds an account. [`crate::StoreError::Duplicate`] if its uuid or name is taken.
    pub fn add_account(&self, account: &Account) -> Result<()> {
        let sql = insert_sql("account", ACCOUNT_COLUMNS);
        self.with_conn(|c| {
            c.execute(
                &sql,
                params![
                    &account.uuid,
                    &account.name,
                    &account.password_hash,
                    account.create_date,
                    account.last_op_date,
                ],
            )
        })
        .map_err(|e| map_unique(e, "account", &account.uuid, Some(&account.name)))?;
        Ok(())
    }

    /// The account with this name (exact, case-sensitive), if any.
    pub fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE name = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![name], account_from_row))
    }

    /// The account with this uuid, if any.
    pub fn get_account(&self, uuid: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE uuid = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![uuid], account_from_row))
    }

    /// Replaces an account's password hash (e.g. the admin password given again at start).
    pub fn set_account_password(&self, uuid: &str, password_hash: &str, now_ms: i64) -> Result<()> {
        let changed = self.with_conn(|c| {
            c.execute(
                "UPDATE account SET password_hash = ?2, last_op_date = ?3 WHERE uuid = ?1",
                params![uuid, password_hash, now_ms],
            )
        })?;
        if changed == 0 {
            return Err(not_found("account", uuid));
        }
        Ok(())
    }
}
