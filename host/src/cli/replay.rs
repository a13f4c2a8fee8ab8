//! `wasmbot replay --config FILE --tenant T --plugin NEW.wasm`: runs a tenant's real
//! conversations, read back from the journal, through a candidate version and compares its
//! answers, event by event, with what the serving version produced. Each conversation runs
//! from its first event in order with a scratch state of its own (the candidate never sees or
//! changes the tenant's real state), and its outbound HTTP is refused unless `--allow-http`
//! (a replayed request would repeat its side effects at the bot's backend).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::Value;

use super::export::{expected_bodies, first_line};
use super::history::{Conversation, History, parse_time};
use super::offline::{self, OfflineBot};
use crate::capabilities::config::Settings;
use crate::capabilities::http::TenantHttp;
use crate::mluvii::{Webhook, parse_webhook};
use crate::script::matching::mismatches;
use crate::script::{MatchMode, comparable};

/// Arguments of `wasmbot replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The server's configuration (its storage and the tenant's settings).
    #[arg(long, short, default_value = "wasmbot.toml", env = "WASMBOT_CONFIG")]
    pub config: PathBuf,
    /// The tenant whose conversations are replayed.
    #[arg(long)]
    pub tenant: String,
    /// The candidate component.
    #[arg(long)]
    pub plugin: PathBuf,
    /// Conversations with an event received at or after this (RFC 3339, or a duration before
    /// now: `30m`, `2h`, `1d`); default: all the journal holds.
    #[arg(long)]
    pub since: Option<String>,
    /// … and before this.
    #[arg(long)]
    pub until: Option<String>,
    /// Only these sessions (repeatable).
    #[arg(long = "session")]
    pub sessions: Vec<i64>,
    /// A JSON report on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 even when conversations differ or fail.
    #[arg(long)]
    pub report_only: bool,
    /// Let the candidate's outbound HTTP through, within the tenant's `[tenant.http]` policy
    /// (off by default: replayed requests repeat their side effects).
    #[arg(long)]
    pub allow_http: bool,
    /// Differences listed per conversation.
    #[arg(long, default_value_t = 5)]
    pub max_differences: usize,
}

/// How one conversation's replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every event got the answer the serving version gave.
    Identical,
    /// At least one event got another answer.
    Different,
    /// The candidate failed (trap, timeout, limit, error) where the serving version answered.
    Failed,
    /// Not replayed: the journal does not hold its start (past retention).
    Skipped,
}

/// One conversation's replay.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationReport {
    /// The session.
    pub session_id: i64,
    /// The outcome.
    pub verdict: Verdict,
    /// Events compared.
    pub events: usize,
    /// The first event that differed or failed (1-based, among the compared ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference_at: Option<usize>,
    /// Its journal position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference_seq: Option<i64>,
    /// What differed there, by path (at most `--max-differences`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

/// The whole replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The tenant.
    pub tenant: String,
    /// The candidate's content hash.
    pub candidate: String,
    /// Counts by verdict.
    pub identical: usize,
    /// …
    pub different: usize,
    /// …
    pub failed: usize,
    /// …
    pub skipped: usize,
    /// Each conversation.
    pub conversations: Vec<ConversationReport>,
}

/// Replays and reports; errs (exit 1) when a conversation differs or failed.
pub fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let history = History::open(&args.config, &args.tenant)?;
    let since = args.since.as_deref().map(parse_time).transpose()?;
    let until = args.until.as_deref().map(parse_time).transpose()?;
    let conversations = history.conversations(
        since.unwrap_or(i64::MIN),
        until.unwrap_or(i64::MAX),
        &args.sessions,
    )?;
    let loaded = Arc::new(offline::load(&args.plugin)?);
    let settings = Settings::from_json(Value::Object(history.settings()?))
        .with_context(|| format!("tenant {} settings", args.tenant))?;
    let http = if args.allow_http {
        Arc::new(TenantHttp::new(history.tenant.http.policy())?)
    } else {
        Arc::default()
    };
    let retention = history.config.server.retention_hours;
    let mut reports = Vec::with_capacity(conversations.len());
    for conversation in &conversations {
        if !conversation.complete(retention) {
            reports.push(skipped(conversation));
            continue;
        }
        let bot = OfflineBot::new(loaded.clone(), &args.tenant, settings.clone(), None)?
            .with_http(http.clone());
        reports.push(replay_one(&bot, conversation, args.max_differences)?);
    }
    let count = |verdict| reports.iter().filter(|r| r.verdict == verdict).count();
    let report = ReplayReport {
        tenant: args.tenant.clone(),
        candidate: loaded.plugin.info().hash.clone(),
        identical: count(Verdict::Identical),
        different: count(Verdict::Different),
        failed: count(Verdict::Failed),
        skipped: count(Verdict::Skipped),
        conversations: reports,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text_report(&report));
    }
    if (report.different > 0 || report.failed > 0) && !args.report_only {
        bail!(
            "{} conversations differ and {} failed on the candidate",
            report.different,
            report.failed
        );
    }
    Ok(())
}

