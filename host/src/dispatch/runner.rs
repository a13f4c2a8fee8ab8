//! Runs a session's journaled events through its tenant's bot, one at a time in journal
//! order, and stores each event's activities in the transaction that marks it processed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::Instrument;

use super::claims::{Held, is_lease_lost};
use super::inbox::Take;
use super::step::{self, EventRun};
use super::{BATCH, Dispatcher, Tenant};
use crate::capabilities::http::HttpCounts;
use crate::metrics::{self, TenantOutcome};
use crate::mluvii::{SendActivity, Webhook, parse_webhook};
use crate::storage::{Completion, JournalEntry, NewActivity, OutboxEntry, Stage};

impl Dispatcher {
    /// Runs up to a batch of the session's events through the bot, then stores their outcomes
    /// in one transaction on a task of its own: the worker goes on to its next session, and
    /// the session is released (and its activities handed to the sender) once that commits.
    /// A run worker takes a global permit only for each bot run itself, so a tenant with a
    /// deep backlog holds at most its own share (its run workers) of the global permits.
    pub(super) async fn run_session(self: &Arc<Self>, tenant: &Arc<Tenant>, held: Arc<Held>) {
        let session = held.claim.session_id;
        let Some((events, more)) = self.take_events(tenant, session).await else {
            self.release(Stage::Run, tenant, session, false).await;
            return;
        };
        let mut completions = Vec::with_capacity(events.len());
        let mut interrupted = false;
        for entry in events {
            if self.stopping() || !self.keep(tenant, &held).await {
                interrupted = true;
                break;
            }
            let span = run_span(tenant, &entry);
            match self.run_event(tenant, &entry).instrument(span).await {
                Some(completion) => completions.push(completion),
                None => {
                    interrupted = true;
                    break;
                }
            }
        }
        if interrupted {
            // The events not run stay in the journal; read them from there next time.
            tenant.events.invalidate(session);
        }
        if completions.is_empty() {
            self.release(Stage::Run, tenant, session, false).await;
            return;
        }
        if self.memory_path {
            tenant.outgoing.begin(session);
        }
        let (dispatcher, tenant) = (self.clone(), tenant.clone());
        self.spawn_worker(async move {
            let more = dispatcher.finish(&tenant, &held, completions).await && more && !interrupted;
            dispatcher.release(Stage::Run, &tenant, session, more).await;
        });
    }

    /// The session's next events: from memory, or from the journal when memory may lack some.
    /// `None` when there is nothing to do now.
    async fn take_events(
        &self,
        tenant: &Tenant,
        session: i64,
    ) -> Option<(Vec<JournalEntry>, bool)> {
        match tenant.events.take(session, BATCH) {
            Take::Items { items, more } if !items.is_empty() => Some((items, more)),
            Take::Items { .. } | Take::Wait => None,
            Take::Load => match self
                .storage
                .pending_events(tenant.id(), session, BATCH)
                .await
            {
                Ok(events) => {
                    let more = tenant.events.loaded(session, &events, BATCH);
                    (!events.is_empty()).then_some((events, more))
                }
                Err(e) => {
                    tenant.events.invalidate(session);
                    tracing::error!(tenant = %tenant.id(), session, error = %format!("{e:#}"), "reading the journal failed; the sweep retries");
                    None
                }
            },
        }
    }

