//! The claims this process holds on a tenant's sessions, and the dispatcher's use of them: a
//! worker takes a session's claim from storage before it runs events or sends activities,
//! renews it while it works, and gives it back when its queue lets go of the session. The
//! storage decides who may work on a session; the queues only decide when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Dispatcher, Tenant};
use crate::storage::{Claim, LeaseLost, Stage};

/// A claim and when its lease was last extended.
pub struct Held {
    /// The claim.
    pub claim: Claim,
    renewed: Mutex<Instant>,
    paced: std::sync::atomic::AtomicBool,
}

impl Held {
    fn new(claim: Claim) -> Arc<Self> {
        Arc::new(Self {
            claim,
            renewed: Mutex::new(Instant::now()),
            paced: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// `true` the first time it is asked (the claim's pacing is then taken over).
    fn first_delivery(&self) -> bool {
        !self.paced.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

/// A tenant's claims held by this process, per stage and session.
#[derive(Default)]
pub struct Claims {
    held: Mutex<HashMap<(Stage, i64), Arc<Held>>>,
}

impl Claims {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<(Stage, i64), Arc<Held>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, stage: Stage, session: i64) -> Option<Arc<Held>> {
        self.held().get(&(stage, session)).cloned()
    }

    fn insert(&self, held: Arc<Held>) {
        self.held()
            .insert((held.claim.stage, held.claim.session_id), held);
    }

    fn remove(&self, stage: Stage, session: i64) -> Option<Arc<Held>> {
        self.held().remove(&(stage, session))
    }

    /// Claims held now.
    pub fn count(&self) -> usize {
        self.held().len()
    }
}

/// The in-memory copy of `stage`'s work of `session` may lack what storage holds.
fn invalidate(tenant: &Tenant, stage: Stage, session: i64) {
    match stage {
        Stage::Run => tenant.events.invalidate(session),
        Stage::Deliver => tenant.outgoing.invalidate(session),
    }
}

/// Whether `error` says a claim was taken over.
pub fn is_lease_lost(error: &anyhow::Error) -> bool {
    error.downcast_ref::<LeaseLost>().is_some()
}

impl Dispatcher {
    /// The session's claim: the one held already, or a new one from storage; `None` when
    /// someone else holds it (or storage failed: the poll or the sweep tries again).
    pub(super) async fn take_claim(
        &self,
        stage: Stage,
        tenant: &Tenant,
        session: i64,
    ) -> Option<Arc<Held>> {
        if let Some(held) = tenant.claims.get(stage, session) {
            return Some(held);
        }
        match self.storage.claim(stage, tenant.id(), session).await {
            Ok(Some(claim)) => {
                let held = Held::new(claim);
                tenant.claims.insert(held.clone());
                Some(held)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(tenant = %tenant.id(), session, ?stage, error = %format!("{e:#}"), "claiming a session failed; it is tried again later");
                None
            }
        }
    }

    /// Adopts claims that storage handed out (work it found waiting).
    pub(super) fn adopt_claims(self: &Arc<Self>, claims: Vec<Claim>) {
        for claim in claims {
            let Some(tenant) = self.tenants.get(&claim.tenant) else {
                continue;
            };
            let (stage, session) = (claim.stage, claim.session_id);
            tenant.claims.insert(Held::new(claim));
            // The database holds work this process did not store itself.
            invalidate(&tenant, stage, session);
            self.schedule(stage, &tenant, session);
        }
    }

    /// Extends the lease when a third of it has passed; `false` when it was lost (the claim
    /// is then forgotten: its new holder does the work).
    pub(super) async fn keep(&self, tenant: &Tenant, held: &Held) -> bool {
        let due = {
            let renewed = held.renewed.lock().unwrap_or_else(|p| p.into_inner());
            renewed.elapsed() >= self.storage.lease() / 3
        };
        if !due {
            return true;
        }
        match self.storage.renew(&held.claim).await {
            Ok(()) => {
                *held.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                true
            }
            Err(e) => {
                if is_lease_lost(&e) {
                    self.forget_claim(tenant, &held.claim);
                }
                tracing::warn!(tenant = %tenant.id(), session = held.claim.session_id, error = %format!("{e:#}"), "renewing a claim failed; the session's work stops here");
                false
            }
        }
    }

    /// Before the first delivery under a claim on shared storage: the session's sends of the
    /// last minute, by whichever replica made them, count against its pacing here.
    pub(super) async fn take_over_pacing(&self, tenant: &Tenant, held: &Held) {
        if self.memory_path || !held.first_delivery() {
            return;
        }
        let window = crate::delivery::mluvii_client::RATE_WINDOW;
        let now = crate::storage::now_ms();
        let since = now - window.as_millis() as i64;
        let claim = &held.claim;
        match self
            .storage
            .recent_sends(&claim.tenant, claim.session_id, since)
            .await
        {
            Ok(sent) => {
                let ago: Vec<std::time::Duration> = sent
                    .iter()
                    .map(|at| std::time::Duration::from_millis(now.saturating_sub(*at) as u64))
                    .collect();
                tenant.profile().client.seed_pacing(claim.session_id, &ago);
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.id(), session = claim.session_id, error = %format!("{e:#}"), "reading the session's recent sends failed; pacing counts this replica's only");
            }
        }
    }

    /// The claim was taken over: forget it without giving it back.
    pub(super) fn forget_claim(&self, tenant: &Tenant, claim: &Claim) {
        if let Some(held) = tenant.claims.remove(claim.stage, claim.session_id)
            && held.claim.token != claim.token
        {
            tenant.claims.insert(held);
        }
    }

    /// Gives the session's claim back (if one is held); returns whether this tenant must go
    /// on with the session: storage says work arrived meanwhile (journaled through another
    /// replica, or wanted by another holder). When that holder is the tenant as configured now
    /// (a reload replaced this one), the session is scheduled there instead.
    pub(super) async fn give_back(
        self: &Arc<Self>,
        stage: Stage,
        tenant: &Arc<Tenant>,
        session: i64,
    ) -> bool {
        let Some(held) = tenant.claims.remove(stage, session) else {
            return false;
        };
        match self.storage.release(&held.claim).await {
            Ok(true) if !self.stopping() => match self.tenants.get(tenant.id()) {
                Some(current) if Arc::ptr_eq(&current, tenant) => {
                    if !self.memory_path {
                        // Work stored by another replica: read it from storage.
                        invalidate(tenant, stage, session);
                    }
                    true
                }
                Some(current) => {
                    invalidate(&current, stage, session);
                    self.schedule(stage, &current, session);
                    false
                }
                None => false,
            },
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(tenant = %tenant.id(), session, error = %format!("{e:#}"), "giving a claim back failed; it expires by itself");
                false
            }
        }
    }
}
