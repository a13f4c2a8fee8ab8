//! `wasmbot.example.toml` at the repository's root lists every key of the configuration, at
//! its default where it has one: checked against the parser's own list of keys, so a key
//! added to the code and not to the example fails here.

use serde::de::DeserializeOwned;

use crate::capabilities::http::HttpConfig;
use crate::config::{ConfigFile, LimitsConfig, MluviiConfig, ServerConfig, TenantConfig};
use crate::dispatch::fallback::FallbackConfig;
use crate::storage::{Backend, StorageSection};
use crate::telemetry::TelemetryConfig;

const EXAMPLE: &str = include_str!("../../wasmbot.example.toml");

/// The keys `T` accepts, as its strict parser lists them when it meets an unknown one.
fn keys_of<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
    let error = toml::from_str::<T>("__not_a_key__ = 1")
        .unwrap_err()
        .to_string();
    let (_, expected) = error
        .split_once("expected ")
        .unwrap_or_else(|| panic!("no key list in {error:?}"));
    // "`a`, `b` or `c`": every quoted name.
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The example with every commented-out `# key = value` line taken in.
fn example_with_commented_keys() -> toml::Table {
    let text: String = EXAMPLE
        .lines()
        .map(|line| {
            let uncommented = line.trim_start_matches("# ");
            let is_key = uncommented
                .split_once(" = ")
                .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            if line.starts_with("# ") && is_key {
                uncommented
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    toml::from_str(&text).expect("the example with its commented keys is TOML")
}

fn table<'a>(table: &'a toml::Table, path: &[&str]) -> &'a toml::Table {
    path.iter().fold(table, |table, key| match &table[*key] {
        toml::Value::Table(inner) => inner,
        toml::Value::Array(tables) => tables[0].as_table().unwrap(),
        other => panic!("{key} is {other:?}"),
    })
}

#[test]
fn the_example_names_every_key_of_every_section() {
    let example = example_with_commented_keys();
    let sections: [(&[&str], Vec<String>); 9] = [
        (&[], keys_of::<ConfigFile>()),
        (&["server"], keys_of::<ServerConfig>()),
        (&["storage"], keys_of::<StorageSection>()),
        (&["telemetry"], keys_of::<TelemetryConfig>()),
        (&["tenant"], keys_of::<TenantConfig>()),
        (&["tenant", "limits"], keys_of::<LimitsConfig>()),
        (&["tenant", "fallback"], keys_of::<FallbackConfig>()),
        (&["tenant", "http"], keys_of::<HttpConfig>()),
        (&["tenant", "mluvii"], keys_of::<MluviiConfig>()),
    ];
    for (path, keys) in sections {
        assert!(keys.len() > 1, "{path:?}: {keys:?}");
        let section = table(&example, path);
        let missing: Vec<&String> = keys.iter().filter(|k| !section.contains_key(*k)).collect();
        assert!(missing.is_empty(), "[{}] lacks {missing:?}", path.join("."));
        let unknown: Vec<&String> = section.keys().filter(|k| !keys.contains(k)).collect();
        assert!(
            unknown.is_empty(),
            "[{}] has unknown {unknown:?}",
            path.join(".")
        );
    }
}

#[test]
fn the_examples_values_are_the_defaults() {
    let config = ConfigFile::parse(EXAMPLE).expect("the example parses");
    assert_eq!(config.server, ServerConfig::default());
    assert_eq!(config.telemetry, TelemetryConfig::default());
    assert_eq!(config.storage.backend, Backend::Sqlite);
    assert_eq!(config.storage.durability, Some(Default::default()));
    let tenant = &config.tenants[0];
    assert_eq!(tenant.limits, LimitsConfig::default());
    assert_eq!(tenant.fallback, FallbackConfig::default());
    assert_eq!(tenant.http, HttpConfig::default());
}
