//! Language and channel of a session, remembered from the events that carry them (only some
//! do), so every event's context has them. They are stored in a state scope bots cannot name,
//! and cached in memory (a bounded cache per tenant) so an event costs no storage read. They
//! are forgotten when the conversation ends, or, for a session that never says so, when the
//! housekeeping expires them ([`expire_facts`]). The stored rows of a tenant are bounded
//! (`max_session_facts`); past the bound, a new session's facts are cached only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::mluvii::{InboundActivity, WebhookEvent};
use crate::runtime::TenantEnv;
use crate::storage::{StateQuota, StateWrite, Storage, now_ms};

/// Bytes one session's stored facts may take, on average, towards the tenant's bound.
const BYTES_PER_SESSION: u64 = 1024;

/// At most one warning per tenant this often that its facts are over the bound.
const WARN_EVERY_MS: i64 = 60_000;

/// Sessions whose facts a tenant's cache holds; past it, the cache starts over.
const CACHED_SESSIONS: usize = 10_000;

/// What is remembered of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// The guest's language.
    pub language: Option<String>,
    /// The session's source (channel).
    pub channel: Option<String>,
    /// The plugin version the session is pinned to (`pin_sessions`), by content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Since when (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_at_ms: Option<i64>,
}

/// A tenant's cache of session facts (kept across configuration reloads); clones share it.
#[derive(Default, Clone)]
pub struct FactsCache(Arc<CacheInner>);

#[derive(Default)]
struct CacheInner {
    sessions: Mutex<HashMap<i64, SessionFacts>>,
    last_warning_ms: AtomicI64,
}

impl FactsCache {
    /// Whether to warn now that the stored facts are over their bound.
    fn warn_now(&self) -> bool {
        let now = now_ms();
        let warned = &self.0.last_warning_ms;
        let last = warned.load(Ordering::Relaxed);
        now - last >= WARN_EVERY_MS
            && warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn get(&self, session: i64) -> Option<SessionFacts> {
        self.0
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&session)
            .cloned()
    }

    fn remove(&self, session: i64) {
        self.0
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&session);
    }

    fn put(&self, session: i64, facts: &SessionFacts) {
        let mut cache = self.0.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_SESSIONS && !cache.contains_key(&session) {
            cache.clear();
        }
        cache.insert(session, facts.clone());
    }
}

/// The start of every host-internal state scope (a bot's scope is its tenant id, which cannot
/// start with a control character).
const HOST_SCOPES: &str = "\u{1}host/";

/// Where a session's facts are stored: a scope bots cannot name, and the key.
fn location(tenant: &TenantEnv, session: i64) -> (String, String) {
    (
        format!("{HOST_SCOPES}{}", tenant.id),
        format!("session/{session}/facts"),
    )
}

/// The facts of `event`'s session, updated with what `event` carries (and stored when that
/// changed them); `cache` is the tenant's. With `need_pin` the stored pin is read too.
/// Without it, an event that carries both language and channel needs nothing stored: they
/// are merged into the stored facts by an update the storage orders before later calls
/// (the embedded backend without the event waiting for it).
pub async fn facts_for(
    tenant: &TenantEnv,
    cache: &FactsCache,
    event: &WebhookEvent,
    need_pin: bool,
) -> SessionFacts {
    let known = cache.get(event.session_id);
    if let (None, false, Some(language), Some(channel)) =
        (&known, need_pin, &event.language, &event.source)
    {
        let told = SessionFacts {
            language: Some(language.clone()),
            channel: Some(channel.clone()),
            ..SessionFacts::default()
        };
        cache.put(event.session_id, &told);
        if !matches!(event.activity, InboundActivity::ConversationEnded { .. }) {
            remember(tenant, cache, event.session_id, told.clone()).await;
        }
        return told;
    }
    let (scope, key) = location(tenant, event.session_id);
    let mut facts = match &known {
        Some(facts) => facts.clone(),
        None => tenant
            .state
            .state_get(&scope, &key)
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
        store(tenant, cache, event.session_id, &facts).await;
    }
    if fresh || known.is_none() {
        cache.put(event.session_id, &facts);
    }
    facts
}

