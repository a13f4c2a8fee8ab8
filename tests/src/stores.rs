//! Storage of either backend for tests written against the `Storage` trait: a fresh SQLite
//! data directory, or a fresh database on the shared throwaway PostgreSQL server.

use std::sync::Arc;
use std::time::Duration;

use wasmbot::config::Secret;
use wasmbot::storage::{Durability, PostgresOptions, Storage, StorageConfig};

use crate::postgres::PgServer;

/// A place for storage that can be opened (again) by a test.
pub struct TestStore {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    config: StorageConfig,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A fresh SQLite data directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            backend: "sqlite",
            config: StorageConfig::Sqlite {
                data_dir: dir.path().to_owned(),
                durability: Durability::Fsync,
                lock: true,
            },
            _dir: Some(dir),
        }
    }

    /// A fresh database on the shared PostgreSQL server, with leases of `lease`.
    pub fn postgres_with_lease(lease: Duration) -> Self {
        let url = PgServer::shared().new_database();
        Self {
            backend: "postgres",
            config: StorageConfig::Postgres(PostgresOptions {
                url: Secret::new(url),
                pool_size: 8,
                lease,
                poll_interval: Duration::from_millis(50),
            }),
            _dir: None,
        }
    }

    /// A fresh database on the shared PostgreSQL server.
    pub fn postgres() -> Self {
        Self::postgres_with_lease(Duration::from_secs(10))
    }

    /// Opens the storage (again: what an earlier opening stored is there).
    pub async fn open(&self) -> Arc<dyn Storage> {
        wasmbot::storage::open(&self.config)
            .await
            .unwrap_or_else(|e| panic!("opening {} storage: {e:#}", self.backend))
    }

    /// The configuration it opens.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }
}
