//! Builds every guest in `plugins/` once per test run (release, wasm32-wasip2) and writes a
//! constant per plugin with the path of its component, into `$OUT_DIR/plugins.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, crate name) of every plugin the tests use.
const PLUGINS: &[(&str, &str)] = &[
    ("ECHO", "echo"),
    ("SUPPORT", "support"),
    ("MISBEHAVING", "misbehaving"),
    ("WRONG_WORLD", "wrong-world"),
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let plugins = root.join("plugins");
    for watched in ["guest-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // The plugins' sources and manifests, not their build output (`plugins/target`), which
    // this script itself writes: watching it would rebuild everything on every run.
    for entry in std::fs::read_dir(&plugins).expect("plugins/") {
        let path = entry.expect("a plugins/ entry").path();
        if path.file_name().is_some_and(|name| name != "target") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(&plugins).args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--workspace",
    ]);
    // Settings of the outer build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        build.env_remove(var);
    }
    let status = build.status().expect("running cargo for the guest plugins");
    assert!(
        status.success(),
        "building the guest plugins failed; is the target installed? `rustup target add wasm32-wasip2`"
    );
    let out_dir = plugins.join("target/wasm32-wasip2/release");
    let mut source = String::new();
    for (constant, krate) in PLUGINS {
        let path: PathBuf = out_dir.join(format!("{}.wasm", krate.replace('-', "_")));
        assert!(path.exists(), "{} was not built", path.display());
        source += &format!(
            "/// The `{krate}` plugin's component.\npub const {constant}: &str = {:?};\n",
            path.display().to_string()
        );
    }
    source += "/// Every plugin: (constant name, path).\npub const ALL: &[(&str, &str)] = &[\n";
    for (constant, _) in PLUGINS {
        source += &format!("    ({constant:?}, {constant}),\n");
    }
    source += "];\n";
    let generated = Path::new(&std::env::var("OUT_DIR").unwrap()).join("plugins.rs");
    std::fs::write(generated, source).unwrap();
}
