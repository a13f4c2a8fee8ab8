//! The `state` import: durable key-value storage scoped to a tenant.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};

use crate::runtime::bindings::wasmbot::bot::state::Host;
use crate::runtime::host_state::HostState;

/// Longest key a bot may use, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a bot may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

/// Storage behind the `state` import. `scope` is the tenant id (or a host-internal scope);
/// implementations keep scopes apart. The SQLite store is the embedded default; a shared
/// database can implement the same trait.
pub trait StateStore: Send + Sync {
    /// The value under `key` in `scope`.
    fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores `value` under `key` in `scope`.
    fn set(&self, scope: &str, key: &str, value: &[u8]) -> anyhow::Result<()>;
    /// Removes `key` from `scope`.
    fn delete(&self, scope: &str, key: &str) -> anyhow::Result<()>;
}

/// A [`StateStore`] in an SQLite file (or in memory).
pub struct SqliteStateStore {
    conn: Mutex<Connection>,
}

impl SqliteStateStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating state directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening state database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::with_connection(conn)
    }

    /// A store that lives in memory only (tests, `wasmbot run` without `--state-dir`).
    pub fn in_memory() -> anyhow::Result<Self> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> anyhow::Result<Self> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS bot_state (
                scope TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (scope, key)
            ) WITHOUT ROWID;",
        )
        .context("creating the bot_state table")?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StateStore for SqliteStateStore {
    fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM bot_state WHERE scope = ?1 AND key = ?2",
                params![scope, key],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn set(&self, scope: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO bot_state (scope, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
            params![scope, key, value],
        )?;
        Ok(())
    }

    fn delete(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.conn().execute(
            "DELETE FROM bot_state WHERE scope = ?1 AND key = ?2",
            params![scope, key],
        )?;
        Ok(())
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("state key is empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "state key is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    Ok(())
}

impl Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        check_key(&key)?;
        self.tenant
            .state
            .get(&self.tenant.id, &key)
            .map_err(|e| self.storage_failure("get", e))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "state value is {} bytes, the limit is {MAX_VALUE_BYTES}",
                value.len()
            ));
        }
        self.tenant
            .state
            .set(&self.tenant.id, &key, &value)
            .map_err(|e| self.storage_failure("set", e))
    }

    fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        self.tenant
            .state
            .delete(&self.tenant.id, &key)
            .map_err(|e| self.storage_failure("delete", e))
    }
}

impl HostState {
    fn storage_failure(&self, op: &str, error: anyhow::Error) -> String {
        tracing::error!(tenant = %self.tenant.id, op, error = %format!("{error:#}"), "state storage failed");
        format!("state storage failed during {op}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_kept_apart_and_values_replace() {
        let store = SqliteStateStore::in_memory().unwrap();
        store.set("acme", "k", b"one").unwrap();
        store.set("acme", "k", b"two").unwrap();
        store.set("other", "k", b"three").unwrap();
        assert_eq!(
            store.get("acme", "k").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(
            store.get("other", "k").unwrap().as_deref(),
            Some(&b"three"[..])
        );
        store.delete("acme", "k").unwrap();
        assert_eq!(store.get("acme", "k").unwrap(), None);
        store.delete("acme", "missing").unwrap();
    }

    #[test]
    fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        SqliteStateStore::open(&path)
            .unwrap()
            .set("t", "k", b"v")
            .unwrap();
        let reopened = SqliteStateStore::open(&path).unwrap();
        assert_eq!(reopened.get("t", "k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
