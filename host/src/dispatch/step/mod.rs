//! The pipeline step that calls the bot, where mluvii's protocol meets the contract: a webhook
//! event becomes the contract's event and context (with the session's remembered language and
//! channel), the runtime runs it, and the bot's activities become Send API bodies within the
//! tenant's output limits. The runtime on the other side sees only the contract's types.

#[cfg(test)]
mod convert_tests;
mod session_facts;
mod to_wire;
mod to_wit;

use std::sync::Arc;

pub use session_facts::{FactsCache, SessionFacts, expire_facts, pinned_version};
pub use to_wire::activity_to_wire;
pub use to_wit::event_to_wit;

use crate::contract::types::{Activity, Context};
use crate::mluvii::{InboundActivity, SendActivity, WebhookEvent};
use crate::runtime::{BotError, BotRun, Plugin, Runtime, TenantEnv};
use session_facts::{facts_for, forget_session};

/// What one webhook event's run produced, in mluvii's terms: Send API bodies.
pub type EventRun = BotRun<SendActivity>;

/// Runs `event` through `tenant`'s `plugin` on `runtime`; `facts` is the tenant's cache of
/// session facts, whose stored rows also hold sessions' pins when `pinning`. The bot is told
/// an ended session's facts once more, then they are forgotten.
pub async fn run_event(
    runtime: &Runtime,
    plugin: &Plugin,
    tenant: &Arc<TenantEnv>,
    facts: &FactsCache,
    event: &WebhookEvent,
    pinning: bool,
) -> EventRun {
    let known = facts_for(tenant, facts, event, pinning).await;
    if matches!(event.activity, InboundActivity::ConversationEnded { .. }) {
        forget_session(tenant, facts, event.session_id).await;
    }
    let context = Context {
        tenant: tenant.id.clone(),
        session_id: event.session_id,
        language: known.language,
        channel: known.channel,
    };
    let max_bytes = tenant.limits.max_output_bytes;
    runtime
        .handle(plugin, tenant, context, event_to_wit(&event.activity))
        .await
        .convert(|activities| send_bodies(event.session_id, activities, max_bytes))
}

/// The bot's activities as Send API bodies, or the first one that cannot be sent, or the
/// output's size when it is over `max_bytes` of JSON.
fn send_bodies(
    session_id: i64,
    activities: Vec<Activity>,
    max_bytes: usize,
) -> Result<Vec<SendActivity>, BotError> {
    let bodies = activities
        .into_iter()
        .enumerate()
        .map(|(index, activity)| {
            activity_to_wire(session_id, activity)
                .map_err(|reason| BotError::InvalidActivity { index, reason })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes: usize = bodies
        .iter()
        .map(|a| serde_json::to_vec(a).map_or(0, |v| v.len()))
        .sum();
    if bytes > max_bytes {
        return Err(BotError::TooMuchOutput(format!(
            "{bytes} bytes of activities, the limit is {max_bytes}"
        )));
    }
    Ok(bodies)
}
