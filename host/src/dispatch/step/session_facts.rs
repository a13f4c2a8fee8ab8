//! Language and channel of a session, remembered from the events that carry them (only some
//! do), so every event's context has them. They are stored in a state scope bots cannot name,
//! and cached in memory (a bounded cache per tenant) so an event costs no storage read.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::mluvii::WebhookEvent;
use crate::runtime::TenantEnv;

/// Sessions whose facts a tenant's cache holds; past it, the cache starts over.
const CACHED_SESSIONS: usize = 10_000;

/// What is remembered of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// The guest's language.
    pub language: Option<String>,
    /// The session's source (channel).
    pub channel: Option<String>,
}

/// A tenant's cache of session facts (kept across configuration reloads).
#[derive(Default)]
pub struct FactsCache(Mutex<HashMap<i64, SessionFacts>>);

impl FactsCache {
    fn get(&self, session: i64) -> Option<SessionFacts> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&session)
            .cloned()
    }

    fn remove(&self, session: i64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&session);
    }

    fn put(&self, session: i64, facts: &SessionFacts) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_SESSIONS && !cache.contains_key(&session) {
            cache.clear();
        }
        cache.insert(session, facts.clone());
    }
}

/// Where a session's facts are stored: a scope bots cannot name, and the key.
fn location(tenant: &TenantEnv, session: i64) -> (String, String) {
    (
        format!("\u{1}host/{}", tenant.id),
        format!("session/{session}/facts"),
    )
}

/// The facts of `event`'s session, updated with what `event` carries (and stored when that
/// changed them); `cache` is the tenant's.
pub async fn facts_for(
    tenant: &TenantEnv,
    cache: &FactsCache,
    event: &WebhookEvent,
) -> SessionFacts {
    let (scope, key) = location(tenant, event.session_id);
    let known = cache.get(event.session_id);
    let mut facts = match &known {
        Some(facts) => facts.clone(),
        None => tenant
            .state
            .get(&scope, &key)
            .await
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default(),
    };
    let fresh = event.language.is_some() && event.language != facts.language
        || event.source.is_some() && event.source != facts.channel;
    if fresh {
        facts.language = event.language.clone().or(facts.language);
        facts.channel = event.source.clone().or(facts.channel);
        let bytes = serde_json::to_vec(&facts).expect("facts serialize");
        if let Err(e) = tenant.state.set(&scope, &key, bytes, None).await {
            tracing::warn!(tenant = %tenant.id, error = %e, "could not remember session facts");
        }
    }
    if fresh || known.is_none() {
        cache.put(event.session_id, &facts);
    }
    facts
}

/// Forgets what is remembered of `session` (its conversation ended): the cached entry and the
/// stored row.
pub async fn forget_session(tenant: &TenantEnv, cache: &FactsCache, session: i64) {
    cache.remove(session);
    let (scope, key) = location(tenant, session);
    if let Err(e) = tenant.state.delete(&scope, &key).await {
        tracing::warn!(tenant = %tenant.id, error = %e, "could not forget session facts");
    }
}
