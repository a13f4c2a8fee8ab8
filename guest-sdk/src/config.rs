//! The tenant's settings (the `settings` table of the tenant in wasmbot's configuration).

use serde::de::DeserializeOwned;

use crate::bindings::wasmbot::bot::config as host;
use crate::{Error, KeyValue, Result};

/// The setting `key` as text (non-string settings come as JSON text).
pub fn get(key: &str) -> Option<String> {
    host::get(key)
}

/// The setting `key`, or `default` when it is not set.
pub fn get_or(key: &str, default: &str) -> String {
    host::get(key).unwrap_or_else(|| default.to_owned())
}

/// The setting `key` read as JSON into `T` (lists, numbers, tables). A string setting that is
/// not JSON is read as a JSON string.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    let Some(text) = host::get(key) else {
        return Ok(None);
    };
    match serde_json::from_str(&text) {
        Ok(value) => Ok(Some(value)),
        Err(_) => serde_json::from_value(serde_json::Value::String(text))
            .map(Some)
            .map_err(|e| Error::msg(format!("setting `{key}`: {e}"))),
    }
}

/// Every setting.
pub fn all() -> Vec<KeyValue> {
    host::get_all()
}
