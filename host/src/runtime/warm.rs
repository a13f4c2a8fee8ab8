//! Warm instances: a tenant may let one instance of its bot handle up to N events, or for up to
//! T seconds, instead of a fresh instance per event, which saves the start-up of big language
//! runtimes (Python, SpiderMonkey, Go) on every event. The trade-off, documented for the
//! tenant: the bot's globals survive between its events. Instances live in the tenant's own
//! pool, so they never serve another tenant, and one that failed is dropped, never reused.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::host_state::HostState;
use crate::contract::Bot;

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

/// The engine-wide budget of idle warm instances: each holds an instance slot of the pool,
/// so their number is bounded apart from the runs in flight.
#[derive(Debug)]
pub struct WarmSlots {
    held: AtomicUsize,
    max: usize,
}

impl WarmSlots {
    /// A budget of `max` warm instances.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            held: AtomicUsize::new(0),
            max,
        })
    }

    /// A slot, unless `max` are held.
    pub fn try_take(self: &Arc<Self>) -> Option<WarmSlot> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.max).then_some(held + 1)
            })
            .ok()
            .map(|_| WarmSlot(self.clone()))
    }

    /// Slots held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// One warm instance's place in the budget; given back when dropped.
#[derive(Debug)]
pub struct WarmSlot(Arc<WarmSlots>);

impl Drop for WarmSlot {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
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
    /// Its place in the engine's budget of warm instances.
    pub slot: WarmSlot,
}

impl WarmInstance {
    fn usable(&self, plugin_hash: &str, reuse: &InstanceReuse, now: Instant) -> bool {
        self.plugin_hash == plugin_hash
            && self.events < reuse.max_events
            && now.duration_since(self.created) < reuse.max_age
    }
}

/// A tenant's idle warm instances (at most one per concurrent run of the tenant, since each
/// run returns at most the one it took). Each instance's store holds its tenant, whose
/// configuration holds this pool: a pool no longer used must be [`WarmPool::close`]d, or the
/// instances (and their slots) would never be dropped.
#[derive(Default)]
pub struct WarmPool {
    idle: Mutex<Vec<WarmInstance>>,
    closed: AtomicBool,
}

impl WarmPool {
    /// An idle instance of `plugin_hash` still within `reuse`, if any; the ones past it are
    /// dropped on the way.
    pub fn take(&self, plugin_hash: &str, reuse: &InstanceReuse) -> Option<WarmInstance> {
        let now = Instant::now();
        let mut idle = self.lock();
        idle.retain(|instance| instance.usable(plugin_hash, reuse, now));
        idle.pop()
    }

    /// Returns an instance after an event it handled successfully (dropped when the pool was
    /// closed meanwhile).
    pub fn put(&self, instance: WarmInstance) {
        let mut idle = self.lock();
        if self.closed.load(Ordering::SeqCst) {
            drop(idle);
            drop(instance);
            return;
        }
        idle.push(instance);
    }

    /// Drops every idle instance and every one returned later: the tenant's configuration
    /// was replaced or removed.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let dropped = std::mem::take(&mut *self.lock());
        drop(dropped);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WarmInstance>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops every idle instance older than `max_age` (housekeeping, so an idle tenant does
    /// not keep instance slots).
    pub fn evict_older_than(&self, max_age: Duration) {
        let now = Instant::now();
        self.lock()
            .retain(|instance| now.duration_since(instance.created) < max_age);
    }

    /// Idle instances held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no instance is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_slots_are_bounded_and_given_back_on_drop() {
        let slots = WarmSlots::new(2);
        let first = slots.try_take().unwrap();
        let second = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(first);
        assert_eq!(slots.held(), 1);
        let third = slots.try_take().unwrap();
        drop((second, third));
        assert_eq!(slots.held(), 0);
    }
}
