//! `wasmbot test BOT.wasm SCRIPT…`: runs conversation scripts against a bot and reports where
//! its answers differ from the expected ones.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::offline::{self, OfflineBot};
use crate::capabilities::config::Settings;
use crate::dispatch::step::EventRun;
use crate::mluvii::{Webhook, parse_webhook};
use crate::script::matching::mismatches;
use crate::script::{MatchMode, Script, Step, comparable};

/// Arguments of `wasmbot test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The component file.
    pub plugin: PathBuf,
    /// Conversation scripts (JSON, see docs/testing.md); each starts with fresh state.
    #[arg(required = true)]
    pub scripts: Vec<PathBuf>,
    /// Write the script with the bot's actual answers as its expectations to this file (to
    /// start a new script from a conversation); only with one script.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The tenant id the bot sees.
    #[arg(long, default_value = "test")]
    pub tenant: String,
    /// Print every step's activities and the bot's log lines, not only those of failures.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs every script; fails when a step's answer differs from its expectation.
pub fn test(args: &TestArgs) -> anyhow::Result<()> {
    if args.record.is_some() && args.scripts.len() != 1 {
        bail!("--record takes exactly one script");
    }
    // Loaded once: every event gets a fresh instance, and each script a fresh tenant (its own
    // settings and empty state), so scripts stay independent.
    let loaded = Arc::new(offline::load(&args.plugin)?);
    let mut failed = 0;
    let mut total = 0;
    for path in &args.scripts {
        let script = Script::load(path)?;
        let settings = Settings::from_json(Value::Object(script.settings.clone()))
            .with_context(|| format!("{}: `settings`", path.display()))?;
        let bot = OfflineBot::new(loaded.clone(), &args.tenant, settings, None)?;
        println!("{}", path.display());
        let outcome = run_script(&bot, &script, args.verbose)?;
        total += script.steps.len();
        failed += outcome.failed;
        println!(
            "  {} of {} steps passed\n",
            script.steps.len() - outcome.failed,
            script.steps.len()
        );
        if let Some(record) = &args.record {
            let text = serde_json::to_string_pretty(&outcome.recorded)? + "\n";
            std::fs::write(record, text)
                .with_context(|| format!("writing {}", record.display()))?;
            println!("wrote the actual conversation to {}", record.display());
        }
    }
    if failed > 0 {
        bail!("{failed} of {total} steps failed");
    }
    Ok(())
}

/// What running one script found.
struct ScriptOutcome {
    /// Steps whose answer differed.
    failed: usize,
    /// The script with the actual answers as expectations.
    recorded: Script,
}

fn run_script(bot: &OfflineBot, script: &Script, verbose: bool) -> anyhow::Result<ScriptOutcome> {
    let mut recorded = script.clone();
    let mut failed = 0;
    for (index, step) in script.steps.iter().enumerate() {
        let number = index + 1;
        let body = script.webhook_body(step);
        let label = describe(number, &body);
        let event = match parse_webhook(body.to_string().as_bytes())
            .with_context(|| format!("step {number}: `send` is not a valid webhook body"))?
        {
            Webhook::Ping => bail!("step {number}: Ping is answered by the host, not the bot"),
            Webhook::Event(event) => event,
        };
        let run = bot.handle(&event);
        // The bodies as scripts compare them, or the failure's text.
        let actual: Result<Vec<Value>, String> = match &run.result {
            Ok(activities) => Ok(activities.iter().map(|a| comparable(a.to_json())).collect()),
            Err(error) => Err(error.to_string()),
        };
        let report = judge(step, script.match_mode(step), &actual);
        let recorded_step = &mut recorded.steps[index];
        (recorded_step.expect, recorded_step.expect_error) = match &actual {
            Ok(bodies) => (Some(bodies.clone()), None),
            Err(error) => (None, Some(error.clone())),
        };
        match &report {
            None => println!("  ok    {label}"),
            Some(_) => {
                failed += 1;
                println!("  FAIL  {label}");
            }
        }
        if let Some(problems) = &report {
            print!("{problems}");
        }
        if report.is_some() || verbose {
            print!("{}", details(&actual, &run));
        }
    }
    Ok(ScriptOutcome { failed, recorded })
}

/// `None` when the run is what `step` expects, else what differs, one indented line each.
fn judge(step: &Step, mode: MatchMode, actual: &Result<Vec<Value>, String>) -> Option<String> {
    let mut out = String::new();
    match (actual, &step.expect_error, &step.expect) {
        (Err(error), Some(wanted), _) if error.contains(wanted.as_str()) => {}
        (Err(error), Some(wanted), _) => {
            let _ = writeln!(
                out,
                "        the bot failed with `{error}`, not with an error containing `{wanted}`"
            );
        }
        (Err(error), None, _) => {
            let _ = writeln!(out, "        the bot failed: {error}");
        }
        (Ok(_), Some(wanted), _) => {
            let _ = writeln!(
                out,
                "        the bot should have failed with `{wanted}`, but it answered"
            );
        }
        (Ok(_), None, None) => {}
        (Ok(bodies), None, Some(expected)) => {
            let actual = Value::Array(bodies.clone());
            let expected = Value::Array(expected.clone());
            for mismatch in mismatches(&expected, &actual, mode) {
                let _ = writeln!(out, "        activity {mismatch}");
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The bot's actual answer and log lines, for a failure or `--verbose`.
fn details(actual: &Result<Vec<Value>, String>, run: &EventRun) -> String {
    let mut out = String::new();
    if let Ok(bodies) = actual {
        let _ = writeln!(out, "        the bot answered:");
        for body in bodies {
            let _ = writeln!(out, "          {body}");
        }
    }
    if !run.logs.is_empty() {
        let _ = writeln!(out, "        the bot logged:");
        for line in &run.logs {
            let _ = writeln!(out, "          {:?} {}", line.level, line.message);
        }
    }
    out
}

/// `3  Text "Sales" (session 1)`.
fn describe(number: usize, body: &Value) -> String {
    let activity = body["activity"].as_str().unwrap_or("?");
    let session = &body["sessionId"];
    match body.get("text").and_then(Value::as_str) {
        Some(text) => format!("{number:>2}  {activity} {text:?} (session {session})"),
        None => format!("{number:>2}  {activity} (session {session})"),
    }
}
