//! The templates `wasmbot new` writes, and wasmbot's guest layers (`sdk/`), both embedded in
//! the binary so a project is made offline and outside wasmbot's repository.

use std::path::Path;

use anyhow::Context as _;
use include_dir::{Dir, DirEntry, include_dir};

use super::manifest::Language;

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");
static WIT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../wit");
static RUST_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../guest-sdk/src");
static JS_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../guest-sdk-js");
static PYTHON_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../guest-sdk-python");
static C_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../guest-sdk-c");
static GO_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../guest-sdk-go");

/// Values the templates' `{{…}}` placeholders stand for.
struct Placeholders<'a> {
    name: &'a str,
    language: Language,
}

impl Placeholders<'_> {
    fn fill(&self, text: &str) -> String {
        text.replace("{{name}}", self.name)
            .replace("{{crate}}", &self.name.replace('-', "_"))
            .replace("{{language}}", self.language.display_name())
            .replace("{{source}}", source_file(self.language))
            .replace("{{toolchain}}", toolchain_summary(self.language))
    }
}

fn source_file(language: Language) -> &'static str {
    match language {
        Language::Rust => "src/lib.rs",
        Language::Js => "src/app.js",
        Language::Python => "src/app.py",
        Language::C => "src/app.c",
        Language::Go => "src/bot.go",
        Language::Other => "src/",
    }
}

fn toolchain_summary(language: Language) -> &'static str {
    match language {
        Language::Rust => "cargo and the wasm32-wasip2 target",
        Language::Js => "componentize-qjs from package-lock.json, installed on the first build",
        Language::Python => "componentize-py from requirements.txt, in .venv on the first build",
        Language::C => "clang-19 and wasi-libc, then `wasmbot componentize`",
        Language::Go => "Go and wit-bindgen's Go package, then `wasmbot componentize`",
        Language::Other => "the command in bot.toml",
    }
}

/// Writes a new project `name` in `language` into the empty or missing directory `dir`.
pub fn write_project(dir: &Path, name: &str, language: Language) -> anyhow::Result<()> {
    let own = TEMPLATES
        .get_dir(language.name())
        .with_context(|| format!("no template for {}", language.display_name()))?;
    let common = TEMPLATES.get_dir("common").context("no common template")?;
    let values = Placeholders { name, language };
    for template in [common, own] {
        write_tree(template, Path::new(template.path()), dir, &|text| {
            values.fill(text)
        })?;
    }
    // The Rust layer's manifest is the template's, not the repository's workspace member.
    if language == Language::Rust {
        std::fs::remove_file(dir.join("sdk-Cargo.toml"))?;
    }
    write_sdk(dir, language)
}

/// Writes (or rewrites) `sdk/` of a project in `language`: the contract's WIT and the
/// language's layer, as this binary has them. Returns the directory written.
pub fn write_sdk(dir: &Path, language: Language) -> anyhow::Result<()> {
    let sdk = dir.join("sdk");
    if sdk.exists() {
        std::fs::remove_dir_all(&sdk).with_context(|| format!("removing {}", sdk.display()))?;
    }
    let verbatim = |text: &str| text.to_owned();
    write_tree(&WIT, WIT.path(), &sdk.join("wit"), &verbatim)?;
    match language {
        Language::Rust => {
            let rust = sdk.join("rust");
            write_tree(&RUST_SDK, RUST_SDK.path(), &rust.join("src"), &verbatim)?;
            let manifest = TEMPLATES
                .get_file("rust/sdk-Cargo.toml")
                .context("no Rust layer manifest")?;
            write_file(&rust.join("Cargo.toml"), manifest.contents())?;
        }
        Language::Js => write_tree(&JS_SDK, JS_SDK.path(), &sdk.join("js"), &verbatim)?,
        Language::Python => write_tree(
            &PYTHON_SDK,
            PYTHON_SDK.path(),
            &sdk.join("python"),
            &verbatim,
        )?,
        Language::C => write_tree(&C_SDK, C_SDK.path(), &sdk.join("c"), &verbatim)?,
        Language::Go => write_tree(&GO_SDK, GO_SDK.path(), &sdk.join("go"), &verbatim)?,
        Language::Other => {}
    }
    Ok(())
}

