//! Runs a session's journaled events through its tenant's bot, one at a time in journal
//! order, and stores each event's activities in the transaction that marks it processed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::Instrument;

use super::{BATCH, Dispatcher, Stage, Tenant};
use crate::metrics::{self, TenantOutcome};
use crate::mluvii::{Webhook, parse_webhook};
use crate::storage::{Completion, JournalEntry, NewActivity};

impl Dispatcher {
    /// Runs up to a batch of the session's events; returns whether more may be waiting. A
    /// run worker takes a global permit only for the bot run itself, so a tenant with a deep
    /// backlog holds at most its own share (its run workers) of the global permits.
    pub(super) async fn run_session(self: &Arc<Self>, tenant: &Arc<Tenant>, session: i64) -> bool {
        let events = match self
            .storage
            .pending_events(tenant.id(), session, BATCH)
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(tenant = %tenant.id(), session, error = %format!("{e:#}"), "reading the journal failed; the sweep retries");
                return false;
            }
        };
        let full = events.len() == BATCH;
        for entry in events {
            if self.stopping() {
                return false;
            }
            let span =
                tracing::info_span!("event", tenant = %tenant.id(), session, seq = entry.seq);
            if !self.run_event(tenant, entry).instrument(span).await {
                return false;
            }
        }
        full
    }

    /// Runs one event and stores the outcome; `false` when the session must wait (no plugin,
    /// storage failure).
    async fn run_event(self: &Arc<Self>, tenant: &Arc<Tenant>, entry: JournalEntry) -> bool {
        // The tenant's configuration and plugin as of now: this event finishes on them even if
        // a reload or a swap happens meanwhile.
        let profile = tenant.profile();
        let Some(plugin) = tenant.plugin.load_full() else {
            tracing::warn!("no plugin loaded; the event waits in the journal");
            return false;
        };
        let event = match parse_webhook(&entry.body) {
            Ok(Webhook::Event(event)) => event,
            Ok(Webhook::Ping) => {
                return self
                    .finish(tenant, entry.session_id, entry.seq, vec![], None)
                    .await;
            }
            Err(e) => {
                let reason = format!("journaled body is unreadable: {e}");
                tracing::error!(%reason);
                return self
                    .finish(tenant, entry.session_id, entry.seq, vec![], Some(reason))
                    .await;
            }
        };
        let run = {
            let _permit = self.global_runs.acquire().await.expect("never closed");
            let (runtime, env) = (self.runtime.clone(), profile.env.clone());
            tokio::task::spawn_blocking(move || runtime.handle(&plugin, &env, &event)).await
        };
        let mut run = match run {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(error = %e, "the bot's task failed");
                self.count_error(tenant.id(), "host_panic");
                let fallback = profile.config.fallback.activities(entry.session_id, None);
                return self
                    .finish(
                        tenant,
                        entry.session_id,
                        entry.seq,
                        to_outbox(&fallback),
                        Some(format!("host task failed: {e}")),
                    )
                    .await;
            }
        };
        self.metrics
            .bot_run_seconds
            .get_or_create(&metrics::tenant(tenant.id()))
            .observe(run.duration.as_secs_f64());
        let (activities, error) = match std::mem::replace(&mut run.result, Ok(Vec::new())) {
            Ok(activities) => (activities, None),
            Err(error) => {
                let reason = failure_reason(&error, &run.logs);
                tracing::warn!(kind = error.kind(), %reason, "the bot failed; sending the fallback");
                self.count_error(tenant.id(), error.kind());
                let fallback = profile
                    .config
                    .fallback
                    .activities(entry.session_id, run.language.as_deref());
                (fallback, Some(reason))
            }
        };
        if let Some(feed) = &self.feed {
            feed.push(
                "event",
                tenant.id(),
                event_report(&entry, &run, &activities, error.as_deref()),
            );
        }
        self.finish(
            tenant,
            entry.session_id,
            entry.seq,
            to_outbox(&activities),
            error,
        )
        .await
    }

    /// Marks the event processed with its activities, and schedules their delivery.
    async fn finish(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
        session: i64,
        seq: i64,
        activities: Vec<NewActivity>,
        error: Option<String>,
    ) -> bool {
        let deliver = !activities.is_empty();
        let completion = Completion {
            seq,
            activities,
            error,
        };
        if let Err(e) = self.storage.complete(completion).await {
            tracing::error!(error = %format!("{e:#}"), "storing the event's outcome failed; it will run again");
            return false;
        }
        // Saturating: a tenant removed and added again may finish events counted before.
        let one_less = |n: usize| Some(n.saturating_sub(1));
        let _ = tenant
            .backlog
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, one_less);
        let _ = self
            .backlog
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, one_less);
        if deliver {
            self.schedule(Stage::Deliver, tenant, session);
        }
        true
    }

    fn count_error(&self, tenant: &str, kind: &str) {
        self.metrics
            .bot_errors
            .get_or_create(&TenantOutcome {
                tenant: tenant.to_owned(),
                outcome: kind.to_owned(),
            })
            .inc();
    }
}

/// Lines of the bot's stderr kept with a failure (a Rust panic message lands there).
const STDERR_TAIL: usize = 5;

/// Why the bot failed, with the end of what it wrote to stderr.
fn failure_reason(
    error: &crate::runtime::BotError,
    logs: &[crate::capabilities::log::BotLogLine],
) -> String {
    use crate::capabilities::log::LogLevel;
    let tail: Vec<&str> = logs
        .iter()
        .filter(|line| line.level >= LogLevel::Warn)
        .map(|line| line.message.as_str())
        .collect();
    let tail = &tail[tail.len().saturating_sub(STDERR_TAIL)..];
    if tail.is_empty() {
        error.to_string()
    } else {
        format!("{error}; the bot's last words: {}", tail.join(" | "))
    }
}

/// What dev mode's feed shows of one event.
fn event_report(
    entry: &JournalEntry,
    run: &crate::runtime::BotRun,
    activities: &[crate::mluvii::SendActivity],
    error: Option<&str>,
) -> serde_json::Value {
    let logs: Vec<serde_json::Value> = run
        .logs
        .iter()
        .map(|line| serde_json::json!({ "level": format!("{:?}", line.level).to_lowercase(), "message": line.message }))
        .collect();
    serde_json::json!({
        "session": entry.session_id,
        "webhook": serde_json::from_slice::<serde_json::Value>(&entry.body).unwrap_or_default(),
        "logs": logs,
        "dropped_logs": run.dropped_logs,
        "error": error,
        "fallback": error.is_some(),
        "activities": activities.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        "duration_ms": run.duration.as_secs_f64() * 1000.0,
    })
}

/// Send API bodies as outbox rows.
fn to_outbox(activities: &[crate::mluvii::SendActivity]) -> Vec<NewActivity> {
    activities
        .iter()
        .map(|activity| NewActivity {
            name: activity.name(),
            body: activity.to_json().to_string(),
        })
        .collect()
}
