//! Bot projects outside wasmbot's repository: a directory with a `bot.toml` (name, language,
//! build command, output, settings, outbound hosts), made by `wasmbot new` from the embedded
//! templates and used by `wasmbot build`, `wasmbot test` and `wasmbot dev`.

mod build;
mod manifest;
mod templates;
mod toolchain;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub use build::{BuildOutput, Built, last_lines, without_cargo_leaks};
pub use manifest::{Language, Manifest};
pub use templates::{write_project, write_sdk};

/// The manifest's file name.
pub const MANIFEST: &str = "bot.toml";
/// The directory of a project's conversation scripts.
pub const TESTS_DIR: &str = "tests";

/// A bot project: its directory and its `bot.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `bot.toml`.
    pub dir: PathBuf,
    /// `bot.toml`.
    pub manifest: Manifest,
}

impl Project {
    /// The project whose `bot.toml` is in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let manifest =
            Manifest::parse(&text).with_context(|| format!("{} is not valid", path.display()))?;
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        Ok(Self { dir, manifest })
    }

    /// The project `start` is in: the nearest directory from `start` upwards with a
    /// `bot.toml`; `None` when there is none.
    pub fn find(start: &Path) -> anyhow::Result<Option<Self>> {
        let start = start.canonicalize().unwrap_or_else(|_| start.to_owned());
        match start.ancestors().find(|dir| dir.join(MANIFEST).is_file()) {
            Some(dir) => Self::load(dir).map(Some),
            None => Ok(None),
        }
    }

    /// The bot's name (its tenant id in `dev` and `test`).
    pub fn name(&self) -> &str {
        &self.manifest.bot.name
    }

    /// The component the build writes.
    pub fn output(&self) -> PathBuf {
        self.dir.join(&self.manifest.build.output)
    }

    /// The paths whose changes rebuild the bot in `wasmbot dev`.
    pub fn watched(&self) -> Vec<PathBuf> {
        self.manifest
            .build
            .watch
            .iter()
            .map(|path| self.dir.join(path))
            .collect()
    }

    /// The conversation scripts: every `tests/*.json`, by name.
    pub fn scripts(&self) -> anyhow::Result<Vec<PathBuf>> {
        let dir = self.dir.join(TESTS_DIR);
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        let mut scripts = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "json") {
                scripts.push(path);
            }
        }
        scripts.sort();
        Ok(scripts)
    }

    /// The settings as JSON (what a bot's `config` import reads).
    pub fn settings_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(&self.manifest.settings) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

/// Whether `name` can name a project (a directory, a package and a tenant): 1–64 characters
/// of a-z, 0-9 and '-', starting with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 1–64 characters of a-z, 0-9 and '-', starting with a letter and not ending with '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("greeter").is_ok());
        assert!(check_name("my-bot-2").is_ok());
        for bad in [
            "",
            "2bot",
            "My-bot",
            "my_bot",
            "my bot",
            "bot-",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_project_is_found_from_a_directory_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        write_project(dir.path(), "finder", Language::Js).unwrap();
        let found = Project::find(&dir.path().join("src")).unwrap().unwrap();
        assert_eq!(found.name(), "finder");
        assert_eq!(found.scripts().unwrap().len(), 1);
        assert_eq!(
            found.settings_json()["greeting"],
            "Hello! I am finder. Write anything and I will repeat it."
        );
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(Project::find(elsewhere.path()).unwrap().is_none());
    }
}
