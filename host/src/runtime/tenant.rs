//! What a tenant's bot instances share: its id, settings, state store and limits.

use std::sync::Arc;
use std::time::Duration;

use super::pacing::LongRunRecord;
use super::warm::{InstanceReuse, WarmPool};
use crate::capabilities::config::Settings;
use crate::capabilities::http::TenantHttp;
use crate::storage::Storage;

/// Per-tenant limits on one event's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time the bot may run for one event before it is interrupted.
    pub timeout: Duration,
    /// Most bytes of linear memory one instance may hold, all its memories together.
    pub max_memory_bytes: usize,
    /// Most table elements one instance may hold, all its tables together.
    pub max_table_elements: usize,
    /// Most activities one event may produce.
    pub max_activities: usize,
    /// Most bytes of Send API JSON one event may produce, all activities together.
    pub max_output_bytes: usize,
    /// Most keys the tenant's state may hold.
    pub max_state_keys: u64,
    /// Most bytes (keys and values together) the tenant's state may hold.
    pub max_state_bytes: u64,
    /// Most sessions whose language and channel the host keeps stored for the tenant.
    pub max_session_facts: u64,
    /// Most log lines (the log import, stdout and stderr) one event may emit; the rest are
    /// counted and reported in one summary line.
    pub max_log_lines: usize,
    /// Most bytes of log text one event may emit.
    pub max_log_bytes: usize,
    /// Whether one instance may serve several events (off by default).
    pub reuse: InstanceReuse,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_memory_bytes: 64 << 20,
            max_table_elements: 50_000,
            max_activities: 50,
            max_output_bytes: 256 << 10,
            max_state_keys: 10_000,
            max_state_bytes: 16 << 20,
            max_session_facts: 100_000,
            max_log_lines: 1_000,
            max_log_bytes: 256 << 10,
            reuse: InstanceReuse::default(),
        }
    }
}

/// A tenant as the runtime sees it.
pub struct TenantEnv {
    /// The tenant id (state scope, log attribution).
    pub id: String,
    /// What the `config` import returns.
    pub settings: Settings,
    /// What the `state` import reads and writes.
    pub state: Arc<dyn Storage>,
    /// The state's scope when it is not the tenant id: a candidate version's own namespace,
    /// apart from the serving version's state.
    pub state_scope: Option<String>,
    /// Time and memory limits.
    pub limits: Limits,
    /// What its bots may reach over HTTP, and the client they go through.
    pub http: Arc<TenantHttp>,
    /// Its idle warm instances, when `limits.reuse` allows them (a new configuration starts
    /// with none).
    pub warm: WarmPool,
    /// Whether its recent runs went long, so its next one starts on the long-run pool.
    pub long_run: LongRunRecord,
}
