//! A tenant's candidate version in shadow mode: every live event of the tenant also runs on
//! the candidate, after the serving run and never delaying it, in a sandbox of its own with
//! its own state namespace and no outbound HTTP; its activities are compared with the serving
//! version's and recorded, never sent.
//!
//! Shadow runs go through one bounded queue and one worker per dispatcher, and a run starts
//! only when a global run permit is free: under load the serving runs have every permit and
//! shadow events are dropped (and counted) instead of waiting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use super::step::{self, FactsCache};
use crate::metrics::{Metrics, TenantOutcome};
use crate::mluvii::WebhookEvent;
use crate::runtime::{Plugin, Runtime, TenantEnv};
use crate::script::matching::mismatches;
use crate::script::{MatchMode, comparable};

/// Differing events kept per candidate for the admin API.
const RECENT_DIFFERENCES: usize = 20;
/// Differences listed per event.
const DIFFERENCES_PER_EVENT: usize = 10;
/// Shadow events waiting for the worker, across tenants; more are dropped.
pub const SHADOW_QUEUE: usize = 1024;

/// How a candidate takes part in the tenant's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateMode {
    /// Runs beside the serving version; its answers are compared, never sent.
    Shadow,
    /// Serves a share of new sessions for real ([`super::canary`]).
    Canary,
}

/// A candidate version of a tenant's bot.
pub struct Candidate {
    /// The component.
    pub plugin: Arc<Plugin>,
    /// Its bytes (for promotion).
    pub bytes: Arc<Vec<u8>>,
    /// How it runs.
    pub mode: CandidateMode,
    /// In canary mode: its policy, the sessions it must not take, its recent runs.
    pub canary: Option<super::canary::Canary>,
    /// When it was set (ms since the epoch).
    pub since_ms: i64,
    /// Its session facts, apart from the serving version's.
    facts: FactsCache,
    /// What the comparisons found.
    pub stats: ShadowStats,
}

/// What a shadow's comparisons found.
#[derive(Debug, Default)]
pub struct ShadowStats {
    identical: AtomicU64,
    different: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    recent: Mutex<VecDeque<Difference>>,
}

/// One event on which the candidate answered differently.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The event's journal position.
    pub seq: i64,
    /// Its session.
    pub session_id: i64,
    /// When it was compared (ms since the epoch).
    pub at_ms: i64,
    /// What differed, by path (or the candidate's failure).
    pub differences: Vec<String>,
    /// What the serving version answered (or its failure).
    pub serving: Value,
    /// What the candidate answered (or its failure).
    pub candidate: Value,
}

/// How one shadow event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowOutcome {
    /// The same answer.
    Identical,
    /// Another answer.
    Different,
    /// The candidate failed where the serving version answered.
    Failed,
    /// Not run: the queue was full or no run permit was free.
    Dropped,
}

impl ShadowOutcome {
    /// Its name in metrics and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            ShadowOutcome::Identical => "identical",
            ShadowOutcome::Different => "different",
            ShadowOutcome::Failed => "failed",
            ShadowOutcome::Dropped => "dropped",
        }
    }
}

impl Candidate {
    /// `plugin` (from `bytes`) as a shadow candidate from now on.
    pub fn shadow(plugin: Plugin, bytes: Vec<u8>) -> Self {
        Self::shadow_since(plugin, bytes, crate::storage::now_ms())
    }

    /// `plugin` (from `bytes`) as a shadow candidate set at `since_ms`.
    pub fn shadow_since(plugin: Plugin, bytes: Vec<u8>, since_ms: i64) -> Self {
        Self::new(plugin, bytes, since_ms, None)
    }

    /// `plugin` (from `bytes`) set at `since_ms`: a canary when `canary` is given, else a
    /// shadow.
    pub fn new(
        plugin: Plugin,
        bytes: Vec<u8>,
        since_ms: i64,
        canary: Option<super::canary::Canary>,
    ) -> Self {
        Self {
            plugin: Arc::new(plugin),
            bytes: Arc::new(bytes),
            mode: match canary {
                Some(_) => CandidateMode::Canary,
                None => CandidateMode::Shadow,
            },
            canary,
            since_ms,
            facts: FactsCache::default(),
            stats: ShadowStats::default(),
        }
    }

