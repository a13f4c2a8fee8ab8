//! The `state` import: durable key-value storage scoped to a tenant, kept by the
//! [`Storage`](crate::storage::Storage) backend, within the tenant's quota of keys and bytes.

use std::sync::Arc;

use async_trait::async_trait;

use crate::runtime::bindings::wasmbot::bot::state::Host;
use crate::runtime::host_state::HostState;
use crate::storage::{StateQuota, StateWrite, Storage};

/// Longest key a bot may use, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a bot may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

/// The state as a bot instance reaches it. `scope` is the tenant id (or a host-internal
/// scope); implementations keep scopes apart.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The value under `key` in `scope`.
    async fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores `value` under `key` in `scope`, unless `scope` would then be over `quota`.
    async fn set(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite>;
    /// Removes `key` from `scope`.
    async fn delete(&self, scope: &str, key: &str) -> anyhow::Result<()>;
}

/// [`StateStore`] over the [`Storage`] backend.
pub struct StorageState {
    storage: Arc<dyn Storage>,
}

impl StorageState {
    /// State kept by `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }
}

#[async_trait]
impl StateStore for StorageState {
    async fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.storage.state_get(scope, key).await
    }

    async fn set(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite> {
        self.storage.state_set(scope, key, value, quota).await
    }

    async fn delete(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.storage.state_delete(scope, key).await
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
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        check_key(&key)?;
        self.tenant
            .state
            .get(&self.tenant.id, &key)
            .await
            .map_err(|e| self.storage_failure("get", e))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "state value is {} bytes, the limit is {MAX_VALUE_BYTES}",
                value.len()
            ));
        }
        let limits = &self.tenant.limits;
        let quota = StateQuota {
            max_keys: limits.max_state_keys,
            max_bytes: limits.max_state_bytes,
        };
        match self
            .tenant
            .state
            .set(&self.tenant.id, &key, value, Some(quota))
            .await
        {
            Ok(StateWrite::Stored) => Ok(()),
            Ok(StateWrite::OverQuota(reason)) => {
                tracing::warn!(tenant = %self.tenant.id, %reason, "a state write was refused");
                Err(reason)
            }
            Err(e) => Err(self.storage_failure("set", e)),
        }
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        self.tenant
            .state
            .delete(&self.tenant.id, &key)
            .await
            .map_err(|e| self.storage_failure("delete", e))
    }
}

impl HostState {
    fn storage_failure(&self, op: &str, error: anyhow::Error) -> String {
        tracing::error!(tenant = %self.tenant.id, op, error = %format!("{error:#}"), "state storage failed");
        format!("state storage failed during {op}")
    }
}
