//! Durable storage: the journal of accepted webhooks, the outbox of activities waiting for
//! mluvii, its dead letters, and the bots' key-value state. One async trait, [`Storage`], with
//! the embedded SQLite backend as the default; a shared database (PostgreSQL) can implement
//! the same trait for several replicas.

pub mod sqlite;

use async_trait::async_trait;

pub use sqlite::{Durability, SqliteStorage};

/// A webhook accepted by ingress, to be journaled before its `200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The tenant whose webhook received it.
    pub tenant: String,
    /// The session ingress parsed from it.
    pub session_id: i64,
    /// When it arrived, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// The body exactly as mluvii sent it.
    pub body: Vec<u8>,
}

/// A journaled event not yet processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its position in the journal: events of a session are processed in this order.
    pub seq: i64,
    /// The tenant.
    pub tenant: String,
    /// The session.
    pub session_id: i64,
    /// When it arrived (ms since the epoch).
    pub received_at_ms: i64,
    /// The raw body.
    pub body: Vec<u8>,
}

/// An activity a bot produced, to be stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    /// Its name for logs (`message`, `HandOff`, …).
    pub name: String,
    /// The Send API body (JSON).
    pub body: String,
}

/// What became of an event, stored with it when it is marked processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The event's journal position.
    pub seq: i64,
    /// The activities to send, in order.
    pub activities: Vec<NewActivity>,
    /// Why the bot produced nothing, if it failed.
    pub error: Option<String>,
}

/// An activity in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its position: a session's activities are sent in this order.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The session.
    pub session_id: i64,
    /// Its name for logs.
    pub name: String,
    /// The Send API body (JSON).
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the first failed attempt happened (ms since the epoch).
    pub first_failure_ms: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Whether it is a dead letter (the session's later activities wait behind it).
    pub dead: bool,
}

/// Counts of unfinished work of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantBacklog {
    /// The tenant.
    pub tenant: String,
    /// Journaled events not yet processed.
    pub events: u64,
    /// Activities not yet sent (dead letters excluded).
    pub activities: u64,
    /// Dead letters.
    pub dead_letters: u64,
}

/// A tenant's session.
pub type SessionRef = (String, i64);

/// The storage of the event path. Every method is atomic; `append` and `complete` are durable
/// when they return (concurrent calls share one commit). `mark_sent` may return before its
/// commit: calls made afterwards see it, and if the process dies first the activity is sent
/// again (delivery is at least once).
#[async_trait]
pub trait Storage: Send + Sync {
    /// Journals an accepted webhook; returns its journal position.
    async fn append(&self, event: NewEvent) -> anyhow::Result<i64>;
    /// Sessions with unprocessed events, the oldest first.
    async fn sessions_with_events(&self) -> anyhow::Result<Vec<SessionRef>>;
    /// Up to `limit` unprocessed events of a session, in journal order.
    async fn pending_events(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<JournalEntry>>;
    /// Marks events processed and stores their activities in the outbox, all in one
    /// transaction; returns the outbox ids of the activities, in order.
    async fn complete(&self, completions: Vec<Completion>) -> anyhow::Result<Vec<i64>>;
    /// Sessions with unsent activities (including those blocked by a dead letter).
    async fn sessions_with_activities(&self) -> anyhow::Result<Vec<SessionRef>>;
    /// Up to `limit` unsent activities of a session (dead letters included), in order.
    async fn pending_activities(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<OutboxEntry>>;
    /// Marks an activity delivered.
    async fn mark_sent(&self, id: i64) -> anyhow::Result<()>;
    /// Records a failed attempt (the first failure's time is kept).
    async fn record_failure(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()>;
    /// Makes an activity a dead letter.
    async fn mark_dead(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()>;
    /// Every dead letter, oldest first.
    async fn dead_letters(&self) -> anyhow::Result<Vec<OutboxEntry>>;
    /// Makes a dead letter (or all, with `None`) pending again with a fresh retry budget;
    /// returns how many.
    async fn retry_dead(&self, id: Option<i64>) -> anyhow::Result<usize>;
    /// Deletes a dead letter (or all, with `None`), releasing its session's later activities;
    /// returns how many.
    async fn drop_dead(&self, id: Option<i64>) -> anyhow::Result<usize>;
    /// Unfinished work per tenant.
    async fn backlog(&self) -> anyhow::Result<Vec<TenantBacklog>>;
    /// Deletes processed events and sent activities finished before `before_ms`; returns how
    /// many rows went.
    async fn prune(&self, before_ms: i64) -> anyhow::Result<usize>;
    /// The bot state value under `key` in `scope` (a tenant id, or a host-internal scope).
    async fn state_get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores a bot state value, unless the scope would then be over `quota` (then nothing
    /// changes and the answer says why).
    async fn state_set(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite>;
    /// Removes a bot state value.
    async fn state_delete(&self, scope: &str, key: &str) -> anyhow::Result<()>;
    /// Deletes the state values of every scope starting with `scope_prefix` last written
    /// before `before_ms` (or at an unknown time); returns how many went.
    async fn state_expire(&self, scope_prefix: &str, before_ms: i64) -> anyhow::Result<usize>;
}

/// The most one state scope (a tenant) may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateQuota {
    /// Keys.
    pub max_keys: u64,
    /// Bytes of keys and values together.
    pub max_bytes: u64,
}

/// What became of a state write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateWrite {
    /// The value is stored.
    Stored,
    /// The scope would be over its quota; nothing changed.
    OverQuota(String),
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
