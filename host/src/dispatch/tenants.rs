//! The tenants by id, behind an atomic pointer: a configuration reload replaces the map at
//! once; a request or worker looks a tenant up when it needs it.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Tenant;

/// The current tenants.
#[derive(Default)]
pub struct TenantMap(ArcSwap<HashMap<String, Arc<Tenant>>>);

impl TenantMap {
    /// The tenant with `id`, if configured now.
    pub fn get(&self, id: &str) -> Option<Arc<Tenant>> {
        self.0.load().get(id).cloned()
    }

    /// Whether a tenant with `id` is configured now.
    pub fn contains(&self, id: &str) -> bool {
        self.0.load().contains_key(id)
    }

    /// Every tenant configured now.
    pub fn all(&self) -> Arc<HashMap<String, Arc<Tenant>>> {
        self.0.load_full()
    }

    /// Replaces the tenants.
    pub fn replace(&self, tenants: HashMap<String, Arc<Tenant>>) {
        self.0.store(Arc::new(tenants));
    }
}
