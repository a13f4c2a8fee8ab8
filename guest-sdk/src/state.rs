//! Durable storage. The host keeps each tenant's keys apart; [`Scope`] adds typed access and
//! per-session key prefixes ([`crate::Conversation::session`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wasmbot::bot::state as host;
use crate::{Error, Result};

/// The raw bytes under `key` (tenant-wide).
pub fn get_bytes(key: &str) -> Result<Option<Vec<u8>>> {
    host::get(key).map_err(Error::msg)
}

/// Stores raw bytes under `key` (tenant-wide).
pub fn set_bytes(key: &str, value: &[u8]) -> Result<()> {
    host::set(key, value).map_err(Error::msg)
}

/// Removes `key` (tenant-wide).
pub fn delete(key: &str) -> Result<()> {
    host::delete(key).map_err(Error::msg)
}

/// Typed storage under a key prefix: the whole tenant, or one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    prefix: String,
}

impl Scope {
    /// Keys shared by every session of the tenant.
    pub fn tenant() -> Self {
        Self {
            prefix: String::new(),
        }
    }

    /// Keys of one session (prefixed `session/{id}/`).
    pub fn session(session_id: i64) -> Self {
        Self {
            prefix: format!("session/{session_id}/"),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The value under `key`, read as JSON.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match get_bytes(&self.key(key))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::msg(format!("state `{key}`: {e}"))),
        }
    }

    /// Stores `value` under `key` as JSON.
    pub fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        set_bytes(&self.key(key), &serde_json::to_vec(value)?)
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<()> {
        delete(&self.key(key))
    }
}
