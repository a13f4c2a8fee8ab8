//! Delivers a session's activities from the outbox to mluvii, strictly in order: an activity
//! that fails transiently is retried (backoff with jitter, `Retry-After` honoured, pacing per
//! session) until it is delivered or has failed for longer than the policy allows; then it
//! becomes a dead letter and the session's later activities wait behind it.

use std::time::Instant;

use tracing::Instrument as _;

use super::claims::{Held, is_lease_lost};
use super::inbox::Take;
use super::{BATCH, Dispatcher, Tenant};
use crate::delivery::Attempt;
use crate::metrics;
use crate::storage::{OutboxEntry, now_ms};

/// How one activity's delivery ended.
enum Delivery {
    Sent,
    /// It is (or already was) a dead letter: the session waits.
    Blocked,
    /// Shutdown, or the database failed: try again later.
    Interrupted,
}

/// The span of one Send API attempt: it continues the trace of the bot run that produced the
/// activity (see [`crate::telemetry`]).
fn attempt_span(tenant: &Tenant, entry: &OutboxEntry, attempt: u32) -> tracing::Span {
    if !crate::telemetry::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        parent: None,
        "send_api.attempt",
        tenant = %tenant.id(),
        session = entry.session_id,
        activity = %entry.name,
        attempt,
        outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, entry.trace.as_deref());
    crate::telemetry::record_trace_id(&span);
    span
}

impl Dispatcher {
    /// Delivers up to a batch of the session's activities; returns whether more may wait.
    pub(super) async fn deliver_session(&self, tenant: &Tenant, held: &Held) -> bool {
        let session = held.claim.session_id;
        self.take_over_pacing(tenant, held).await;
        let (pending, more) = match tenant.outgoing.take(session, BATCH) {
            Take::Items { items, more } => (items, more),
            Take::Wait => return false,
            Take::Load => match self
                .storage
                .pending_activities(tenant.id(), session, BATCH)
                .await
            {
                Ok(pending) => {
                    let more = tenant.outgoing.loaded(session, &pending, BATCH);
                    (pending, more)
                }
                Err(e) => {
                    tenant.outgoing.invalidate(session);
                    tracing::error!(tenant = %tenant.id(), session, error = %format!("{e:#}"), "reading the outbox failed; the sweep retries");
                    return false;
                }
            },
        };
        for entry in pending {
            match self.deliver(tenant, held, entry).await {
                Delivery::Sent => {}
                Delivery::Blocked | Delivery::Interrupted => {
                    // What was taken and not sent stays in the outbox: read it from there.
                    tenant.outgoing.invalidate(session);
                    return false;
                }
            }
        }
        more
    }

    async fn deliver(&self, tenant: &Tenant, held: &Held, entry: OutboxEntry) -> Delivery {
        if entry.dead {
            return Delivery::Blocked;
        }
        let label = metrics::tenant(tenant.id());
        let started = Instant::now();
        let mut failures = entry.attempts;
        let mut first_failure = entry.first_failure_ms;
        loop {
            if !self.keep(tenant, held).await {
                return Delivery::Interrupted;
            }
            let attempt = tokio::select! {
                _ = self.stopped() => return Delivery::Interrupted,
                attempt = async {
                    let client = tenant.profile().client.clone();
                    client.pace(entry.session_id).await;
                    let span = attempt_span(tenant, &entry, failures + 1);
                    let attempt = client.attempt(&entry.body).instrument(span.clone()).await;
                    span.record("outcome", attempt.outcome());
                    attempt
                } => attempt,
            };
            let reason = match attempt {
                Attempt::Delivered => {
                    self.metrics
                        .outbound_seconds
                        .get_or_create(&label)
                        .observe(started.elapsed().as_secs_f64());
                    self.metrics.activities_sent.get_or_create(&label).inc();
                    return match self.storage.mark_sent(&held.claim, entry.id).await {
                        Ok(()) => Delivery::Sent,
                        Err(e) => {
                            if is_lease_lost(&e) {
                                self.forget_claim(tenant, &held.claim);
                            }
                            tracing::error!(error = %format!("{e:#}"), "recording a delivery failed; it may be sent again");
                            Delivery::Interrupted
                        }
                    };
                }
                Attempt::Refused { reason } => return self.bury(tenant, &entry, &reason).await,
                Attempt::Transient {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            let (reason, retry_after) = reason;
            failures += 1;
            let now = now_ms();
            let first = *first_failure.get_or_insert(now);
            let give_up_ms = self.settings.retry.give_up_after.as_millis() as i64;
            if now - first >= give_up_ms {
                let reason = format!("still failing after {failures} attempts: {reason}");
                return self.bury(tenant, &entry, &reason).await;
            }
            self.metrics.delivery_retries.get_or_create(&label).inc();
            tracing::warn!(tenant = %tenant.id(), session = entry.session_id, activity = %entry.name,
                attempt = failures, %reason, "delivery failed; will retry");
            if let Err(e) = self.storage.record_failure(entry.id, &reason, now).await {
                tracing::error!(error = %format!("{e:#}"), "recording a failed delivery failed");
            }
            let wait = self.settings.retry.backoff(failures, retry_after);
            // Waits in pieces shorter than the lease, renewing it in between.
            let until = tokio::time::Instant::now() + wait;
            while tokio::time::Instant::now() < until {
                let piece = tokio::time::Instant::now()
                    .checked_add(self.storage.lease() / 3)
                    .map_or(until, |renew_at| renew_at.min(until));
                tokio::select! {
                    _ = self.stopped() => return Delivery::Interrupted,
                    _ = tokio::time::sleep_until(piece) => {}
                }
                if !self.keep(tenant, held).await {
                    return Delivery::Interrupted;
                }
            }
        }
    }

    /// Makes `entry` a dead letter.
    async fn bury(&self, tenant: &Tenant, entry: &OutboxEntry, reason: &str) -> Delivery {
        tracing::error!(tenant = %tenant.id(), session = entry.session_id, activity = %entry.name,
            id = entry.id, %reason, "activity became a dead letter; the session's later activities wait behind it");
        self.metrics
            .activities_failed
            .get_or_create(&metrics::tenant(tenant.id()))
            .inc();
        match self.storage.mark_dead(entry.id, reason, now_ms()).await {
            Ok(()) => Delivery::Blocked,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "recording a dead letter failed");
                Delivery::Interrupted
            }
        }
    }
}