fn skipped(conversation: &Conversation) -> ConversationReport {
    ConversationReport {
        session_id: conversation.session_id,
        verdict: Verdict::Skipped,
        events: 0,
        first_difference_at: None,
        first_difference_seq: None,
        differences: vec![
            "its first journaled event is not ConversationStarted and earlier events may be past retention".into(),
        ],
    }
}

/// Runs `conversation` through `bot` and compares each processed event's answer.
fn replay_one(
    bot: &OfflineBot,
    conversation: &Conversation,
    max_differences: usize,
) -> anyhow::Result<ConversationReport> {
    let mut report = ConversationReport {
        session_id: conversation.session_id,
        verdict: Verdict::Identical,
        events: 0,
        first_difference_at: None,
        first_difference_seq: None,
        differences: Vec::new(),
    };
    for event in &conversation.events {
        if !event.processed {
            // Its outcome is not known yet: nothing to compare with, here or after.
            break;
        }
        let parsed = match parse_webhook(&event.body) {
            Ok(Webhook::Event(parsed)) => parsed,
            Ok(Webhook::Ping) | Err(_) => continue,
        };
        report.events += 1;
        let run = bot.handle(&parsed);
        let (verdict, differences) = compare(event, run.result.as_ref().map_err(|e| e.to_string()));
        if verdict != Verdict::Identical && report.verdict == Verdict::Identical {
            report.verdict = verdict;
            report.first_difference_at = Some(report.events);
            report.first_difference_seq = Some(event.seq);
            report.differences = differences.into_iter().take(max_differences).collect();
        }
    }
    Ok(report)
}

/// How the candidate's answer to `event` compares with the serving version's.
fn compare(
    event: &crate::storage::LoggedEvent,
    candidate: Result<&Vec<crate::mluvii::SendActivity>, String>,
) -> (Verdict, Vec<String>) {
    match (candidate, &event.error) {
        (Err(_), Some(_)) => (Verdict::Identical, vec![]),
        (Err(error), None) => (
            Verdict::Failed,
            vec![format!("the candidate failed: {}", first_line(&error))],
        ),
        (Ok(_), Some(error)) => (
            Verdict::Different,
            vec![format!(
                "the serving version failed ({}); the candidate answered",
                first_line(error)
            )],
        ),
        (Ok(activities), None) => {
            let actual = Value::Array(activities.iter().map(|a| comparable(a.to_json())).collect());
            let expected = Value::Array(expected_bodies(&event.activities));
            let found = mismatches(&expected, &actual, MatchMode::Exact);
            if found.is_empty() {
                (Verdict::Identical, vec![])
            } else {
                let lines = found.iter().map(|m| format!("activity {m}")).collect();
                (Verdict::Different, lines)
            }
        }
    }
}

fn text_report(report: &ReplayReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay of tenant {} against {}",
        report.tenant, report.candidate
    );
    for conversation in &report.conversations {
        let verdict = match conversation.verdict {
            Verdict::Identical => "identical",
            Verdict::Different => "DIFFERENT",
            Verdict::Failed => "FAILED",
            Verdict::Skipped => "skipped",
        };
        let _ = write!(
            out,
            "  {verdict:<10} session {} ({} events)",
            conversation.session_id, conversation.events
        );
        if let (Some(at), Some(seq)) = (
            conversation.first_difference_at,
            conversation.first_difference_seq,
        ) {
            let _ = write!(out, ", first at event {at} (journal {seq})");
        }
        let _ = writeln!(out);
        for line in &conversation.differences {
            let _ = writeln!(out, "        {line}");
        }
    }
    let _ = writeln!(
        out,
        "{} identical, {} different, {} failed, {} skipped",
        report.identical, report.different, report.failed, report.skipped
    );
    out
}
