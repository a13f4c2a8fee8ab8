//! A tenant as the event path sees it. What stays for the tenant's lifetime (its queues of
//! sessions with work, its backlog, its current plugin) is here; what its configuration says
//! (settings, limits, secrets, mluvii client) is a [`TenantProfile`] behind an atomic pointer,
//! replaced by a configuration reload and read afresh for every event.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::Notify;

use super::claims::Claims;
use super::inbox::{Inbox, MAX_PER_SESSION, PROCESS_BUDGET};
use super::session_queue::SessionQueue;
use super::step::FactsCache;
use crate::config::{Secret, TenantConfig};
use crate::delivery::MluviiClient;
use crate::runtime::{Plugin, TenantEnv};
use crate::storage::{JournalEntry, OutboxEntry};

/// Earlier versions kept loaded per tenant for pinned sessions.
pub const PINNED_VERSIONS: usize = 5;

/// What a tenant's configuration says, ready for use.
pub struct TenantProfile {
    /// Id, settings, state and limits (what the runtime needs).
    pub env: Arc<TenantEnv>,
    /// Its Send API client (kept across reloads that do not change its endpoint, so its token
    /// and pacing survive).
    pub client: Arc<MluviiClient>,
    /// The token mluvii's webhook calls must carry.
    pub webhook_token: Secret,
    /// The configuration it was built from (limits, fallback, plugin path).
    pub config: TenantConfig,
    /// Language and channel of its sessions, cached (kept across configuration reloads).
    pub facts: Arc<FactsCache>,
}

/// The outcome of the latest attempt to load a tenant's plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadStatus {
    /// Why the latest attempt failed (`None`: it succeeded, or none was made).
    pub last_error: Option<String>,
    /// When it failed (ms since the Unix epoch).
    pub last_error_at_ms: Option<i64>,
    /// Loads refused since start.
    pub failed_loads: u64,
    /// Versions swapped in since start.
    pub swaps: u64,
}

/// A tenant of the server.
pub struct Tenant {
    id: String,
    profile: ArcSwap<TenantProfile>,
    /// The current plugin; events already running keep the version they started with.
    pub plugin: ArcSwapOption<Plugin>,
    /// A candidate version being tried beside it (`PUT /admin/tenants/{id}/candidate`).
    pub candidate: ArcSwapOption<super::candidate::Candidate>,
    /// Earlier versions that sessions pinned to them may still run on (`pin_sessions`), by
    /// content hash; the newest few.
    pub pinned_versions: Mutex<Vec<Arc<Plugin>>>,
    /// Why the last canary was withdrawn by itself, if one was.
    pub last_withdrawal: Mutex<Option<String>>,
    /// Sessions with journaled events; its workers are this tenant's concurrent bot runs.
    pub runs: SessionQueue,
    /// Sessions with activities to send; its workers are this tenant's concurrent deliveries.
    pub deliveries: SessionQueue,
    /// Journaled events on their way from ingress to the runner, in memory.
    pub events: Inbox<JournalEntry>,
    /// Stored activities on their way from the runner to the sender, in memory.
    pub outgoing: Inbox<OutboxEntry>,
    /// Journaled events not yet processed.
    pub backlog: AtomicUsize,
    /// The claims on its sessions this process holds.
    pub claims: Claims,
    status: Mutex<LoadStatus>,
    /// Held while a plugin version is loaded and swapped in, so loads of one tenant never
    /// overlap.
    pub load_lock: tokio::sync::Mutex<()>,
    /// Woken when the plugin file changed (the watcher).
    pub file_changed: Notify,
    retired: AtomicBool,
}

impl TenantProfile {
    /// The plugin file (watched).
    pub fn plugin_path(&self) -> &Path {
        &self.config.plugin
    }
}

impl Tenant {
    /// A tenant with `profile` and no plugin yet.
    pub fn new(profile: TenantProfile) -> Self {
        let limits = &profile.config.limits;
        Self {
            id: profile.env.id.clone(),
            runs: SessionQueue::new(limits.max_concurrent_runs),
            deliveries: SessionQueue::new(limits.max_concurrent_deliveries),
            events: Inbox::new(MAX_PER_SESSION, &PROCESS_BUDGET),
            outgoing: Inbox::new(MAX_PER_SESSION, &PROCESS_BUDGET),
            profile: ArcSwap::from_pointee(profile),
            plugin: ArcSwapOption::empty(),
            candidate: ArcSwapOption::empty(),
            pinned_versions: Mutex::default(),
            last_withdrawal: Mutex::default(),
            backlog: Default::default(),
            claims: Claims::default(),
            status: Mutex::default(),
            load_lock: tokio::sync::Mutex::new(()),
            file_changed: Notify::new(),
            retired: AtomicBool::new(false),
        }
    }

    /// The tenant id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its configuration as of now (read it once per event).
    pub fn profile(&self) -> Arc<TenantProfile> {
        self.profile.load_full()
    }

    /// Applies a reloaded configuration to the next events.
    pub fn set_profile(&self, profile: TenantProfile) {
        let limits = &profile.config.limits;
        self.runs.set_max_workers(limits.max_concurrent_runs);
        self.deliveries
            .set_max_workers(limits.max_concurrent_deliveries);
        let replaced = self.profile.swap(Arc::new(profile));
        // The old configuration's warm instances hold it (their stores hold its env): drop
        // them, or neither they nor their instance slots would ever be given back.
        replaced.env.warm.close();
    }

    /// Keeps `plugin` for sessions pinned to it (the newest [`PINNED_VERSIONS`] are kept).
    pub fn keep_for_pinned(&self, plugin: Arc<Plugin>) {
        let mut kept = self
            .pinned_versions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        kept.retain(|p| p.info().hash != plugin.info().hash);
        kept.push(plugin);
        if kept.len() > PINNED_VERSIONS {
            kept.remove(0);
        }
    }

    /// The earlier version `hash`, if it is kept for pinned sessions.
    pub fn pinned_version(&self, hash: &str) -> Option<Arc<Plugin>> {
        self.pinned_versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|p| p.info().hash == hash)
            .cloned()
    }

    /// Unprocessed events.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::SeqCst)
    }

    /// The latest load's outcome.
    pub fn status(&self) -> LoadStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Updates the load status.
    pub fn update_status(&self, change: impl FnOnce(&mut LoadStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Marks the tenant removed from the configuration (its watcher task ends; its workers
    /// finish the work in hand).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.profile().env.warm.close();
        self.file_changed.notify_one();
    }

    /// Whether the tenant was removed.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }
}
