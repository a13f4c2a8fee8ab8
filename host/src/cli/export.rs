//! `wasmbot export --config FILE --tenant T --session ID -o SCRIPT.json`: a real conversation
//! as a `wasmbot test` script. Its events are the journaled webhook bodies; each step expects
//! exactly the Send API bodies the serving version stored for it (the host's `timestamp` left
//! out), or the failure it had. So a real chat becomes a regression test in one command.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use super::history::{Conversation, History, activity_name};
use crate::script::{MatchMode, Script, Step, comparable};

/// Arguments of `wasmbot export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The server's configuration (its storage and the tenant's settings).
    #[arg(long, short, default_value = "wasmbot.toml", env = "WASMBOT_CONFIG")]
    pub config: PathBuf,
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// The session (mluvii's session id).
    #[arg(long)]
    pub session: i64,
    /// Where to write the script.
    #[arg(long, short)]
    pub output: PathBuf,
}

/// Writes the conversation as a script.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let history = History::open(&args.config, &args.tenant)?;
    let conversations = history.conversations(i64::MIN, i64::MAX, &[args.session])?;
    let Some(conversation) = conversations.first() else {
        bail!(
            "the journal holds no event of session {} of tenant {} (processed events are kept for server.retention_hours)",
            args.session,
            args.tenant
        );
    };
    let script = script_of(conversation, history.settings()?, &args.tenant);
    let text = serde_json::to_string_pretty(&script)? + "\n";
    std::fs::write(&args.output, text)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote session {} of tenant {} ({} steps) to {}",
        args.session,
        args.tenant,
        script.steps.len(),
        args.output.display()
    );
    if !conversation.complete(history.config.server.retention_hours) {
        println!(
            "note: its first journaled event is not ConversationStarted; earlier events may be past retention"
        );
    }
    Ok(())
}

/// The script of `conversation`: one step per event the bot ran (pings are the host's),
/// expecting what the serving version produced; events not yet processed are left
/// unchecked.
pub fn script_of(
    conversation: &Conversation,
    settings: Map<String, Value>,
    tenant: &str,
) -> Script {
    let steps = conversation
        .events
        .iter()
        .filter_map(|event| {
            let Ok(Value::Object(send)) = serde_json::from_slice::<Value>(&event.body) else {
                return None;
            };
            let send_value = Value::Object(send);
            if activity_name(&send_value)?.eq_ignore_ascii_case("ping") {
                return None;
            }
            let Value::Object(send) = send_value else {
                return None;
            };
            let (expect, expect_error) = match (&event.error, event.processed) {
                (Some(error), _) => (None, Some(first_line(error))),
                (None, true) => (Some(expected_bodies(&event.activities)), None),
                (None, false) => (None, None),
            };
            Some(Step {
                send,
                expect,
                r#match: None,
                expect_error,
                http: Vec::new(),
            })
        })
        .collect();
    Script {
        description: Some(format!(
            "session {} of tenant {tenant}, exported from the journal",
            conversation.session_id
        )),
        settings,
        defaults: Map::new(),
        r#match: MatchMode::Exact,
        http: Vec::new(),
        steps,
    }
}

/// The stored Send API bodies as scripts compare them.
pub fn expected_bodies(activities: &[String]) -> Vec<Value> {
    activities
        .iter()
        .map(|body| comparable(serde_json::from_str(body).unwrap_or(Value::String(body.clone()))))
        .collect()
}

/// The failure's first line, without the bot's last log lines the stored reason carries.
pub fn first_line(error: &str) -> String {
    let error = error
        .split("; the bot's last words: ")
        .next()
        .unwrap_or(error);
    error.lines().next().unwrap_or(error).trim().to_owned()
}
