//! `wasmbot test [BOT.wasm SCRIPT…]`: runs conversation scripts against a bot (a component,
//! or the bot project here, built first) and reports where its answers differ from the
//! expected ones. The bot's outbound requests get the scripts' `http` answers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use super::junit::{CaseResult, SuiteResult};
use super::offline::{self, OfflineBot};
use crate::capabilities::config::Settings;
use crate::capabilities::http::{AllowedOrigin, HttpConfig, HttpStub, TenantHttp};
use crate::dispatch::step::EventRun;
use crate::mluvii::{Webhook, parse_webhook};
use crate::project::BuildOutput;
use crate::script::matching::mismatches;
use crate::script::{MatchMode, Script, Step, comparable};

/// Arguments of `wasmbot test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The component file. Without it (or given a directory), the bot project here (or
    /// there) is built with its `bot.toml` and its scripts run.
    pub plugin: Option<PathBuf>,
    /// Conversation scripts (JSON, see docs/testing.md); each starts with fresh state. In a
    /// project, every `tests/*.json` when none is given.
    pub scripts: Vec<PathBuf>,
    /// Write the script with the bot's actual answers as its expectations to this file (to
    /// start a new script from a conversation); only with one script.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The tenant id the bot sees (default: the project's name, else `test`).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print every step's activities and the bot's log lines, not only those of failures.
    #[arg(long, short)]
    pub verbose: bool,
    /// Also write the results as JUnit XML to this file (for CI systems).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// An origin the bot's outbound requests may go to (as `allowed_hosts` of `[http]` in
    /// `bot.toml`, which a project uses); the scripts' `http` answers answer them. Repeatable.
    #[arg(long = "allow-host", value_name = "ORIGIN")]
    pub allow_hosts: Vec<String>,
}

/// What the scripts run against: the component, the base settings, the tenant, the policy.
struct Target {
    plugin: Arc<offline::LoadedPlugin>,
    scripts: Vec<PathBuf>,
    settings: Map<String, Value>,
    tenant: String,
    http: HttpConfig,
}

/// Runs every script; fails when a step's answer differs from its expectation.
pub fn test(args: &TestArgs) -> anyhow::Result<()> {
    let target = target(args)?;
    if args.record.is_some() && target.scripts.len() != 1 {
        bail!("--record takes exactly one script");
    }
    // Loaded once: every event gets a fresh instance, and each script a fresh tenant (its own
    // settings and empty state), so scripts stay independent.
    let loaded = &target.plugin;
    let mut failed = 0;
    let mut total = 0;
    let mut broken = 0;
    let mut suites = Vec::new();
    for path in &target.scripts {
        let started = Instant::now();
        let here = std::env::current_dir().unwrap_or_default();
        let shown = path.strip_prefix(&here).unwrap_or(path);
        let mut suite = SuiteResult {
            name: shown.display().to_string(),
            ..SuiteResult::default()
        };
        println!("{}", shown.display());
        let outcome = match run_file(loaded, &target, path, args.verbose) {
            Ok(outcome) => outcome,
            Err(error) => {
                let error = format!("{error:#}");
                println!("  ERROR (below)\n");
                eprintln!("error: {error}");
                suite.error = Some(error);
                suite.time = started.elapsed();
                suites.push(suite);
                broken += 1;
                continue;
            }
        };
        let steps = outcome.cases.len();
        let failures = outcome.cases.iter().filter(|c| c.failure.is_some()).count();
        total += steps;
        failed += failures;
        println!("  {} of {steps} steps passed\n", steps - failures);
        if let Some(record) = &args.record {
            let text = serde_json::to_string_pretty(&outcome.recorded)? + "\n";
            std::fs::write(record, text)
                .with_context(|| format!("writing {}", record.display()))?;
            println!("wrote the actual conversation to {}", record.display());
        }
        suite.cases = outcome.cases;
        suite.time = started.elapsed();
        suites.push(suite);
    }
    if let Some(junit) = &args.junit {
        super::junit::write(junit, &suites)?;
        println!("wrote the JUnit report to {}", junit.display());
    }
    match (failed, broken) {
        (0, 0) => Ok(()),
        (_, 0) => bail!("{failed} of {total} steps failed"),
        (0, _) => bail!("{broken} of {} scripts could not run", suites.len()),
        _ => bail!(
            "{failed} of {total} steps failed, and {broken} of {} scripts could not run",
            suites.len()
        ),
    }
}