    /// Counts `outcome` (and keeps `difference`, the newest few).
    pub fn record(&self, outcome: ShadowOutcome, difference: Option<Difference>) {
        let counter = match outcome {
            ShadowOutcome::Identical => &self.stats.identical,
            ShadowOutcome::Different => &self.stats.different,
            ShadowOutcome::Failed => &self.stats.failed,
            ShadowOutcome::Dropped => &self.stats.dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(difference) = difference {
            let mut recent = self.stats.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT_DIFFERENCES {
                recent.pop_front();
            }
            recent.push_back(difference);
        }
    }

    /// The admin API's view: mode, hash, counts and the recent differences, newest first.
    pub fn view(&self) -> Value {
        let stats = &self.stats;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (identical, different, failed) = (
            count(&stats.identical),
            count(&stats.different),
            count(&stats.failed),
        );
        let recent: Vec<Difference> = stats
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .cloned()
            .collect();
        let canary = self.canary.as_ref().map(|canary| {
            serde_json::json!({
                "policy": canary.policy,
                "window": canary.figures(),
            })
        });
        serde_json::json!({
            "mode": self.mode,
            "canary": canary,
            "hash": self.plugin.info().hash,
            "size_bytes": self.plugin.info().size_bytes,
            "since_ms": self.since_ms,
            "compared": identical + different + failed,
            "identical": identical,
            "different": different,
            "failed": failed,
            "dropped": count(&stats.dropped),
            "recent_differences": recent,
        })
    }
}

/// What the serving version did with an event, as shadow runs compare it.
pub type ServingAnswer = Result<Vec<Value>, String>;

/// One event for the shadow worker.
pub struct ShadowJob {
    /// The tenant's serving environment (settings, limits, state store) as of the event.
    pub env: Arc<TenantEnv>,
    /// The candidate it runs on.
    pub candidate: Arc<Candidate>,
    /// The event.
    pub event: WebhookEvent,
    /// Its journal position.
    pub seq: i64,
    /// What the serving version answered (comparable bodies) or its failure.
    pub serving: ServingAnswer,
}

/// The candidate's environment: the serving one's settings and limits, its state in a
/// namespace of its own, and no outbound HTTP.
fn shadow_env(serving: &TenantEnv) -> Arc<TenantEnv> {
    Arc::new(TenantEnv {
        id: serving.id.clone(),
        settings: serving.settings.clone(),
        state: serving.state.clone(),
        state_scope: Some(format!("{}#candidate", serving.id)),
        limits: serving.limits,
        http: Default::default(),
        warm: Default::default(),
        long_run: Default::default(),
    })
}

/// Runs `job` on its candidate and records the comparison.
pub async fn run_shadow(runtime: &Runtime, metrics: &Metrics, job: ShadowJob) {
    let env = shadow_env(&job.env);
    let run = step::run_event(
        runtime,
        &job.candidate.plugin,
        &env,
        &job.candidate.facts,
        &job.event,
        false,
    )
    .await;
    let candidate: ServingAnswer = match &run.result {
        Ok(activities) => Ok(activities.iter().map(|a| comparable(a.to_json())).collect()),
        Err(error) => Err(error.to_string()),
    };
    let (outcome, differences) = compare(&job.serving, &candidate);
    metrics
        .candidate_events
        .get_or_create(&TenantOutcome {
            tenant: job.env.id.clone(),
            outcome: outcome.name().to_owned(),
        })
        .inc();
    let difference = (outcome != ShadowOutcome::Identical).then(|| Difference {
        seq: job.seq,
        session_id: job.event.session_id,
        at_ms: crate::storage::now_ms(),
        differences: differences
            .into_iter()
            .take(DIFFERENCES_PER_EVENT)
            .collect(),
        serving: answer_json(&job.serving),
        candidate: answer_json(&candidate),
    });
    job.candidate.record(outcome, difference);
}

fn answer_json(answer: &ServingAnswer) -> Value {
    match answer {
        Ok(bodies) => Value::Array(bodies.clone()),
        Err(error) => serde_json::json!({ "error": error }),
    }
}

/// The comparison of the candidate's answer with the serving version's, and what differed.
pub fn compare(serving: &ServingAnswer, candidate: &ServingAnswer) -> (ShadowOutcome, Vec<String>) {
    match (serving, candidate) {
        (Err(_), Err(_)) => (ShadowOutcome::Identical, vec![]),
        (Ok(_), Err(error)) => (
            ShadowOutcome::Failed,
            vec![format!("the candidate failed: {error}")],
        ),
        (Err(error), Ok(_)) => (
            ShadowOutcome::Different,
            vec![format!(
                "the serving version failed ({error}); the candidate answered"
            )],
        ),
        (Ok(expected), Ok(actual)) => {
            let found = mismatches(
                &Value::Array(expected.clone()),
                &Value::Array(actual.clone()),
                MatchMode::Exact,
            );
            if found.is_empty() {
                (ShadowOutcome::Identical, vec![])
            } else {
                let lines = found.iter().map(|m| format!("activity {m}")).collect();
                (ShadowOutcome::Different, lines)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_compare_by_path_and_failures_are_told_apart() {
        let hello = Ok(vec![json!({"type": "message", "text": "hello"})]);
        let hi = Ok(vec![json!({"type": "message", "text": "hi"})]);
        let failed: ServingAnswer = Err("the bot trapped".into());
        assert_eq!(compare(&hello, &hello).0, ShadowOutcome::Identical);
        let (outcome, lines) = compare(&hello, &hi);
        assert_eq!(outcome, ShadowOutcome::Different);
        assert_eq!(lines, [r#"activity [0].text: expected "hello", got "hi""#]);
        assert_eq!(compare(&hello, &failed).0, ShadowOutcome::Failed);
        assert_eq!(compare(&failed, &hello).0, ShadowOutcome::Different);
        assert_eq!(compare(&failed, &failed).0, ShadowOutcome::Identical);
    }
}
