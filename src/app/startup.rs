//! Startup: open (or create) the inventory, and make sure the admin account and the
//! "default" backup storage exist. (The clean-up after a crash runs once this server has
//! joined the others, since it may touch only this server's storages: `App::open`.)

use anyhow::Context as _;
use imghash_store::Store;

use super::config::ServerConfig;
use super::{backup_storages, now_ms, passwords, private_fs};

/// Opens the inventory and brings it to a state the API can serve (blocking work, so on a
/// blocking thread).
pub async fn open_inventory(config: &ServerConfig) -> anyhow::Result<Store> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        private_fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create the data directory {}", config.data_dir.display())
        })?;
        let store = match &config.database_url {
            Some(url) => Store::connect(url.expose())?,
            None => Store::open(&config.database_path())?,
        };
        tracing::info!(database = %store.describe(), "inventory open");
        // Sessions nobody presents again are never touched; sweep them once per start.
        store.delete_expired_sessions(now_ms())?;
        let password_file = config.admin_password_path();
        if let Some(generated) =
            passwords::ensure_admin(&store, config.admin_password.as_deref(), &password_file)?
        {
            // Printed once, at the first start; the file keeps it for later.
            eprintln!(
                "imghash: generated the password of account 'admin': {generated} (also written to {})",
                password_file.display()
            );
        }
        backup_storages::ensure_default(&store, &config.default_storage_dir())?;
        Ok(store)
    })
    .await
    .context("the startup task failed")?
}
