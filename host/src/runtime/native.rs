//! Bots compiled into the host instead of loaded as components: the same contract types in
//! and out, and the same conversions around them, only without the sandbox. `wasmbot bench`
//! runs the native echo beside the echo plugin to measure what the sandbox costs.

use super::tenant::TenantEnv;
use crate::contract::types::{Activity, Context, Event, Message};

/// A bot behind the contract's types, run in the host's own code.
pub trait NativeBot: Send + Sync {
    /// Handles one event, as the plugin's `handler.handle` export would.
    fn handle(
        &self,
        tenant: &TenantEnv,
        context: &Context,
        event: &Event,
    ) -> Result<Vec<Activity>, String>;
}

/// The logic of `plugins/echo`, natively: the `greeting` setting when a conversation starts,
/// and every text repeated HTML-escaped.
pub struct NativeEcho;

const DEFAULT_GREETING: &str = "Hello! I am the echo bot. Write anything and I will repeat it.";

impl NativeBot for NativeEcho {
    fn handle(
        &self,
        tenant: &TenantEnv,
        context: &Context,
        event: &Event,
    ) -> Result<Vec<Activity>, String> {
        match event {
            Event::ConversationStarted(_) => Ok(vec![text(
                tenant
                    .settings
                    .get("greeting")
                    .unwrap_or(DEFAULT_GREETING)
                    .to_owned(),
            )]),
            Event::Text(message) => {
                tracing::debug!(target: "bot", "session {} wrote {} bytes", context.session_id, message.text.len());
                Ok(vec![text(format!(
                    "You said: {}",
                    escape_html(&message.text)
                ))])
            }
            _ => Ok(vec![]),
        }
    }
}

fn text(text: String) -> Activity {
    Activity::Message(Message {
        text: Some(text),
        cards: Vec::new(),
        layout: None,
        suggested_actions: Vec::new(),
        ignoring_input: false,
    })
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
