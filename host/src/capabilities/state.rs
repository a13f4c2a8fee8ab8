//! The `state` import: durable key-value storage scoped to a tenant, kept by the
//! [`Storage`](crate::storage::Storage) backend, within the tenant's quota of keys and bytes.
//! The capability's context is [`BotState`]; [`add_to_linker`] links the import to it.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::contract::wasmbot::bot::state::{self, Host};
use crate::storage::{StateQuota, StateWrite, Storage};

/// Longest key a bot may use, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a bot may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

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

/// The `state` capability of one bot instance: the tenant's scope in the storage, and its
/// quota. The tenant id is the scope; host-internal scopes start with a control character, so
/// a bot cannot name them.
pub struct BotState {
    tenant: Arc<str>,
    store: Arc<dyn Storage>,
    quota: StateQuota,
}

impl BotState {
    /// `tenant`'s state in `store`, writes admitted within `quota`.
    pub fn new(tenant: &str, store: Arc<dyn Storage>, quota: StateQuota) -> Self {
        Self {
            tenant: tenant.into(),
            store,
            quota,
        }
    }

    fn storage_failure(&self, op: &str, error: anyhow::Error) -> String {
        tracing::error!(tenant = %self.tenant, op, error = %format!("{error:#}"), "state storage failed");
        format!("state storage failed during {op}")
    }
}

impl Host for BotState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        check_key(&key)?;
        self.store
            .state_get(&self.tenant, &key)
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
        match self
            .store
            .state_set(&self.tenant, &key, value, Some(self.quota))
            .await
        {
            Ok(StateWrite::Stored) => Ok(()),
            Ok(StateWrite::OverQuota(reason)) => {
                tracing::warn!(tenant = %self.tenant, %reason, "a state write was refused");
                Err(reason)
            }
            Err(e) => Err(self.storage_failure("set", e)),
        }
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        self.store
            .state_delete(&self.tenant, &key)
            .await
            .map_err(|e| self.storage_failure("delete", e))
    }
}

/// The [`HasData`] marker of the `state` import: its host is a [`BotState`].
pub struct StateCapability;

impl HasData for StateCapability {
    type Data<'a> = &'a mut BotState;
}

/// Links the `state` import to the [`BotState`] that `state_of` finds in the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    state_of: fn(&mut T) -> &mut BotState,
) -> wasmtime::Result<()> {
    state::add_to_linker::<T, StateCapability>(linker, state_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_of(tenant: &str, storage: &Arc<dyn Storage>, max_keys: u64) -> BotState {
        let quota = StateQuota {
            max_keys,
            max_bytes: 1 << 20,
        };
        BotState::new(tenant, storage.clone(), quota)
    }

    #[tokio::test]
    async fn tenants_are_kept_apart_and_held_to_their_quota() {
        let storage: Arc<dyn Storage> = crate::storage::memory().unwrap();
        let mut acme = state_of("acme", &storage, 2);
        let mut globex = state_of("globex", &storage, 2);
        acme.set("k".into(), b"acme's".to_vec()).await.unwrap();
        assert_eq!(
            acme.get("k".into()).await.unwrap(),
            Some(b"acme's".to_vec())
        );
        assert_eq!(globex.get("k".into()).await.unwrap(), None);
        acme.set("k2".into(), b"v".to_vec()).await.unwrap();
        let refused = acme.set("k3".into(), b"v".to_vec()).await.unwrap_err();
        assert!(refused.contains('2'), "{refused}");
        acme.delete("k".into()).await.unwrap();
        assert_eq!(acme.get("k".into()).await.unwrap(), None);
        assert!(acme.get(String::new()).await.is_err());
        assert!(acme.get("x".repeat(MAX_KEY_BYTES + 1)).await.is_err());
    }
}
