//! What `wasmbot dev` shows a bot author beside the chat: each event's log lines, failure and
//! Send API JSON, plugin updates and refusals, and build results. A bounded ring in memory
//! (the newest 1,000 entries), read by the chat page by sequence number.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

/// Entries kept; older ones are dropped.
const KEPT: usize = 1000;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEntry {
    /// Increasing from 1.
    pub seq: u64,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
    /// `event`, `plugin_updated`, `plugin_refused`, `build_started`, `build_failed`.
    pub kind: &'static str,
    /// The tenant (bot) it concerns.
    pub tenant: String,
    /// Details: for an event, its webhook body, the bot's log lines, its error and the Send
    /// API bodies; for a plugin, its hash or the reason; for a build, the compiler's output.
    pub data: Value,
}

/// The feed.
#[derive(Default)]
pub struct DevFeed {
    entries: Mutex<VecDeque<FeedEntry>>,
}

impl DevFeed {
    /// Adds an entry.
    pub fn push(&self, kind: &'static str, tenant: &str, data: Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let seq = entries.back().map_or(1, |last| last.seq + 1);
        if entries.len() >= KEPT {
            entries.pop_front();
        }
        entries.push_back(FeedEntry {
            seq,
            at_ms: crate::storage::now_ms(),
            kind,
            tenant: tenant.to_owned(),
            data,
        });
    }

    /// Entries after `seq`, oldest first.
    pub fn since(&self, seq: u64) -> Vec<FeedEntry> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.iter().filter(|e| e.seq > seq).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_in_order() {
        let feed = DevFeed::default();
        for i in 0..(KEPT + 5) {
            feed.push("event", "echo", serde_json::json!(i));
        }
        let all = feed.since(0);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].seq, 6);
        assert_eq!(feed.since(KEPT as u64 + 3).len(), 2);
    }
}