/// The component and scripts of `args`: a component file and its scripts, or a project built
/// here with its `bot.toml`.
fn target(args: &TestArgs) -> anyhow::Result<Target> {
    let mut http = HttpConfig::default();
    let allowed: Vec<AllowedOrigin> = args
        .allow_hosts
        .iter()
        .map(|origin| AllowedOrigin::parse(origin))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--allow-host: {e}"))?;
    let component = args.plugin.as_ref().filter(|p| !p.is_dir());
    if let Some(plugin) = component {
        if args.scripts.is_empty() {
            bail!(
                "give the scripts to run after {} (or run `wasmbot test` in a bot project)",
                plugin.display()
            );
        }
        http.allowed_hosts = allowed;
        return Ok(Target {
            plugin: Arc::new(offline::load(plugin)?),
            scripts: args.scripts.clone(),
            settings: Map::new(),
            tenant: args.tenant.clone().unwrap_or_else(|| "test".to_owned()),
            http,
        });
    }
    let project = super::build::project_at(args.plugin.as_deref())?;
    let plugin = Arc::new(super::build::build_and_check(
        &project,
        BuildOutput::Captured,
    )?);
    let scripts = if args.scripts.is_empty() {
        project.scripts()?
    } else {
        args.scripts.clone()
    };
    if scripts.is_empty() {
        bail!("{} has no scripts (tests/*.json)", project.dir.display());
    }
    http = project.manifest.http.clone();
    http.allowed_hosts.extend(allowed);
    Ok(Target {
        plugin,
        scripts,
        settings: project.settings_json(),
        tenant: args
            .tenant
            .clone()
            .unwrap_or_else(|| project.name().to_owned()),
        http,
    })
}

/// Loads the script at `path` and runs it against a fresh tenant of `loaded`.
fn run_file(
    loaded: &Arc<offline::LoadedPlugin>,
    target: &Target,
    path: &Path,
    verbose: bool,
) -> anyhow::Result<ScriptOutcome> {
    let script = Script::load(path)?;
    let mut settings = target.settings.clone();
    settings.extend(script.settings.clone());
    let settings = Settings::from_json(Value::Object(settings))
        .with_context(|| format!("{}: `settings`", path.display()))?;
    let stub = Arc::new(HttpStub::default());
    let access = TenantHttp::stubbed(target.http.policy(), stub.clone());
    let bot = OfflineBot::new(loaded.clone(), &target.tenant, settings, None)?
        .with_http(Arc::new(access));
    run_script(&bot, &stub, &script, verbose)
}

/// What running one script found.
struct ScriptOutcome {
    /// Each step's result.
    cases: Vec<CaseResult>,
    /// The script with the actual answers as expectations.
    recorded: Script,
}

fn run_script(
    bot: &OfflineBot,
    stub: &HttpStub,
    script: &Script,
    verbose: bool,
) -> anyhow::Result<ScriptOutcome> {
    let mut recorded = script.clone();
    let mut cases = Vec::new();
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
        stub.set_answers(script.http_answers(step));
        let started = Instant::now();
        let run = bot.handle(&event);
        let time = started.elapsed();
        // The bodies as scripts compare them, or the failure's text.
        let actual: Result<Vec<Value>, String> = match &run.result {
            Ok(activities) => Ok(activities.iter().map(|a| comparable(a.to_json())).collect()),
            Err(error) => Err(error.to_string()),
        };
        let mut report = judge(step, script.match_mode(step), &actual);
        let requests = stub.take_problems();
        if !requests.is_empty() {
            let text = report.get_or_insert_with(String::new);
            for problem in &requests {
                let _ = writeln!(text, "        {problem}");
            }
        }
        let answered = stub.take_answered();
        let recorded_step = &mut recorded.steps[index];
        (recorded_step.expect, recorded_step.expect_error) = match &actual {
            Ok(bodies) => (Some(bodies.clone()), None),
            Err(error) => (None, Some(error.clone())),
        };
        match &report {
            None => println!("  ok    {label}"),
            Some(_) => println!("  FAIL  {label}"),
        }
        let mut shown = String::new();
        if let Some(problems) = &report {
            shown += problems;
        }
        if report.is_some() || verbose {
            for request in &answered {
                let _ = writeln!(shown, "        answered {request}");
            }
            shown += &details(&actual, &run);
        }
        print!("{shown}");
        let failure = report.map(|problems| {
            let summary = problems
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            (summary, shown.clone())
        });
        cases.push(CaseResult {
            name: label,
            failure,
            time,
        });
    }
    Ok(ScriptOutcome { cases, recorded })
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
