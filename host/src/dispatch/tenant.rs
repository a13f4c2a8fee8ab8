//! A tenant as the event path sees it: its runtime environment and plugin, its mluvii client,
//! its webhook token, its queues of sessions with work, and its backlog.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwapOption;

use super::fallback::FallbackConfig;
use super::session_queue::SessionQueue;
use crate::config::Secret;
use crate::delivery::MluviiClient;
use crate::runtime::{Plugin, TenantEnv};

/// A tenant of the server.
pub struct Tenant {
    /// Id, settings, state and limits (what the runtime needs).
    pub env: Arc<TenantEnv>,
    /// The current plugin; events already running keep the version they started with.
    pub plugin: ArcSwapOption<Plugin>,
    /// Its Send API client.
    pub client: MluviiClient,
    /// The token mluvii's webhook calls must carry.
    pub webhook_token: Secret,
    /// Sessions with journaled events; its workers are this tenant's concurrent bot runs.
    pub runs: SessionQueue,
    /// Sessions with activities to send; its workers are this tenant's concurrent deliveries.
    pub deliveries: SessionQueue,
    /// Journaled events not yet processed.
    pub backlog: AtomicUsize,
    /// Past this many unprocessed events, its webhooks are answered 503.
    pub max_backlog: usize,
    /// What the guest gets when the bot fails.
    pub fallback: FallbackConfig,
}

impl Tenant {
    /// The tenant id.
    pub fn id(&self) -> &str {
        &self.env.id
    }

    /// Unprocessed events.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::SeqCst)
    }
}
