//! `[storage]`: which backend holds the event path, and [`open`], the one place that builds
//! one. Parsed as strictly as the rest of the file: a key of the other backend is an error
//! naming it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use super::Storage;
use super::postgres::{PostgresOptions, PostgresStorage};
use super::sqlite::{self, Durability, SqliteStorage};
use crate::config::resolve_secret;

/// Connections of a replica's PostgreSQL pool, unless configured.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// How long a claim lasts without renewal, unless configured: a dead replica's sessions wait
/// about this long before another replica takes them.
pub const DEFAULT_LEASE_MS: u64 = 10_000;
/// How often a replica looks for work journaled through other replicas, unless configured.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 100;

/// The backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite files under `server.data_dir` (one process).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by every replica.
    Postgres,
}

/// `[storage]` as written in the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// `sqlite` (the default) or `postgres`.
    #[serde(default)]
    pub backend: Backend,
    /// SQLite: whether commits are fsynced (`fsync`, the default) or not (`none`).
    #[serde(default)]
    pub durability: Option<Durability>,
    /// PostgreSQL: the environment variable holding the connection URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// PostgreSQL: the file holding the connection URL (instead of the variable).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// PostgreSQL: connections in this replica's pool for durable writes (half as many more, at
    /// least 2, for leases and marks of deliveries).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// PostgreSQL: how long a claim on a session lasts without renewal, in milliseconds.
    #[serde(default)]
    pub lease_ms: Option<u64>,
    /// PostgreSQL: how often to look for work journaled through other replicas, in ms.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

/// A backend ready to be opened, its secrets read.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// SQLite files in `data_dir`.
    Sqlite {
        /// The directory.
        data_dir: PathBuf,
        /// Whether commits are fsynced.
        durability: Durability,
        /// Whether the directory is locked for this process (a server); tools that work
        /// beside a running server (`wasmbot dead-letters`) open it without the lock.
        lock: bool,
    },
    /// SQLite in memory (tests, `wasmbot run` without a state directory).
    Memory,
    /// A PostgreSQL database.
    Postgres(PostgresOptions),
}

impl StorageSection {
    /// Checks the keys against the backend and reads the secrets; `data_dir` is the server's,
    /// `legacy_durability` the deprecated `server.durability`.
    pub fn resolve(
        &self,
        data_dir: &Path,
        legacy_durability: Option<Durability>,
    ) -> anyhow::Result<StorageConfig> {
        match self.backend {
            Backend::Sqlite => {
                for (key, set) in [
                    ("url_env", self.url_env.is_some()),
                    ("url_file", self.url_file.is_some()),
                    ("pool_size", self.pool_size.is_some()),
                    ("lease_ms", self.lease_ms.is_some()),
                    ("poll_interval_ms", self.poll_interval_ms.is_some()),
                ] {
                    if set {
                        bail!("storage.{key} applies to backend = \"postgres\" only");
                    }
                }
                if self.durability.is_some() && legacy_durability.is_some() {
                    bail!("set storage.durability, not also server.durability (deprecated)");
                }
                Ok(StorageConfig::Sqlite {
                    data_dir: data_dir.to_owned(),
                    durability: self.durability.or(legacy_durability).unwrap_or_default(),
                    lock: true,
                })
            }
            Backend::Postgres => {
                if self.durability.is_some() || legacy_durability.is_some() {
                    bail!(
                        "storage.durability applies to backend = \"sqlite\" only \
                         (PostgreSQL commits are as durable as the server is configured)"
                    );
                }
                let url = resolve_secret(
                    "storage.url",
                    self.url_env.as_deref(),
                    self.url_file.as_deref(),
                )?;
                let pool_size = self.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
                if !(2..=1000).contains(&pool_size) {
                    bail!("storage.pool_size must be from 2 to 1000, not {pool_size}");
                }
                let lease_ms = self.lease_ms.unwrap_or(DEFAULT_LEASE_MS);
                if !(500..=600_000).contains(&lease_ms) {
                    bail!("storage.lease_ms must be from 500 to 600000, not {lease_ms}");
                }
                let poll_ms = self.poll_interval_ms.unwrap_or(DEFAULT_POLL_INTERVAL_MS);
                if !(10..=60_000).contains(&poll_ms) {
                    bail!("storage.poll_interval_ms must be from 10 to 60000, not {poll_ms}");
                }
                Ok(StorageConfig::Postgres(PostgresOptions {
                    url,
                    pool_size,
                    lease: Duration::from_millis(lease_ms),
                    poll_interval: Duration::from_millis(poll_ms),
                }))
            }
        }
    }
}

