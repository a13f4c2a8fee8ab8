//! Plugins that do not fit the contract are refused with a message naming the problem.

use wasmbot::runtime::PluginError;
use wasmbot_tests::{plugins, runtime};

fn refusal(bytes: &[u8]) -> String {
    match runtime().load(bytes) {
        Ok(_) => panic!("the plugin was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_component_of_another_world_names_the_missing_export() {
    let bytes = std::fs::read(plugins::WRONG_WORLD).unwrap();
    let err = runtime().load(&bytes).err().expect("refused");
    assert!(matches!(err, PluginError::MissingExport { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("wasmbot:bot/handler@0.1.0"), "{message}");
    assert!(message.contains("its exports: handle"), "{message}");
}

#[test]
fn a_core_module_empty_file_and_garbage_are_refused() {
    let core_module = b"\0asm\x01\0\0\0";
    assert!(refusal(core_module).contains("core WebAssembly module"));
    assert!(refusal(b"").contains("empty"));
    assert!(refusal(b"PK\x03\x04 zip").contains("magic bytes"));
}

#[test]
fn a_truncated_component_is_refused() {
    let bytes = std::fs::read(plugins::ECHO).unwrap();
    let message = refusal(&bytes[..bytes.len() / 2]);
    assert!(
        message.starts_with("not a WebAssembly component"),
        "{message}"
    );
}

#[test]
fn the_example_plugins_load() {
    for path in [plugins::ECHO, plugins::SUPPORT, plugins::MISBEHAVING] {
        let bytes = std::fs::read(path).unwrap();
        let plugin = runtime()
            .load(&bytes)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(plugin.info().world, "wasmbot:bot/bot@0.1.0");
        assert_eq!(plugin.info().size_bytes, bytes.len());
    }
}

/// A component importing `interface` (with one function) and exporting nothing.
fn importing(interface: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (import "{interface}" (instance (export "call" (func (param "x" string) (result string)))))
        )"#
    ))
    .unwrap()
}

#[test]
fn an_import_the_host_does_not_offer_is_named_by_load_and_by_check() {
    for interface in ["wasi:keyvalue/store@0.2.0-draft", "wasmbot:bot/state@0.2.0"] {
        let bytes = importing(interface);
        let message = refusal(&bytes);
        assert!(message.contains(interface), "{message}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.wasm");
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new(wasmbot_tests::wasmbot_bin())
            .arg("check")
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(interface), "{text}");
    }
}
