//! Candidate versions through the registry: a candidate is loaded (validated) like an upload,
//! stored (so every replica of shared storage tries it too, and it outlives a restart), and
//! then tried; every replica brings its tenants' candidates in line with what is stored, at
//! start and, on shared storage, every second.

use std::sync::Arc;

use super::Registry;
use crate::dispatch::Tenant;
use crate::dispatch::canary::{Canary, CanaryPolicy};
use crate::dispatch::candidate::Candidate;
use crate::runtime::plugin::content_hash;
use crate::storage::{StoredCandidate, now_ms};

/// Why a candidate was not set.
#[derive(Debug)]
pub enum CandidateError {
    /// The component does not load.
    Refused(String),
    /// Storage could not keep it (nothing changed).
    Unavailable(String),
}

impl Registry {
    /// Makes `bytes` the tenant's candidate, replacing any earlier one: a canary under
    /// `canary`, else a shadow.
    pub async fn set_candidate(
        &self,
        tenant: &Arc<Tenant>,
        bytes: Vec<u8>,
        canary: Option<CanaryPolicy>,
    ) -> Result<Arc<Candidate>, CandidateError> {
        let (plugin, bytes) = self
            .load(bytes, "candidate")
            .await
            .map_err(CandidateError::Refused)?;
        let stored = StoredCandidate {
            tenant: tenant.id().to_owned(),
            hash: plugin.info().hash.clone(),
            mode: canary.map_or_else(|| "shadow".to_owned(), |policy| policy.encode()),
            set_at_ms: now_ms(),
        };
        let canary = self
            .canary_for(&stored)
            .await
            .map_err(|e| CandidateError::Unavailable(format!("reading the journal: {e:#}")))?;
        self.storage()
            .set_candidate(&stored, &bytes)
            .await
            .map_err(|e| CandidateError::Unavailable(format!("storing the candidate: {e:#}")))?;
        let candidate = Arc::new(Candidate::new(plugin, bytes, stored.set_at_ms, canary));
        tenant.candidate.store(Some(candidate.clone()));
        tracing::info!(tenant = %tenant.id(), hash = %stored.hash, mode = %stored.mode, "candidate set");
        Ok(candidate)
    }

    /// The canary `stored` describes (its running sessions read from the journal), or `None`
    /// for a shadow.
    async fn canary_for(&self, stored: &StoredCandidate) -> anyhow::Result<Option<Canary>> {
        let Some(policy) = CanaryPolicy::decode(&stored.mode) else {
            return Ok(None);
        };
        let running = self
            .storage()
            .sessions_before(&stored.tenant, stored.set_at_ms)
            .await?;
        Ok(Some(Canary::new(policy, running.into_iter().collect())))
    }

    /// Withdraws the tenant's candidate; its hash, or `None` when it had none.
    pub async fn withdraw_candidate(&self, tenant: &Tenant) -> anyhow::Result<Option<String>> {
        self.storage().clear_candidate(tenant.id()).await?;
        let withdrawn = tenant.candidate.swap(None);
        let hash = withdrawn.map(|c| c.plugin.info().hash.clone());
        if let Some(hash) = &hash {
            tracing::info!(tenant = %tenant.id(), %hash, "candidate withdrawn");
        }
        Ok(hash)
    }

    /// Brings every tenant's candidate in line with storage: one set elsewhere (another
    /// replica, or before a restart) is loaded and tried, one withdrawn elsewhere is dropped.
    pub async fn sync_candidates(&self) -> anyhow::Result<()> {
        let stored = self.storage().candidates().await?;
        for (id, tenant) in self.tenants().all().iter() {
            let wanted = stored.iter().find(|c| &c.tenant == id);
            let current = tenant.candidate.load_full();
            match (wanted, current) {
                (None, None) => {}
                (None, Some(_)) => {
                    tenant.candidate.store(None);
                    tracing::info!(tenant = %id, "candidate withdrawn through another replica");
                }
                (Some(wanted), Some(current))
                    if current.plugin.info().hash == wanted.hash
                        && current.since_ms == wanted.set_at_ms => {}
                (Some(wanted), _) => self.take_candidate(tenant, wanted).await,
            }
        }
        Ok(())
    }

    async fn take_candidate(&self, tenant: &Tenant, wanted: &StoredCandidate) {
        let bytes = match self
            .storage()
            .candidate_bytes(&wanted.tenant, &wanted.hash)
            .await
        {
            Ok(Some(bytes)) if content_hash(&bytes) == wanted.hash => bytes,
            // Replaced or withdrawn meanwhile: the next sync sees that.
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(tenant = %tenant.id(), error = %format!("{e:#}"), "could not read the stored candidate");
                return;
            }
        };
        let canary = match self.canary_for(wanted).await {
            Ok(canary) => canary,
            Err(e) => {
                tracing::warn!(tenant = %tenant.id(), error = %format!("{e:#}"), "could not read the canary's running sessions");
                return;
            }
        };
        match self.load(bytes, "candidate").await {
            Ok((plugin, bytes)) => {
                let candidate = Candidate::new(plugin, bytes, wanted.set_at_ms, canary);
                tenant.candidate.store(Some(Arc::new(candidate)));
                tracing::info!(tenant = %tenant.id(), hash = %wanted.hash, mode = %wanted.mode, "candidate taken from storage");
            }
            Err(reason) => {
                tracing::warn!(tenant = %tenant.id(), hash = %wanted.hash, %reason, "the stored candidate does not load here")
            }
        }
    }
}
