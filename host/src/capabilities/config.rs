//! The `config` import: the tenant's settings, read-only.

use std::collections::BTreeMap;

use crate::runtime::bindings::wasmbot::bot::config::Host;
use crate::runtime::bindings::wasmbot::bot::types::KeyValue;
use crate::runtime::host_state::HostState;

/// A tenant's settings as the bot sees them: string values as they are, anything else as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(BTreeMap<String, String>);

impl Settings {
    /// Settings from a JSON object (as read from a settings file or a config table).
    pub fn from_json(value: serde_json::Value) -> anyhow::Result<Self> {
        let serde_json::Value::Object(map) = value else {
            anyhow::bail!("settings must be a JSON object (a table of key = value)");
        };
        Ok(Self(
            map.into_iter()
                .map(|(key, value)| {
                    let text = match value {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, text)
                })
                .collect(),
        ))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every setting, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.tenant.settings.get(&key).map(str::to_owned)
    }

    fn get_all(&mut self) -> Vec<KeyValue> {
        self.tenant
            .settings
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.to_owned(),
                value: value.to_owned(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_stay_strings_and_the_rest_becomes_json() {
        let settings = Settings::from_json(serde_json::json!({
            "greeting": "Hello",
            "buttons": ["Sales", "Other"],
            "retries": 3
        }))
        .unwrap();
        assert_eq!(settings.get("greeting"), Some("Hello"));
        assert_eq!(settings.get("buttons"), Some(r#"["Sales","Other"]"#));
        assert_eq!(settings.get("retries"), Some("3"));
        assert!(Settings::from_json(serde_json::json!([1])).is_err());
    }
}
