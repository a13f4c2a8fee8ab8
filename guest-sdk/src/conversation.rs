//! The conversation an event belongs to.

use crate::Context;
use crate::state::Scope;

/// The session an event belongs to, with its tenant, language and channel.
#[derive(Debug, Clone)]
pub struct Conversation {
    context: Context,
}

impl Conversation {
    /// Wraps the context the host passed.
    pub fn new(context: Context) -> Self {
        Self { context }
    }

    /// mluvii's session id.
    pub fn session_id(&self) -> i64 {
        self.context.session_id
    }

    /// The tenant id.
    pub fn tenant(&self) -> &str {
        &self.context.tenant
    }

    /// The guest's language code (`en`, `cs`), when known.
    pub fn language(&self) -> Option<&str> {
        self.context.language.as_deref()
    }

    /// The session source (`Default` = WebChat, `Facebook`, `WhatsApp`, …), when known.
    pub fn channel(&self) -> Option<&str> {
        self.context.channel.as_deref()
    }

    /// Storage for this session only.
    pub fn session(&self) -> Scope {
        Scope::session(self.context.session_id)
    }

    /// Storage shared by all sessions of the tenant.
    pub fn tenant_state(&self) -> Scope {
        Scope::tenant()
    }
}
