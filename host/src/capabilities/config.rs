//! The `config` import: the tenant's settings, read-only. The capability's context is the
//! tenant's [`Settings`] itself; [`add_to_linker`] links the import to them.

use std::collections::BTreeMap;

use wasmtime::component::{HasData, Linker};

use crate::contract::wasmbot::bot::config::{self, Host};
use crate::contract::wasmbot::bot::types::KeyValue;

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

impl Host for &Settings {
    fn get(&mut self, key: String) -> Option<String> {
        Settings::get(self, &key).map(str::to_owned)
    }

    fn get_all(&mut self) -> Vec<KeyValue> {
        self.iter()
            .map(|(key, value)| KeyValue {
                key: key.to_owned(),
                value: value.to_owned(),
            })
            .collect()
    }
}

/// The [`HasData`] marker of the `config` import: its host is the tenant's [`Settings`].
pub struct ConfigCapability;

impl HasData for ConfigCapability {
    type Data<'a> = &'a Settings;
}

/// Links the `config` import to the [`Settings`] that `settings_of` finds in the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    settings_of: fn(&mut T) -> &Settings,
) -> wasmtime::Result<()> {
    config::add_to_linker::<T, ConfigCapability>(linker, settings_of)
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

    #[test]
    fn the_import_reads_one_key_or_all_of_them() {
        let settings = Settings::from_json(serde_json::json!({ "b": "2", "a": "1" })).unwrap();
        let mut host = &settings;
        assert_eq!(Host::get(&mut host, "a".into()), Some("1".into()));
        assert_eq!(Host::get(&mut host, "missing".into()), None);
        let all: Vec<_> = Host::get_all(&mut host)
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect();
        assert_eq!(all, [("a".into(), "1".into()), ("b".into(), "2".into())]);
    }
}
