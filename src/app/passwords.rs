//! Passwords and the admin account.
//!
//! Only an argon2 hash of the SHA-512 hex of a password is stored. ZStack clients send the
//! SHA-512 hex instead of the password, so a login password that already is 128 hex
//! characters is taken as that hex; anything else is hashed to it first. Both forms work.

use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use imghash_store::{new_uuid, Account, Store};
use sha2::{Digest as _, Sha512};

use super::error::ApiError;
use super::now_ms;

/// The account every server has.
pub const ADMIN_ACCOUNT: &str = "admin";

/// The SHA-512 hex ZStack clients send: the input itself if it already is 128 hex
/// characters (lower-cased), else its SHA-512.
pub fn sha512_hex_of(password: &str) -> String {
    if password.len() == 128 && password.bytes().all(|b| b.is_ascii_hexdigit()) {
        password.to_ascii_lowercase()
    } else {
        imghash_engine::hex(&Sha512::digest(password.as_bytes()))
    }
}

/// The PHC string stored for a password (argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ApiError::Internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(sha512_hex_of(password).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

/// A hash of a random password made with the same argon2 settings as the stored ones:
/// log-in verifies against it when the account does not exist, at the same cost. Made
/// once, at the first call ([`App::open`](super::App::open) makes that call).
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        // Only fails without randomness, when log-in cannot make sessions either.
        hash_password(&new_uuid()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot make the dummy password hash");
            String::new()
        })
    })
}

/// Whether `password` (typed or SHA-512 hex) matches the stored PHC string.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(sha512_hex_of(password).as_bytes(), &hash)
            .is_ok()
    })
}

/// Creates the admin account at first start, or replaces its password if one is given on a
/// later start. With no password at first start, one is generated, written to
/// `password_file` (mode 0600) and returned so the caller can print it once.
pub fn ensure_admin(
    store: &Store,
    password: Option<&str>,
    password_file: &Path,
) -> anyhow::Result<Option<String>> {
    let now = now_ms();
    if let Some(account) = store.account_by_name(ADMIN_ACCOUNT)? {
        if let Some(password) = password {
            store.set_account_password(&account.uuid, &hash_password(password)?, now)?;
            tracing::info!("admin password replaced by the one given at start");
        }
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_string(), false),
        None => (new_uuid(), true),
    };
    store.add_account(&Account {
        uuid: new_uuid(),
        name: ADMIN_ACCOUNT.to_string(),
        password_hash: hash_password(&password)?,
        create_date: now,
        last_op_date: now,
    })?;
    if !generated {
        return Ok(None);
    }
    write_private_file(password_file, &password)?;
    Ok(Some(password))
}

/// Writes a file only its owner can read.
fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut file = super::private_fs::create_file(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{contents}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_password_and_its_sha512_hex_both_verify() {
        let stored = hash_password("secret").unwrap();
        let hex = imghash_engine::hex(&Sha512::digest(b"secret"));
        assert!(verify_password("secret", &stored));
        assert!(verify_password(&hex, &stored));
        assert!(verify_password(&hex.to_uppercase(), &stored));
        assert!(!verify_password("Secret", &stored));
    }
}
