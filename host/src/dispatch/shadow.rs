//! The dispatcher's side of shadow candidates (see [`super::candidate`]): the bounded queue
//! the runner offers events to after their serving run, and the one worker that runs them
//! when a run permit is free.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::candidate::{
    Candidate, CandidateMode, SHADOW_QUEUE, ServingAnswer, ShadowJob, ShadowOutcome, run_shadow,
};
use super::{Dispatcher, Tenant};
use crate::metrics::TenantOutcome;
use crate::mluvii::{SendActivity, WebhookEvent};
use crate::runtime::TenantEnv;
use crate::script::comparable;

/// Shadow events between the runner and the worker.
pub(super) struct ShadowQueue {
    sender: mpsc::Sender<ShadowJob>,
    receiver: Mutex<Option<mpsc::Receiver<ShadowJob>>>,
}

impl Default for ShadowQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel(SHADOW_QUEUE);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

impl Dispatcher {
    /// After `event`'s serving run: hands it to the tenant's shadow candidate, if it has one
    /// (dropped and counted when the queue is full; the serving path never waits).
    pub(super) fn offer_shadow(
        &self,
        candidate: Option<&Arc<Candidate>>,
        env: &Arc<TenantEnv>,
        event: &WebhookEvent,
        seq: i64,
        serving: Result<&[SendActivity], &str>,
    ) {
        let Some(candidate) = candidate.filter(|c| c.mode == CandidateMode::Shadow) else {
            return;
        };
        let serving: ServingAnswer = match serving {
            Ok(activities) => Ok(activities.iter().map(|a| comparable(a.to_json())).collect()),
            Err(error) => Err(error.to_owned()),
        };
        let job = ShadowJob {
            env: env.clone(),
            candidate: candidate.clone(),
            event: event.clone(),
            seq,
            serving,
        };
        if let Err(refused) = self.shadow.sender.try_send(job) {
            let job = match refused {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            self.drop_shadow(&job.candidate, &env.id);
        }
    }

    fn drop_shadow(&self, candidate: &Candidate, tenant: &str) {
        candidate.record(ShadowOutcome::Dropped, None);
        self.metrics
            .candidate_events
            .get_or_create(&TenantOutcome {
                tenant: tenant.to_owned(),
                outcome: ShadowOutcome::Dropped.name().to_owned(),
            })
            .inc();
    }

    /// The shadow worker: runs queued events one at a time, each only when a global run
    /// permit is free at once (else it is dropped), until shutdown.
    pub(super) async fn run_shadows(self: Arc<Self>) {
        let Some(mut queue) = self
            .shadow
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        loop {
            let job = tokio::select! {
                _ = self.stopped() => return,
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
            };
            // A candidate withdrawn meanwhile is not run any more.
            let current = job.env.id.clone();
            let still = self
                .tenants
                .get(&current)
                .and_then(|t| t.candidate.load_full())
                .is_some_and(|c| Arc::ptr_eq(&c, &job.candidate));
            if !still {
                continue;
            }
            match self.global_runs.try_acquire() {
                Ok(_permit) => run_shadow(&self.runtime, &self.metrics, job).await,
                Err(_) => self.drop_shadow(&job.candidate, &current),
            }
        }
    }
}

impl Dispatcher {
    /// Withdraws a canary that failed too often: this replica stops using it at once, storage
    /// forgets it (so every replica does), and the reason is kept for the admin API.
    pub(super) async fn withdraw_canary(
        &self,
        tenant: &Tenant,
        candidate: &Arc<Candidate>,
        reason: String,
    ) {
        let current = tenant.candidate.load_full();
        if !current.is_some_and(|c| Arc::ptr_eq(&c, candidate)) {
            return;
        }
        tenant.candidate.store(None);
        let hash = candidate.plugin.info().hash.clone();
        tracing::warn!(tenant = %tenant.id(), %hash, %reason, "canary withdrawn automatically");
        *tenant
            .last_withdrawal
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(format!(
            "the last one, {hash}, was withdrawn automatically: {reason}"
        ));
        if let Err(e) = self.storage.clear_candidate(tenant.id()).await {
            tracing::error!(tenant = %tenant.id(), error = %format!("{e:#}"), "could not remove the withdrawn canary from storage; other replicas keep it");
        }
    }
}