/// Merges `told` (language and channel) into `session`'s stored facts, storing them when that
/// changed them; the storage orders it before later calls, so the event need not wait for it.
async fn remember(tenant: &TenantEnv, cache: &FactsCache, session: i64, told: SessionFacts) {
    let (scope, key) = location(tenant, session);
    let update = Box::new(move |stored: Option<&[u8]>| {
        let stored: Option<SessionFacts> =
            stored.and_then(|bytes| serde_json::from_slice(bytes).ok());
        let facts = SessionFacts {
            language: told.language,
            channel: told.channel,
            ..stored.clone().unwrap_or_default()
        };
        (stored.as_ref() != Some(&facts))
            .then(|| serde_json::to_vec(&facts).expect("facts serialize"))
    });
    let (id, cache) = (tenant.id.clone(), cache.clone());
    let done = Box::new(move |outcome| report(&id, &cache, outcome));
    tenant
        .state
        .state_update_relaxed(&scope, &key, update, Some(bound(tenant)), done)
        .await;
}

/// The bound of a tenant's stored facts.
fn bound(tenant: &TenantEnv) -> StateQuota {
    StateQuota {
        max_keys: tenant.limits.max_session_facts,
        max_bytes: tenant
            .limits
            .max_session_facts
            .saturating_mul(BYTES_PER_SESSION),
    }
}

/// Logs what went wrong with storing a tenant's facts (over the bound: at most once a minute).
fn report(tenant: &str, cache: &FactsCache, outcome: anyhow::Result<StateWrite>) {
    match outcome {
        Ok(StateWrite::Stored) => {}
        Ok(StateWrite::OverQuota(reason)) => {
            if cache.warn_now() {
                tracing::warn!(%tenant, %reason, "session facts over max_session_facts: new sessions' language and channel are not stored");
            }
        }
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "could not remember session facts")
        }
    }
}

/// Forgets what is remembered of `session` (its conversation ended): the cached entry and the
/// stored row.
pub async fn forget_session(tenant: &TenantEnv, cache: &FactsCache, session: i64) {
    cache.remove(session);
    let (scope, key) = location(tenant, session);
    if let Err(e) = tenant.state.state_delete_relaxed(&scope, &key).await {
        tracing::warn!(tenant = %tenant.id, error = %e, "could not forget session facts");
    }
}

/// The plugin version `event`'s session runs on with `pin_sessions`: the one it was pinned to,
/// while that pin is younger than `max_age`; else `serving`, which the session is pinned to
/// from now on (stored with its facts, so other replicas and restarts keep it).
pub async fn pinned_version(
    tenant: &TenantEnv,
    cache: &FactsCache,
    event: &WebhookEvent,
    serving: &str,
    max_age_ms: i64,
) -> String {
    let mut facts = facts_for(tenant, cache, event, true).await;
    let now = now_ms();
    if let (Some(version), Some(at)) = (&facts.version, facts.pinned_at_ms)
        && now - at < max_age_ms
    {
        return version.clone();
    }
    facts.version = Some(serving.to_owned());
    facts.pinned_at_ms = Some(now);
    store(tenant, cache, event.session_id, &facts).await;
    serving.to_owned()
}

/// Stores `facts` of `session` within the tenant's bound (relaxed: a machine crash may lose
/// the newest), and caches them.
async fn store(tenant: &TenantEnv, cache: &FactsCache, session: i64, facts: &SessionFacts) {
    let (scope, key) = location(tenant, session);
    let bytes = serde_json::to_vec(&facts).expect("facts serialize");
    let outcome = tenant
        .state
        .state_set_relaxed(&scope, &key, bytes, Some(bound(tenant)))
        .await;
    report(&tenant.id, cache, outcome);
    cache.put(session, facts);
}