    /// Runs one event; returns its outcome (activities to send included), or `None` when the
    /// session must wait (no plugin loaded).
    async fn run_event(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
        entry: &JournalEntry,
    ) -> Option<Completion> {
        // The tenant's configuration and plugin as of now: this event finishes on them even if
        // a reload or a swap happens meanwhile.
        let profile = tenant.profile();
        // The run's span gets its plugin and outcome only when traces are read.
        let span = if crate::telemetry::enabled() {
            tracing::Span::current()
        } else {
            tracing::Span::none()
        };
        let Some(serving) = tenant.plugin.load_full() else {
            span.record("outcome", "no_plugin");
            tracing::warn!("no plugin loaded; the event waits in the journal");
            return None;
        };
        // Its activities' deliveries continue this run's trace.
        let trace = crate::telemetry::traceparent(&span);
        let done = |activities: Vec<SendActivity>, error: Option<String>| {
            Some(Completion {
                seq: entry.seq,
                activities: to_outbox(&activities, trace.as_deref()),
                error,
            })
        };
        let event = match parse_webhook(&entry.body) {
            Ok(Webhook::Event(event)) => event,
            Ok(Webhook::Ping) => return done(vec![], None),
            Err(e) => {
                let reason = format!("journaled body is unreadable: {e}");
                tracing::error!(%reason);
                return done(vec![], Some(reason));
            }
        };
        // A canary serves its share of new sessions for real.
        let candidate = tenant.candidate.load_full();
        let canary = candidate
            .as_ref()
            .and_then(|c| c.canary.as_ref().map(|canary| (c, canary)));
        let on_canary = canary.is_some_and(|(_, canary)| canary.takes(entry.session_id));
        let plugin = match canary {
            Some((candidate, _)) if on_canary => candidate.plugin.clone(),
            _ => self.pinned_or(&profile, &event, serving, tenant).await,
        };
        span.record("plugin", plugin.info().hash.as_str());
        let mut run = {
            let _permit = self.global_runs.acquire().await.expect("never closed");
            step::run_event(
                &self.runtime,
                &plugin,
                &profile.env,
                &profile.facts,
                &event,
                profile.config.pin_sessions,
            )
            .await
        };
        self.metrics
            .bot_run_seconds
            .get_or_create(&metrics::tenant(tenant.id()))
            .observe(run.duration.as_secs_f64());
        self.count_http(tenant.id(), run.http);
        let (activities, error) = match std::mem::replace(&mut run.result, Ok(Vec::new())) {
            Ok(activities) => {
                span.record("outcome", "ok");
                (activities, None)
            }
            Err(error) => {
                span.record("outcome", error.kind());
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
        if let Some((candidate, canary)) = canary
            && let Some(reason) = canary.record(on_canary, error.is_some())
        {
            self.withdraw_canary(tenant, candidate, reason).await;
        }
        self.offer_shadow(
            candidate.as_ref(),
            &profile.env,
            &event,
            entry.seq,
            match &error {
                None => Ok(&activities),
                Some(reason) => Err(reason),
            },
        );
        if let Some(feed) = &self.feed {
            feed.push(
                "event",
                tenant.id(),
                event_report(entry, &run, &activities, error.as_deref()),
            );
        }
        done(activities, error)
    }

    /// Marks the events processed with their activities (one transaction), then hands the
    /// activities to the sender; `false` when storing failed (the events run again later).
    async fn finish(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
        held: &Held,
        completions: Vec<Completion>,
    ) -> bool {
        let session = held.claim.session_id;
        let events = completions.len();
        let rows: Vec<NewActivity> = completions
            .iter()
            .flat_map(|c| c.activities.iter().cloned())
            .collect();
        let ids = match self.storage.complete(&held.claim, completions).await {
            Ok(ids) => ids,
            Err(e) => {
                if is_lease_lost(&e) {
                    // Its new holder runs these events again; nothing of this run is kept.
                    self.forget_claim(tenant, &held.claim);
                    tracing::warn!(tenant = %tenant.id(), session, error = %format!("{e:#}"), "the session was taken over; its new holder runs these events");
                } else {
                    tracing::error!(tenant = %tenant.id(), session, error = %format!("{e:#}"), "storing the events' outcomes failed; they will run again");
                }
                if self.memory_path && tenant.outgoing.abandon(session) {
                    // Activities of an earlier event wait behind this failed commit.
                    self.schedule(Stage::Deliver, tenant, session);
                }
                tenant.events.invalidate(session);
                return false;
            }
        };
        let mut deliver = !ids.is_empty();
        let entries = ids
            .into_iter()
            .zip(rows)
            .map(|(id, row)| OutboxEntry {
                id,
                tenant: tenant.id().to_owned(),
                session_id: session,
                name: row.name,
                body: row.body,
                trace: row.trace,
                attempts: 0,
                first_failure_ms: None,
                last_error: None,
                dead: false,
            })
            .collect();
        if self.memory_path {
            // Also when this run stored nothing: the sender may have been turned away while it
            // was committed, with an earlier event's activities waiting.
            deliver |= tenant.outgoing.push(session, entries);
        } else {
            drop(entries);
            // Read from storage by whoever holds the session's delivery.
            tenant.outgoing.invalidate(session);
        }
        // Saturating: a tenant removed and added again may finish events counted before.
        let less = |n: usize| Some(n.saturating_sub(events));
        let _ = tenant
            .backlog
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, less);
        let _ = self
            .backlog
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, less);
        self.drain.processed(events);
        if deliver {
            self.schedule(Stage::Deliver, tenant, session);
        }
        true
    }

    fn count_http(&self, tenant: &str, counts: HttpCounts) {
        for (outcome, n) in [
            ("sent", counts.sent),
            ("refused", counts.refused),
            ("failed", counts.failed),
        ] {
            if n > 0 {
                self.metrics
                    .bot_http_requests
                    .get_or_create(&TenantOutcome {
                        tenant: tenant.to_owned(),
                        outcome: outcome.to_owned(),
                    })
                    .inc_by(n);
            }
        }
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
    run: &EventRun,
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

/// Send API bodies as outbox rows, each with the trace of the run that produced it.
fn to_outbox(activities: &[crate::mluvii::SendActivity], trace: Option<&str>) -> Vec<NewActivity> {
    activities
        .iter()
        .map(|activity| NewActivity {
            name: activity.name(),
            body: activity.to_json().to_string(),
            trace: trace.map(str::to_owned),
        })
        .collect()
}

/// The span of one event's run through the bot: it continues the trace the event was
/// journaled with (see [`crate::telemetry`]); its log lines carry the trace id.
fn run_span(tenant: &Tenant, entry: &JournalEntry) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "bot.run",
        tenant = %tenant.id(),
        session = entry.session_id,
        seq = entry.seq,
        plugin = tracing::field::Empty,
        outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, entry.trace.as_deref());
    crate::telemetry::record_trace_id(&span);
    span
}
