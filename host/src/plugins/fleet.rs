//! Plugins across replicas sharing storage. An upload or rollback through one replica's admin
//! API is published in storage ([`Registry::swap_in`]); every replica looks at each tenant's
//! newest publication every [`POLL_INTERVAL`] and swaps in the ones it does not serve
//! (through the same path, so a version that does not load here is refused and reported, the
//! old one serving), and reports what it serves, for the admin API to show per replica. A
//! plugin file changed on one replica stays that replica's own until the next publication.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::registry::{Arrival, Registry};
use crate::storage::PublishedPlugin;

/// How often each replica looks for versions published through another one.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a replica reports what it serves when nothing changed (the admin API shows when
/// each replica last did).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The publication each tenant last took here (its `seq`).
#[derive(Debug, Default)]
pub struct Applied(HashMap<String, i64>);

impl Registry {
    /// With shared storage: takes the versions published while this replica was not running,
    /// then follows publications and reports what this replica serves, for as long as the
    /// registry lives. Nothing to do when storage is this process's alone.
    pub async fn follow_published(self: &Arc<Self>) {
        if self.storage().exclusive() {
            return;
        }
        let mut applied = Applied::default();
        if let Err(e) = self.take_published(&mut applied).await {
            tracing::warn!(error = %format!("{e:#}"), "could not read the published plugins; serving the plugin files");
        }
        self.report().await;
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut poll = tokio::time::interval(POLL_INTERVAL);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                poll.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                if let Err(e) = registry.take_published(&mut applied).await {
                    tracing::debug!(error = %format!("{e:#}"), "could not read the published plugins");
                }
                if let Err(e) = registry.sync_candidates().await {
                    tracing::debug!(error = %format!("{e:#}"), "could not read the candidates");
                }
            }
        });
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(changed) = registry.upgrade() else {
                    return;
                };
                let _ =
                    tokio::time::timeout(REPORT_INTERVAL, changed.serving_changed.notified()).await;
                changed.report().await;
            }
        });
    }

    /// Swaps in each tenant's newest publication this replica has not taken yet.
    async fn take_published(&self, applied: &mut Applied) -> anyhow::Result<()> {
        for publication in self.storage().published_plugins().await? {
            if applied.0.get(&publication.tenant) == Some(&publication.seq) {
                continue;
            }
            let Some(tenant) = self.tenants().get(&publication.tenant) else {
                continue;
            };
            let serving = tenant.plugin.load().as_ref().map(|p| p.info().hash.clone());
            if serving.as_deref() != Some(publication.hash.as_str()) {
                self.take(&tenant, &publication).await?;
            }
            applied.0.insert(publication.tenant, publication.seq);
        }
        Ok(())
    }

    /// Swaps in one publication; a version that does not load is refused (and reported) like
    /// any other, and not tried again until the next publication.
    async fn take(
        &self,
        tenant: &Arc<crate::dispatch::Tenant>,
        publication: &PublishedPlugin,
    ) -> anyhow::Result<()> {
        let Some(bytes) = self.storage().plugin_bytes(&publication.hash).await? else {
            anyhow::bail!("the bytes of {} are gone", publication.hash);
        };
        let arrival = Arrival::Published {
            rollback: publication.source == "rollback",
        };
        if self.swap_in(tenant, bytes, arrival).await.is_ok() {
            tracing::info!(tenant = %tenant.id(), hash = %publication.hash, published = %publication.source, "took the version published through another replica");
        }
        Ok(())
    }

    /// Reports what this replica serves.
    async fn report(&self) {
        let serving = self.serving_now();
        if let Err(e) = self
            .storage()
            .report_serving(self.replica(), &serving)
            .await
        {
            tracing::debug!(error = %format!("{e:#}"), "could not report the plugins served");
        }
    }
}