/// Forgets the stored facts of every tenant's sessions last written before `before_ms` (sessions
/// whose end was never reported); returns how many went. A tenant's in-memory cache is bounded
/// on its own.
pub async fn expire_facts(storage: &dyn Storage, before_ms: i64) -> anyhow::Result<usize> {
    storage.state_expire(HOST_SCOPES, before_ms).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::mluvii::{Webhook, parse_webhook};
    use crate::runtime::Limits;
    use crate::storage::now_ms;

    fn tenant_on(storage: &Arc<dyn Storage>, limits: Limits) -> TenantEnv {
        TenantEnv {
            id: "acme".into(),
            settings: Default::default(),
            state: storage.clone(),
            state_scope: None,
            limits,
            http: Default::default(),
            warm: Default::default(),
            long_run: Default::default(),
        }
    }

    fn event(body: serde_json::Value) -> WebhookEvent {
        match parse_webhook(body.to_string().as_bytes()) {
            Ok(Webhook::Event(event)) => event,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn facts_are_remembered_and_expire_when_their_session_never_ends() {
        let storage: Arc<dyn Storage> = crate::storage::memory().unwrap();
        let tenant = tenant_on(&storage, Limits::default());
        let started = event(serde_json::json!({
            "activity": "ConversationStarted", "sessionId": 7, "language": "cs", "source": "web"
        }));
        let text = event(serde_json::json!({"activity": "Text", "sessionId": 7, "text": "hi"}));
        facts_for(&tenant, &FactsCache::default(), &started, true).await;
        // A fresh cache (another process) reads them back from storage.
        let known = facts_for(&tenant, &FactsCache::default(), &text, true).await;
        assert_eq!(known.language.as_deref(), Some("cs"));
        assert_eq!(known.channel.as_deref(), Some("web"));

        assert_eq!(expire_facts(&*storage, now_ms() - 60_000).await.unwrap(), 0);
        assert_eq!(expire_facts(&*storage, now_ms() + 1).await.unwrap(), 1);
        let known = facts_for(&tenant, &FactsCache::default(), &text, true).await;
        assert_eq!(known, SessionFacts::default());
    }

    #[tokio::test]
    async fn facts_an_event_carries_are_merged_into_the_stored_ones_in_order() {
        let storage: Arc<dyn Storage> = crate::storage::memory().unwrap();
        let tenant = tenant_on(&storage, Limits::default());
        let pinned = SessionFacts {
            language: Some("en".into()),
            channel: None,
            version: Some("v1".into()),
            pinned_at_ms: Some(5),
        };
        store(&tenant, &FactsCache::default(), 7, &pinned).await;
        let text = event(serde_json::json!({
            "activity": "Text", "sessionId": 7, "text": "hi", "language": "cs", "source": "web"
        }));
        let told = facts_for(&tenant, &FactsCache::default(), &text, false).await;
        assert_eq!(told.language.as_deref(), Some("cs"), "from the event");
        // Read after it: the update was queued first, so this sees it.
        let (scope, key) = location(&tenant, 7);
        let stored: SessionFacts =
            serde_json::from_slice(&storage.state_get(&scope, &key).await.unwrap().unwrap())
                .unwrap();
        assert_eq!(
            stored,
            SessionFacts {
                language: Some("cs".into()),
                channel: Some("web".into()),
                ..pinned
            },
            "language and channel merged in, the pin kept"
        );
    }

    #[tokio::test]
    async fn stored_facts_are_bounded_per_tenant_and_an_ended_session_makes_room() {
        let storage: Arc<dyn Storage> = crate::storage::memory().unwrap();
        let limits = Limits {
            max_session_facts: 2,
            ..Limits::default()
        };
        let tenant = tenant_on(&storage, limits);
        let started = |session: i64| {
            event(serde_json::json!({
                "activity": "ConversationStarted", "sessionId": session, "language": "cs"
            }))
        };
        let stored = |session: i64| {
            let (scope, key) = location(&tenant, session);
            let storage = storage.clone();
            async move { storage.state_get(&scope, &key).await.unwrap().is_some() }
        };
        let cache = FactsCache::default();
        for session in 1..=3 {
            let facts = facts_for(&tenant, &cache, &started(session), true).await;
            assert_eq!(facts.language.as_deref(), Some("cs"), "the event has them");
        }
        assert!(stored(1).await && stored(2).await);
        assert!(!stored(3).await, "past the bound");
        forget_session(&tenant, &cache, 1).await;
        facts_for(&tenant, &FactsCache::default(), &started(4), true).await;
        assert!(stored(4).await, "room made by the session that ended");
    }
}
