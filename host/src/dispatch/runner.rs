//! Runs a session's journaled events through its tenant's bot, one at a time in journal
//! order, and stores each event's activities in the transaction that marks it processed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::Instrument;

use super::{BATCH, Dispatcher, Tenant};
use crate::metrics::{self, TenantOutcome};
use crate::mluvii::{Webhook, parse_webhook};
use crate::storage::{Completion, JournalEntry, NewActivity};

impl Dispatcher {
    /// Says `session` of `tenant` has journaled events.
    pub(super) fn schedule_run(self: &Arc<Self>, tenant: &Arc<Tenant>, session: i64) {
        if tenant.runs.push(session, &self.busy) {
            let (dispatcher, tenant) = (self.clone(), tenant.clone());
            self.spawn_worker(async move { dispatcher.run_worker(tenant).await });
        }
    }

    /// One of the tenant's run workers: their number is the tenant's concurrency limit, and
    /// each takes a global permit only for the bot run itself, so a tenant with a deep
    /// backlog holds at most its own share of the global permits.
    async fn run_worker(self: Arc<Self>, tenant: Arc<Tenant>) {
        while let Some(session) = tenant.runs.next() {
            let more = !self.stopping() && self.run_session(&tenant, session).await;
            tenant.runs.release(session, more, &self.busy);
        }
    }

    /// Runs up to a batch of the session's events; returns whether more may be waiting.
    async fn run_session(self: &Arc<Self>, tenant: &Arc<Tenant>, session: i64) -> bool {
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
            let (runtime, env) = (self.runtime.clone(), tenant.env.clone());
            tokio::task::spawn_blocking(move || runtime.handle(&plugin, &env, &event)).await
        };
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(error = %e, "the bot's task failed");
                self.count_error(tenant.id(), "host_panic");
                return self
                    .finish(
                        tenant,
                        entry.session_id,
                        entry.seq,
                        vec![],
                        Some(format!("host task failed: {e}")),
                    )
                    .await;
            }
        };
        self.metrics
            .bot_run_seconds
            .get_or_create(&metrics::tenant(tenant.id()))
            .observe(run.duration.as_secs_f64());
        match run.result {
            Ok(activities) => {
                let activities = activities
                    .iter()
                    .map(|activity| NewActivity {
                        name: activity.name(),
                        body: activity.to_json().to_string(),
                    })
                    .collect();
                self.finish(tenant, entry.session_id, entry.seq, activities, None)
                    .await
            }
            Err(error) => {
                tracing::warn!(kind = error.kind(), %error, "the bot failed");
                self.count_error(tenant.id(), error.kind());
                self.finish(
                    tenant,
                    entry.session_id,
                    entry.seq,
                    vec![],
                    Some(error.to_string()),
                )
                .await
            }
        }
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
        tenant.backlog.fetch_sub(1, Ordering::SeqCst);
        self.backlog.fetch_sub(1, Ordering::SeqCst);
        if deliver {
            self.schedule_delivery(tenant, session);
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
