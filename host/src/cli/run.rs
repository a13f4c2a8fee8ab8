//! `wasmbot run PLUGIN.wasm --event EVENT.json …`: the webhook path, offline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::offline::{self, OfflineBot};
use crate::capabilities::config::Settings;
use crate::mluvii::{Webhook, parse_webhook};

/// Arguments of `wasmbot run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The component file.
    pub plugin: PathBuf,
    /// A webhook body (JSON) as mluvii would POST it; repeat to run several events in order
    /// against the same state. `-` reads one body from stdin.
    #[arg(long = "event", required = true)]
    pub events: Vec<PathBuf>,
    /// The tenant's settings: a JSON or TOML file holding one table.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Keep the bot's state in `DIR/state.db` across runs (default: in memory, discarded).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The tenant id the bot sees.
    #[arg(long, default_value = "cli")]
    pub tenant: String,
}

/// Runs each event through the plugin and prints every resulting Send API body.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let loaded = offline::load(&args.plugin)?;
    let settings = load_settings(args.settings.as_deref())?;
    let bot = OfflineBot::new(
        Arc::new(loaded),
        &args.tenant,
        settings,
        args.state_dir.as_deref(),
    )?;
    let mut stdout = std::io::stdout().lock();
    for path in &args.events {
        let body = read_event(path)?;
        let event = match parse_webhook(&body)
            .with_context(|| format!("{} is not a valid webhook body", path.display()))?
        {
            Webhook::Ping => {
                eprintln!(
                    "{}: Ping is answered by the host; the bot is not run",
                    path.display()
                );
                continue;
            }
            Webhook::Event(event) => event,
        };
        let run = bot.handle(&event);
        let activities = run
            .result
            .with_context(|| format!("{}: the bot failed", path.display()))?;
        for activity in activities {
            writeln!(stdout, "{}", activity.to_json())?;
        }
    }
    Ok(())
}

fn read_event(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)?;
        return Ok(body);
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads a settings file: JSON, or TOML when the name ends in `.toml`.
pub fn load_settings(path: Option<&Path>) -> anyhow::Result<Settings> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "toml") {
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        serde_json::to_value(table)?
    } else {
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?
    };
    if !value.is_object() {
        bail!("{} must hold one table of settings", path.display());
    }
    Settings::from_json(value)
}