impl StorageConfig {
    /// The same storage for a tool that works beside a running server (no directory lock).
    pub fn for_tools(mut self) -> Self {
        if let StorageConfig::Sqlite { lock, .. } = &mut self {
            *lock = false;
        }
        self
    }
}

/// Checks that the storage `config` describes can be used, changing nothing in it (`wasmbot
/// config check`): SQLite's directory exists and is writable, or can be created; PostgreSQL
/// answers a query. Returns what was found.
pub async fn probe(config: &StorageConfig) -> anyhow::Result<String> {
    match config {
        StorageConfig::Sqlite { data_dir, .. } => {
            let mut existing = data_dir.as_path();
            while !existing.exists() {
                existing = existing
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
            }
            let metadata = std::fs::metadata(existing)
                .with_context(|| format!("server.data_dir: reading {}", existing.display()))?;
            if !metadata.is_dir() {
                bail!("server.data_dir: {} is not a directory", existing.display());
            }
            if metadata.permissions().readonly() {
                bail!("server.data_dir: {} is read-only", existing.display());
            }
            let in_use = sqlite::is_locked(data_dir);
            Ok(format!(
                "SQLite in {}{}",
                data_dir.display(),
                match (existing == data_dir.as_path(), in_use) {
                    (_, true) => " (in use by a running server)",
                    (true, false) => "",
                    (false, false) => " (created at start)",
                }
            ))
        }
        StorageConfig::Memory => Ok("SQLite in memory".to_owned()),
        StorageConfig::Postgres(options) => PostgresStorage::probe(options).await,
    }
}

/// Opens (creating and migrating if needed) the storage `config` describes.
pub async fn open(config: &StorageConfig) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match config {
        StorageConfig::Sqlite {
            data_dir,
            durability,
            lock,
        } => Arc::new(SqliteStorage::open(data_dir, *durability, *lock)?),
        StorageConfig::Memory => memory()?,
        StorageConfig::Postgres(options) => Arc::new(PostgresStorage::open(options).await?),
    })
}

/// A fresh storage in memory (tests, tools without a state directory); needs no runtime.
pub fn memory() -> anyhow::Result<Arc<dyn Storage>> {
    Ok(Arc::new(SqliteStorage::in_memory()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> anyhow::Result<StorageConfig> {
        let section: StorageSection = toml::from_str(text)?;
        section.resolve(Path::new("data"), None)
    }

    #[test]
    fn keys_of_the_other_backend_are_named() {
        let err = section("url_env = \"X\"").unwrap_err().to_string();
        assert!(err.contains("storage.url_env"), "{err}");
        let err = section(
            "backend = \"postgres\"\nurl_env = \"WASMBOT_TEST_UNSET_URL\"\ndurability = \"none\"",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("storage.durability"), "{err}");
        let err = toml::from_str::<StorageSection>("backend = \"mysql\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mysql"), "{err}");
    }

    #[test]
    fn postgres_needs_its_url_and_sane_numbers() {
        let err = section("backend = \"postgres\"\nurl_env = \"WASMBOT_TEST_UNSET_URL\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("WASMBOT_TEST_UNSET_URL"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://u@127.0.0.1/db\n").unwrap();
        let text = format!("backend = \"postgres\"\nurl_file = {file:?}\nlease_ms = 100");
        let err = section(&text).unwrap_err().to_string();
        assert!(err.contains("storage.lease_ms"), "{err}");
        let text = format!("backend = \"postgres\"\nurl_file = {file:?}");
        match section(&text).unwrap() {
            StorageConfig::Postgres(options) => {
                assert_eq!(options.url.expose(), "postgres://u@127.0.0.1/db");
                assert_eq!(options.pool_size, DEFAULT_POOL_SIZE);
                assert_eq!(options.lease, Duration::from_millis(DEFAULT_LEASE_MS));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sqlite_is_the_default_and_takes_the_old_durability_key() {
        let section = StorageSection::default();
        match section
            .resolve(Path::new("d"), Some(Durability::None))
            .unwrap()
        {
            StorageConfig::Sqlite {
                durability, lock, ..
            } => {
                assert_eq!(durability, Durability::None);
                assert!(lock);
            }
            other => panic!("{other:?}"),
        }
    }
}
