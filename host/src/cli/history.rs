//! Real conversations read back from a tenant's journal and outbox, for `wasmbot replay` and
//! `wasmbot export`: the configuration names the storage (either backend; opened beside a
//! running server, without the data directory's lock) and the tenant's settings.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use crate::config::{ConfigFile, TenantConfig};
use crate::storage::{HistoryQuery, LoggedEvent};

/// One session's journaled events, in order.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The session.
    pub session_id: i64,
    /// Its events with what the serving version produced for each.
    pub events: Vec<LoggedEvent>,
}

impl Conversation {
    /// Whether the journal holds the conversation from its start: its first event is a
    /// `ConversationStarted`, or it is too young for earlier events to have been deleted by
    /// retention (`retention_hours`, with an hour's margin).
    pub fn complete(&self, retention_hours: u64) -> bool {
        let Some(first) = self.events.first() else {
            return false;
        };
        let started = serde_json::from_slice::<Value>(&first.body)
            .ok()
            .is_some_and(|body| {
                activity_name(&body).is_some_and(|n| n.eq_ignore_ascii_case("ConversationStarted"))
            });
        let horizon_ms = (retention_hours.saturating_sub(1) * 3_600_000) as i64;
        started || first.received_at_ms > crate::storage::now_ms() - horizon_ms
    }
}

/// The `activity` of a webhook body, in either casing of the key.
pub fn activity_name(body: &Value) -> Option<&str> {
    body.get("activity")
        .or_else(|| body.get("Activity"))
        .and_then(Value::as_str)
}

/// A tenant's configuration and its storage's conversations.
pub struct History {
    /// The configuration file.
    pub config: ConfigFile,
    /// The tenant's table.
    pub tenant: TenantConfig,
}

impl History {
    /// Loads `path` and finds `tenant` in it.
    pub fn open(path: &Path, tenant: &str) -> anyhow::Result<Self> {
        let config = ConfigFile::load(path)?;
        let Some(table) = config.tenants.iter().find(|t| t.id == tenant).cloned() else {
            let known: Vec<&str> = config.tenants.iter().map(|t| t.id.as_str()).collect();
            bail!(
                "{} has no tenant {tenant:?} (it has: {})",
                path.display(),
                known.join(", ")
            );
        };
        Ok(Self {
            config,
            tenant: table,
        })
    }

    /// The tenant's settings as the bot's `config` import sees them.
    pub fn settings(&self) -> anyhow::Result<Map<String, Value>> {
        match serde_json::to_value(&self.tenant.settings)? {
            Value::Object(map) => Ok(map),
            _ => bail!("tenant {}: settings must be a table", self.tenant.id),
        }
    }

    /// The conversations with an event received in `[since_ms, until_ms)` (of `sessions`
    /// only, when any are named), each from its first journaled event on.
    pub fn conversations(
        &self,
        since_ms: i64,
        until_ms: i64,
        sessions: &[i64],
    ) -> anyhow::Result<Vec<Conversation>> {
        let io = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        io.block_on(async {
            let storage = crate::storage::open(&self.config.storage()?.for_tools())
                .await
                .context("opening the storage [storage] names")?;
            let tenant = self.tenant.id.clone();
            // Which sessions the range selects, then each whole (from its first event).
            let selected: Vec<i64> = if sessions.is_empty() {
                let in_range = storage
                    .history(&HistoryQuery {
                        tenant: tenant.clone(),
                        since_ms,
                        until_ms,
                        session: None,
                    })
                    .await?;
                let mut ids: Vec<i64> = in_range.iter().map(|e| e.session_id).collect();
                ids.dedup();
                ids
            } else {
                sessions.to_vec()
            };
            let mut conversations = Vec::with_capacity(selected.len());
            for session_id in selected {
                let events = storage
                    .history(&HistoryQuery {
                        tenant: tenant.clone(),
                        since_ms: i64::MIN,
                        until_ms: i64::MAX,
                        session: Some(session_id),
                    })
                    .await?;
                if !events.is_empty() {
                    conversations.push(Conversation { session_id, events });
                }
            }
            storage.close();
            Ok(conversations)
        })
    }
}

/// `--since`/`--until`: an RFC 3339 time, or a duration before now (`90s`, `30m`, `2h`, `7d`).
pub fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let amount: i64 = number
        .parse()
        .with_context(|| format!("{text:?} is neither an RFC 3339 time nor a duration like 2h"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => bail!("{text:?}: unknown unit {other:?} (s, m, h or d)"),
    };
    Ok(crate::storage::now_ms() - amount * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        assert_eq!(
            parse_time("2026-12-05T10:00:00Z").unwrap(),
            1_796_464_800_000
        );
        let two_hours_ago = parse_time("2h").unwrap();
        let expected = crate::storage::now_ms() - 7_200_000;
        assert!((two_hours_ago - expected).abs() < 1_000);
        assert!(parse_time("yesterday").is_err());
        assert!(
            parse_time("3w")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
    }
}
