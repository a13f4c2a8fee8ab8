//! `wasmbot dev`'s edit-save-try loop: watches each bot's sources, rebuilds the bot whose
//! sources changed (with cargo, or with a bot project's own build command), and leaves the swap to the plugin registry, which watches the built
//! component like any plugin file. Build results (and failures, with the compiler's output)
//! go to the dev feed, so the chat page shows them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::feed::DevFeed;
use crate::project::{BuildOutput, Project, last_lines, without_cargo_leaks};

/// Quiet time after a source change before building (editors write several files).
const DEBOUNCE: Duration = Duration::from_millis(300);
/// Lines of compiler output kept with a failed build.
const OUTPUT_TAIL: usize = 40;

/// A bot built from source: a cargo package of the plugins workspace, or a bot project
/// (`bot.toml`) with its own build command.
#[derive(Debug, Clone)]
pub struct BotSource {
    /// The tenant it serves in dev mode.
    pub tenant: String,
    /// The directory its build runs in.
    pub dir: PathBuf,
    /// What is watched: a change under one of these rebuilds the bot.
    pub watched: Vec<PathBuf>,
    how: Builder,
}

#[derive(Debug, Clone)]
enum Builder {
    /// `cargo build -p PACKAGE` for wasm32-wasip2.
    Cargo { package: String },
    /// The project's build command.
    Project(Box<Project>),
}

/// Directories of build output and installed tools, whose changes never rebuild a bot.
const NOT_SOURCES: &[&str] = &["target", "node_modules", ".venv", "build", ".wasmbot"];

impl BotSource {
    /// The bot in the cargo package at `dir` (its `Cargo.toml` names it).
    pub fn from_dir(dir: &Path) -> anyhow::Result<Self> {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("{}: not a cargo package", dir.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        let package = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .with_context(|| format!("{} has no [package] name", manifest.display()))?
            .to_owned();
        Ok(Self {
            tenant: package.clone(),
            dir: dir.to_owned(),
            watched: vec![dir.to_owned()],
            how: Builder::Cargo { package },
        })
    }

    /// The bot of `project`, built with its build command, watching its `[build] watch`.
    pub fn from_project(project: &Project) -> Self {
        Self {
            tenant: project.name().to_owned(),
            dir: project.dir.clone(),
            watched: project.watched(),
            how: Builder::Project(Box::new(project.clone())),
        }
    }

    /// What the dev feed calls the build.
    pub fn label(&self) -> &str {
        match &self.how {
            Builder::Cargo { package } => package,
            Builder::Project(project) => project.name(),
        }
    }

    /// Builds the bot and returns its component's path, or the end of the build's output.
    pub fn build(&self) -> Result<PathBuf, String> {
        match &self.how {
            Builder::Cargo { package } => self.cargo_build(package),
            Builder::Project(project) => project
                .build(BuildOutput::Captured)
                .map(|built| built.component),
        }
    }

    /// Builds the package (release, wasm32-wasip2) and returns its component's path, or the
    /// end of the compiler's output.
    fn cargo_build(&self, package: &str) -> Result<PathBuf, String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = without_cargo_leaks(&mut Command::new(cargo))
            .current_dir(&self.dir)
            .args(["build", "--release", "--target", "wasm32-wasip2", "-p"])
            .arg(package)
            .args(["--message-format", "json-render-diagnostics"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running cargo: {e}"))?;
        if !output.status.success() {
            let tail = last_lines(&String::from_utf8_lossy(&output.stderr), OUTPUT_TAIL);
            return Err(format!(
                "cargo build of {package} failed (is the target installed? `rustup target add wasm32-wasip2`):\n{tail}"
            ));
        }
        component_path(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
            format!("cargo built {package} but named no .wasm artifact (is it a `cdylib`?)")
        })
    }

    /// Whether a change of `path` (canonical) is one of this bot's sources.
    fn is_source(&self, watched: &[PathBuf], path: &Path) -> bool {
        let Some(root) = watched.iter().find(|w| path.starts_with(w)) else {
            return false;
        };
        let inside = path.strip_prefix(root).unwrap_or(path);
        let in_dir = path.strip_prefix(&self.dir).unwrap_or(inside);
        let output = NOT_SOURCES
            .iter()
            .any(|dir| inside.starts_with(dir) || in_dir.starts_with(dir));
        let component = match &self.how {
            Builder::Project(project) => path == project.output(),
            Builder::Cargo { .. } => false,
        };
        !output && !component && path.extension().is_none_or(|e| e != "wasm")
    }
}

/// The `.wasm` file among cargo's `compiler-artifact` messages.
fn component_path(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
        })
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
}

