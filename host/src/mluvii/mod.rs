//! Wire types of the mluvii API-chatbot protocol (`mluvii-api.md`), with its tolerance rules.

pub mod inbound;
pub mod lenient;
pub mod outbound;
mod webhook;

#[cfg(test)]
mod fixture_tests;

pub use inbound::InboundActivity;
pub use outbound::{ChannelActivity, MessageBody, SendActivity, SendBody};
pub use webhook::{Webhook, WebhookError, WebhookEvent, parse_webhook};
