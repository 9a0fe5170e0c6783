//! Passwords and the admin account.
//!
//! Only an argon2 hash of the SHA-512 hex of a password is stored. ZStack clients send the
//! SHA-512 hex instead of the password, so a login password that already is 128 hex
//! characters is taken as that hex; anything else is hashed to it first. Both forms work.

use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Whether `password` (typed or SHA-512 hex) matches the stored PHC string, by the argon2
/// crate's own verifier: the reference [`verify_password_with`] is tested against.
#[cfg(test)]
pub fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(sha512_hex_of(password).as_bytes(), &hash)
            .is_ok()
    })
}

/// [`verify_password`] with argon2's working memory taken from `blocks` (grown to the
/// hash's cost and kept by the caller for the next call) instead of a fresh allocation of
/// 19 MiB each time, which the allocator kept around thread by thread.
pub fn verify_password_with(password: &str, stored: &str, blocks: &mut Vec<Block>) -> bool {
    PasswordHash::new(stored)
        .ok()
        .and_then(|hash| verify_into(password, &hash, blocks))
        .unwrap_or(false)
}

fn verify_into(password: &str, hash: &PasswordHash<'_>, blocks: &mut Vec<Block>) -> Option<bool> {
    let params = Params::try_from(hash).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .ok()?;
    let expected = hash.hash?;
    let mut salt = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt).ok()?;
    blocks.resize(params.block_count(), Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            sha512_hex_of(password).as_bytes(),
            salt,
            &mut out,
            &mut blocks[..],
        )
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == expected)
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

    #[test]
    fn verifying_with_kept_memory_agrees_with_the_crates_verifier() {
        let stored = hash_password("secret").unwrap();
        let hex = imghash_engine::hex(&Sha512::digest(b"secret"));
        let mut blocks = Vec::new();
        for (password, right) in [("secret", true), (&hex[..], true), ("Secret", false)] {
            assert_eq!(verify_password(password, &stored), right);
            assert_eq!(verify_password_with(password, &stored, &mut blocks), right);
        }
        assert!(!verify_password_with(
            "secret",
            "not a PHC string",
            &mut blocks
        ));
    }
}