/// Watches the sources of `bots` until dropped.
pub struct SourceWatcher {
    _watcher: Debouncer<RecommendedWatcher, NoCache>,
}

/// Starts watching `bots`' sources (their build output excluded) and rebuilding a bot when
/// they change.
pub fn watch_sources(bots: Vec<BotSource>, feed: Arc<DevFeed>) -> anyhow::Result<SourceWatcher> {
    let canonical = |path: &PathBuf| path.canonicalize().unwrap_or_else(|_| path.clone());
    let targets: Vec<(BotSource, Vec<PathBuf>, Arc<Notify>)> = bots
        .into_iter()
        .map(|bot| {
            let watched = bot.watched.iter().map(canonical).collect();
            (bot, watched, Arc::new(Notify::new()))
        })
        .collect();
    let filters: Vec<(BotSource, Vec<PathBuf>, Arc<Notify>)> = targets.clone();
    // Editors write several files: the events of one quiet period arrive together.
    let wake = move |events: DebounceEventResult| {
        let Ok(events) = events else { return };
        let changed = events
            .iter()
            .filter(|event| !matches!(event.kind, notify::EventKind::Access(_)));
        for path in changed.flat_map(|event| &event.paths) {
            for (bot, watched, waker) in &filters {
                if bot.is_source(watched, path) {
                    waker.notify_one();
                }
            }
        }
    };
    let mut watcher = new_debouncer_opt(DEBOUNCE, None, wake, NoCache, notify::Config::default())?;
    for (bot, watched, waker) in targets {
        for path in &watched {
            if !path.exists() {
                tracing::warn!(bot = %bot.tenant, path = %path.display(), "a watched path does not exist");
                continue;
            }
            watcher
                .watch(path, RecursiveMode::Recursive)
                .with_context(|| format!("watching {}", path.display()))?;
        }
        tokio::spawn(rebuild_on_change(bot, waker, feed.clone()));
    }
    Ok(SourceWatcher { _watcher: watcher })
}

async fn rebuild_on_change(bot: BotSource, changed: Arc<Notify>, feed: Arc<DevFeed>) {
    loop {
        changed.notified().await;
        feed.push(
            "build_started",
            &bot.tenant,
            json!({ "package": bot.label() }),
        );
        tracing::info!(bot = %bot.tenant, "sources changed; rebuilding");
        let builder = bot.clone();
        match tokio::task::spawn_blocking(move || builder.build()).await {
            Ok(Ok(path)) => {
                tracing::info!(bot = %bot.tenant, component = %path.display(), "rebuilt");
                feed.push("build_finished", &bot.tenant, json!({ "component": path }));
            }
            Ok(Err(output)) => {
                tracing::warn!(bot = %bot.tenant, "build failed; the previous version keeps serving");
                feed.push("build_failed", &bot.tenant, json!({ "output": output }));
            }
            Err(e) => {
                feed.push(
                    "build_failed",
                    &bot.tenant,
                    json!({ "output": e.to_string() }),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_found_among_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","filenames":["/t/libwasmbot_sdk.rlib"]}
{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/echo.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            component_path(messages),
            Some(PathBuf::from("/t/wasm32-wasip2/release/echo.wasm"))
        );
        assert_eq!(component_path("not json"), None);
    }
}
