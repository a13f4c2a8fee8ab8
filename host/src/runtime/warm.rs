//! Warm instances: a tenant may let one instance of its bot handle up to N events, or for up to
//! T seconds, instead of a fresh instance per event, which saves the start-up of big language
//! runtimes (Python, SpiderMonkey, Go) on every event. The trade-off, documented for the
//! tenant: the bot's globals survive between its events. Instances live in the tenant's own
//! pool, so they never serve another tenant, and one that failed is dropped, never reused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::bindings::Bot;
use super::host_state::HostState;

/// How long and for how many events one instance may serve its tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceReuse {
    /// Events one instance may handle; 0 or 1 means a fresh instance per event.
    pub max_events: u32,
    /// Age past which an instance is not reused.
    pub max_age: Duration,
}

impl InstanceReuse {
    /// Whether instances are reused at all.
    pub fn enabled(&self) -> bool {
        self.max_events > 1 && !self.max_age.is_zero()
    }
}

/// An instance between two events.
pub struct WarmInstance {
    /// Its store.
    pub store: Store<HostState>,
    /// The instance.
    pub bot: Bot,
    /// The content hash of the plugin it was made from.
    pub plugin_hash: String,
    /// Events it has handled.
    pub events: u32,
    /// When it was made.
    pub created: Instant,
}

impl WarmInstance {
    fn usable(&self, plugin_hash: &str, reuse: &InstanceReuse, now: Instant) -> bool {
        self.plugin_hash == plugin_hash
            && self.events < reuse.max_events
            && now.duration_since(self.created) < reuse.max_age
            && !self.store.data().output_nearly_full()
    }
}

/// A tenant's idle warm instances (at most one per concurrent run of the tenant, since each
/// run returns at most the one it took).
#[derive(Default)]
pub struct WarmPool(Mutex<Vec<WarmInstance>>);

impl WarmPool {
    /// An idle instance of `plugin_hash` still within `reuse`, if any; the ones past it are
    /// dropped on the way.
    pub fn take(&self, plugin_hash: &str, reuse: &InstanceReuse) -> Option<WarmInstance> {
        let now = Instant::now();
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|instance| instance.usable(plugin_hash, reuse, now));
        idle.pop()
    }

    /// Returns an instance after an event it handled successfully.
    pub fn put(&self, instance: WarmInstance) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(instance);
    }

    /// Drops every idle instance older than `max_age` (housekeeping, so an idle tenant does
    /// not keep instance slots).
    pub fn evict_older_than(&self, max_age: Duration) {
        let now = Instant::now();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|instance| now.duration_since(instance.created) < max_age);
    }

    /// Idle instances held.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no instance is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
