//! The echo bot: greets when a conversation starts and repeats every message.
//!
//! Settings: `greeting` (the first message).

use wasmbot_sdk::{Activity, Bot, Conversation, Event, Result, config, export_bot, log};

struct Echo;

const DEFAULT_GREETING: &str = "Hello! I am the echo bot. Write anything and I will repeat it.";

impl Bot for Echo {
    fn handle(conversation: &Conversation, event: Event) -> Result<Vec<Activity>> {
        match event {
            Event::ConversationStarted(_) => Ok(vec![Activity::text(config::get_or(
                "greeting",
                DEFAULT_GREETING,
            ))]),
            Event::Text(message) => {
                log::debug(&format!(
                    "session {} wrote {} bytes",
                    conversation.session_id(),
                    message.text.len()
                ));
                Ok(vec![Activity::text(format!(
                    "You said: {}",
                    escape_html(&message.text)
                ))])
            }
            _ => Ok(vec![]),
        }
    }
}

/// mluvii renders a subset of HTML: the guest's own text is shown as text, never as markup.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

export_bot!(Echo);
