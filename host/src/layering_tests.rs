//! The layering the design asks for, checked on the source: the runtime → capabilities →
//! contract, and nothing of mluvii or the pipeline below the dispatcher's step.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Every `crate::…` path in `files` that starts with one of `forbidden`.
fn uses_of(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for module in forbidden {
                if line.contains(&format!("crate::{module}")) {
                    found.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

fn src(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(path)
}

const PIPELINE: [&str; 7] = [
    "mluvii",
    "dispatch",
    "server",
    "plugins",
    "delivery",
    "cli",
    "simulator",
];

#[test]
fn the_runtime_knows_no_mluvii_and_no_pipeline() {
    let found = uses_of(&sources(&src("runtime")), &PIPELINE);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn capabilities_depend_on_the_contract_not_on_the_runtime() {
    let mut forbidden = PIPELINE.to_vec();
    forbidden.push("runtime");
    let found = uses_of(&sources(&src("capabilities")), &forbidden);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_contract_depends_on_nothing_of_the_host() {
    let found = uses_of(
        &[src("contract.rs")],
        &["runtime", "capabilities", "mluvii"],
    );
    assert!(found.is_empty(), "{found:#?}");
}
