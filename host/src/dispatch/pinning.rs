//! Session pinning (`pin_sessions`): after a swap, a conversation already running finishes
//! on the version it started with (up to `pin_max_age_secs`); new ones get the new version.
//! The pin is stored with the session's facts, so other replicas and restarts keep it; the
//! earlier versions themselves are kept loaded per tenant (the newest few).

use std::sync::Arc;

use super::step::pinned_version;
use super::{Dispatcher, Tenant, TenantProfile};
use crate::mluvii::WebhookEvent;
use crate::runtime::Plugin;

impl Dispatcher {
    /// The version the event's session runs on: `serving`, or the earlier version the session
    /// is pinned to while that is kept.
    pub(super) async fn pinned_or(
        &self,
        profile: &TenantProfile,
        event: &WebhookEvent,
        serving: Arc<Plugin>,
        tenant: &Tenant,
    ) -> Arc<Plugin> {
        if !profile.config.pin_sessions {
            return serving;
        }
        let max_age_ms = (profile.config.pin_max_age_secs as i64).saturating_mul(1000);
        let serving_hash = serving.info().hash.clone();
        let pinned = pinned_version(
            &profile.env,
            &profile.facts,
            event,
            &serving_hash,
            max_age_ms,
        )
        .await;
        if pinned == serving_hash {
            return serving;
        }
        match tenant.pinned_version(&pinned) {
            Some(earlier) => earlier,
            None => {
                tracing::debug!(session = event.session_id, %pinned, "the version the session is pinned to is no longer kept; it moves on");
                serving
            }
        }
    }
}
