//! Each plugin the build script builds is used by at least one test file.

use wasmbot_tests::plugins;

#[test]
fn every_plugin_constant_appears_in_a_test() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e");
    let sources: String = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap() != "every_plugin_is_tested.rs"
                && p.file_name().unwrap() != "main.rs"
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for (constant, _) in plugins::ALL {
        assert!(
            sources.contains(&format!("plugins::{constant}")),
            "no test uses plugins::{constant}"
        );
    }
}
