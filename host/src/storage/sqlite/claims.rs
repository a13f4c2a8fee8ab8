//! Claims of the embedded backend. One process owns the data directory (a file lock), so a
//! lease lives in that process's memory and never expires: it guards against two holders in
//! the same process (a tenant removed by a reload and added back while its old workers still
//! run), and remembers that someone else wanted the session meanwhile, so `release` can say
//! the session must be scheduled again. A delivery claim is spoiled when a delivery recorded
//! under it was not committed: the holder's next `mark_sent` fails, so it stops instead of
//! sending later activities while an earlier one is still recorded as unsent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::storage::{Claim, Stage};

struct Held {
    token: i64,
    wanted: bool,
    spoiled: bool,
}

/// The leases held in this process.
#[derive(Default)]
pub struct Leases {
    held: Mutex<HashMap<(Stage, String, i64), Held>>,
    next: AtomicI64,
}

impl Leases {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<(Stage, String, i64), Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lease, or marks it wanted when it is held.
    pub fn claim(&self, stage: Stage, tenant: &str, session_id: i64) -> Option<Claim> {
        let mut held = self.held();
        let key = (stage, tenant.to_owned(), session_id);
        if let Some(lease) = held.get_mut(&key) {
            lease.wanted = true;
            return None;
        }
        let token = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        held.insert(
            key,
            Held {
                token,
                wanted: false,
                spoiled: false,
            },
        );
        Some(Claim {
            tenant: tenant.to_owned(),
            session_id,
            stage,
            token,
        })
    }

    /// Whether `claim` is still the lease of its session.
    pub fn holds(&self, claim: &Claim) -> bool {
        self.held()
            .get(&(claim.stage, claim.tenant.clone(), claim.session_id))
            .is_some_and(|lease| lease.token == claim.token)
    }

    /// Marks `claim` spoiled (if it is still the lease of its session).
    pub fn spoil(&self, claim: &Claim) {
        if let Some(lease) = self
            .held()
            .get_mut(&(claim.stage, claim.tenant.clone(), claim.session_id))
            .filter(|lease| lease.token == claim.token)
        {
            lease.spoiled = true;
        }
    }

    /// Whether `claim` was spoiled.
    pub fn spoiled(&self, claim: &Claim) -> bool {
        self.held()
            .get(&(claim.stage, claim.tenant.clone(), claim.session_id))
            .is_some_and(|lease| lease.token == claim.token && lease.spoiled)
    }

    /// Gives `claim` back; returns whether someone wanted the session while it was held.
    pub fn release(&self, claim: &Claim) -> bool {
        let mut held = self.held();
        let key = (claim.stage, claim.tenant.clone(), claim.session_id);
        match held.get(&key) {
            Some(lease) if lease.token == claim.token => {
                held.remove(&key).is_some_and(|lease| lease.wanted)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_is_refused_remembered_and_given_back() {
        let leases = Leases::default();
        let claim = leases.claim(Stage::Run, "a", 1).unwrap();
        assert!(
            leases.claim(Stage::Deliver, "a", 1).is_some(),
            "stages apart"
        );
        assert!(leases.claim(Stage::Run, "b", 1).is_some(), "tenants apart");
        assert!(leases.claim(Stage::Run, "a", 1).is_none());
        assert!(leases.holds(&claim));
        assert!(leases.release(&claim), "it was wanted meanwhile");
        assert!(!leases.holds(&claim));
        let again = leases.claim(Stage::Run, "a", 1).unwrap();
        assert_ne!(again.token, claim.token);
        assert!(!leases.release(&claim), "an old claim releases nothing");
        assert!(leases.holds(&again));
        assert!(!leases.release(&again));
    }

    #[test]
    fn only_the_current_claim_is_spoiled_and_a_new_one_starts_clean() {
        let leases = Leases::default();
        let old = leases.claim(Stage::Deliver, "a", 1).unwrap();
        leases.release(&old);
        let claim = leases.claim(Stage::Deliver, "a", 1).unwrap();
        leases.spoil(&old);
        assert!(!leases.spoiled(&claim), "an old claim spoils nothing");
        leases.spoil(&claim);
        assert!(leases.spoiled(&claim) && leases.holds(&claim));
        leases.release(&claim);
        let again = leases.claim(Stage::Deliver, "a", 1).unwrap();
        assert!(!leases.spoiled(&again));
    }
}
