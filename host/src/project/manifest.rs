//! `bot.toml`: what a bot project is (name, language), how it is built, and the settings and
//! outbound hosts it gets in `wasmbot dev` and `wasmbot test`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::capabilities::http::HttpConfig;

/// The whole `bot.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[bot]`.
    pub bot: BotSection,
    /// `[build]`.
    pub build: BuildSection,
    /// `[settings]`: the bot's settings (a server's `[tenant.settings]`).
    #[serde(default)]
    pub settings: toml::Table,
    /// `[http]`: the outbound HTTP policy (a server's `[tenant.http]`).
    #[serde(default)]
    pub http: HttpConfig,
}

/// `[bot]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotSection {
    /// The bot's name: its tenant id in `wasmbot dev` and `wasmbot test`.
    pub name: String,
    /// The language it is written in (which toolchain `wasmbot build` checks for).
    pub language: Language,
}

/// `[build]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// The shell command that builds the component (`sh -c`, in the project directory).
    pub command: String,
    /// The component the command writes, relative to the project directory.
    pub output: PathBuf,
    /// Paths (relative to the project) whose changes make `wasmbot dev` rebuild the bot.
    #[serde(default = "default_watch")]
    pub watch: Vec<PathBuf>,
}

fn default_watch() -> Vec<PathBuf> {
    vec![PathBuf::from("src")]
}

/// The languages `wasmbot new` has templates for, and any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust (cargo, `wasm32-wasip2`).
    Rust,
    /// JavaScript (componentize-qjs).
    Js,
    /// Python (componentize-py).
    Python,
    /// C (clang-19, wasi-libc, `wasmbot componentize`).
    C,
    /// Go (Go 1.25+, `wasmbot componentize`).
    Go,
    /// Anything else: the build command is all `wasmbot build` knows.
    #[serde(other)]
    #[value(skip)]
    Other,
}

impl Language {
    /// The name `bot.toml` and `--lang` use.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Js => "js",
            Language::Python => "python",
            Language::C => "c",
            Language::Go => "go",
            Language::Other => "other",
        }
    }

    /// The name people use.
    pub fn display_name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Js => "JavaScript",
            Language::Python => "Python",
            Language::C => "C",
            Language::Go => "Go",
            Language::Other => "another language",
        }
    }
}

impl Manifest {
    /// Parses `bot.toml`'s text, refusing unknown keys and a name that cannot be a tenant id.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let manifest: Manifest = toml::from_str(text)?;
        super::check_name(&manifest.bot.name).map_err(|e| anyhow::anyhow!("[bot] name: {e}"))?;
        if manifest.build.command.trim().is_empty() {
            anyhow::bail!("[build] command is empty");
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [bot]
        name = "greeter"
        language = "rust"
        [build]
        command = "cargo build --release"
        output = "target/wasm32-wasip2/release/greeter.wasm"
    "#;

    #[test]
    fn a_minimal_manifest_gets_the_defaults() {
        let manifest = Manifest::parse(MINIMAL).unwrap();
        assert_eq!(manifest.bot.language, Language::Rust);
        assert_eq!(manifest.build.watch, vec![PathBuf::from("src")]);
        assert!(manifest.settings.is_empty());
        assert!(manifest.http.allowed_hosts.is_empty());
    }

    #[test]
    fn an_unknown_language_is_other_and_an_unknown_key_is_refused() {
        let other = MINIMAL.replace("\"rust\"", "\"zig\"");
        assert_eq!(
            Manifest::parse(&other).unwrap().bot.language,
            Language::Other
        );
        let typo = MINIMAL.replace("output", "outptu");
        let error = Manifest::parse(&typo).unwrap_err().to_string();
        assert!(error.contains("outptu"), "{error}");
    }

    #[test]
    fn a_name_that_cannot_be_a_tenant_id_is_refused() {
        let bad = MINIMAL.replace("\"greeter\"", "\"Greeter Bot\"");
        let error = Manifest::parse(&bad).unwrap_err().to_string();
        assert!(error.contains("[bot] name"), "{error}");
    }
}