/// Copies `tree` (whose own path is `root`) to `to`: text files through `fill`, binary files
/// as they are. A `gitignore` becomes `.gitignore` (packagers drop dot files); compiled
/// Python is left out.
fn write_tree(
    tree: &Dir<'_>,
    root: &Path,
    to: &Path,
    fill: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    for entry in tree.entries() {
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if relative
            .components()
            .any(|c| c.as_os_str() == "__pycache__")
        {
            continue;
        }
        match entry {
            DirEntry::Dir(dir) => write_tree(dir, root, to, fill)?,
            DirEntry::File(file) => {
                let mut target = to.join(relative);
                if target.file_name().is_some_and(|n| n == "gitignore") {
                    target.set_file_name(".gitignore");
                }
                match file.contents_utf8() {
                    Some(text) => write_file(&target, fill(text).as_bytes())?,
                    None => write_file(&target, file.contents())?,
                }
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_its_files_with_the_name_filled_in() {
        for language in [
            Language::Rust,
            Language::Js,
            Language::Python,
            Language::C,
            Language::Go,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join("my-bot");
            write_project(&project, "my-bot", language).unwrap();
            let manifest = super::super::Manifest::parse(
                &std::fs::read_to_string(project.join("bot.toml")).unwrap(),
            )
            .unwrap();
            assert_eq!(manifest.bot.name, "my-bot");
            assert_eq!(manifest.bot.language, language);
            assert!(project.join(source_file(language)).exists(), "{language:?}");
            assert!(project.join("sdk/wit/world.wit").exists(), "{language:?}");
            assert!(project.join("tests/conversation.json").exists());
            assert!(project.join(".gitignore").exists());
            let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
            assert!(!readme.contains("{{"), "{readme}");
            assert!(!project.join("sdk-Cargo.toml").exists());
        }
    }

    #[test]
    fn the_rust_layer_points_at_the_written_wit_and_pins_its_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        write_project(dir.path(), "my-bot", Language::Rust).unwrap();
        let lib = std::fs::read_to_string(dir.path().join("sdk/rust/src/lib.rs")).unwrap();
        assert!(lib.contains("path: \"../wit\""));
        let manifest = std::fs::read_to_string(dir.path().join("sdk/rust/Cargo.toml")).unwrap();
        assert!(manifest.contains("wit-bindgen = \"=0.63.0\""), "{manifest}");
        let cargo = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"my-bot\""), "{cargo}");
        let bot = std::fs::read_to_string(dir.path().join("bot.toml")).unwrap();
        assert!(bot.contains("release/my_bot.wasm"), "{bot}");
    }

    /// The templates pin what the example bots of `plugins/` are built and tested with.
    #[test]
    fn the_templates_pin_the_versions_the_example_bots_use() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |path: &str| std::fs::read_to_string(repo.join(path)).unwrap();
        let plugins: toml::Table = toml::from_str(&read("plugins/Cargo.toml")).unwrap();
        let sdk: toml::Table = toml::from_str(&read("host/templates/rust/sdk-Cargo.toml")).unwrap();
        for crate_name in ["wit-bindgen", "serde", "serde_json"] {
            let version = |table: &toml::Value| match table {
                toml::Value::String(v) => v.clone(),
                other => other["version"].as_str().unwrap().to_owned(),
            };
            assert_eq!(
                version(&sdk["dependencies"][crate_name]),
                version(&plugins["workspace"]["dependencies"][crate_name]),
                "{crate_name}"
            );
        }
        let pins = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            pins(&read("host/templates/python/requirements.txt")),
            pins(&read("plugins/requirements.txt"))
        );
        let package = |path: &str| -> serde_json::Value {
            serde_json::from_str(&read(path).replace("{{name}}", "x")).unwrap()
        };
        assert_eq!(
            package("host/templates/js/package.json")["devDependencies"]["componentize-qjs"],
            package("plugins/package.json")["devDependencies"]["componentize-qjs"]
        );
    }
}
