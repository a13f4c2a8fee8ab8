//! Durable storage: the journal of accepted webhooks, the outbox of activities waiting for
//! mluvii, its dead letters, the bots' key-value state, and who works on which session. One
//! async trait, [`Storage`], with two backends side by side: the embedded SQLite default (one
//! process) and PostgreSQL (several replicas sharing one database). [`open`] chooses one from
//! `[storage]`; nothing outside this module names a backend.
//!
//! The database, not memory, decides who works on a session: the dispatcher takes a
//! [`Claim`] (a lease on one session's work in one [`Stage`]) before it runs or sends, passes
//! it to [`Storage::complete`] and [`Storage::mark_sent`], which fail with [`LeaseLost`] once
//! another holder has taken it over, and gives it back with [`Storage::release`].

mod config;
mod postgres;
mod sqlite;

use async_trait::async_trait;

pub use config::{Backend, StorageConfig, StorageSection, memory, open, probe};
pub use postgres::PostgresOptions;
pub use sqlite::{Durability, EVENTS_FILE, LOCK_FILE};

/// The two stages of a session's work; each is claimed on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Journaled events to run through the bot.
    Run,
    /// Outbox activities to send to mluvii.
    Deliver,
}

impl Stage {
    /// The stage's number in the database.
    pub fn code(self) -> i16 {
        match self {
            Stage::Run => 0,
            Stage::Deliver => 1,
        }
    }
}

/// A lease on one session's work in one stage: while it is live nobody else works on that
/// session in that stage. Another holder may take it over once it has expired; from then on
/// the old holder's `complete` and `mark_sent` fail with [`LeaseLost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The tenant.
    pub tenant: String,
    /// The session.
    pub session_id: i64,
    /// The stage.
    pub stage: Stage,
    /// Tells this lease from every other one of the same session and stage.
    pub token: i64,
}

/// A claim was taken over by another holder (its lease had expired): the work done under it
/// is not stored, and whoever holds the session now does it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the lease on session {session_id} of tenant {tenant:?} was lost to another holder")]
pub struct LeaseLost {
    /// The tenant.
    pub tenant: String,
    /// The session.
    pub session_id: i64,
}

impl LeaseLost {
    /// The error for `claim`.
    pub fn of(claim: &Claim) -> anyhow::Error {
        anyhow::Error::new(Self {
            tenant: claim.tenant.clone(),
            session_id: claim.session_id,
        })
    }
}

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
    /// The W3C `traceparent` of its ingress span, when traces are on: its run and delivery
    /// continue that trace, on whichever replica they happen.
    pub trace: Option<String>,
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
    /// The `traceparent` it was journaled with.
    pub trace: Option<String>,
}

/// An activity a bot produced, to be stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    /// Its name for logs (`message`, `HandOff`, …).
    pub name: String,
    /// The Send API body (JSON).
    pub body: String,
    /// The `traceparent` of the bot run that produced it, when traces are on.
    pub trace: Option<String>,
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
    /// The `traceparent` of the bot run that produced it.
    pub trace: Option<String>,
}

/// A journaled event with what its run produced, read back by the tools that replay or
/// export real conversations (`wasmbot replay`, `wasmbot export`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Its position in the journal.
    pub seq: i64,
    /// The session.
    pub session_id: i64,
    /// When it arrived (ms since the epoch).
    pub received_at_ms: i64,
    /// The body exactly as mluvii sent it.
    pub body: Vec<u8>,
    /// Whether it was processed (its activities are all there).
    pub processed: bool,
    /// Why the bot failed on it, if it did (the fallback was what went out).
    pub error: Option<String>,
    /// The Send API bodies its run stored in the outbox, in order (sent, waiting or dead).
    pub activities: Vec<String>,
}

/// Which journaled events to read back: a tenant's, received in `[since_ms, until_ms)`,
/// of one session or of all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The tenant.
    pub tenant: String,
    /// Received at or after (ms since the epoch).
    pub since_ms: i64,
    /// Received before (ms since the epoch).
    pub until_ms: i64,
    /// Only this session's events.
    pub session: Option<i64>,
}

/// A tenant's candidate version as stored, so every replica tries it and it outlives a
/// restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCandidate {
    /// The tenant.
    pub tenant: String,
    /// The component's content hash.
    pub hash: String,
    /// How it runs (`shadow`).
    pub mode: String,
    /// When it was set (ms since the epoch); a new one, even of the same version, starts
    /// its findings afresh.
    pub set_at_ms: i64,
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

/// A plugin version published for every replica of shared storage (an upload or a rollback
/// through one replica's admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPlugin {
    /// The tenant.
    pub tenant: String,
    /// SHA-256 of the component, hex (its bytes are found under it).
    pub hash: String,
    /// How it was published (`upload`, `rollback`).
    pub source: String,
    /// When (ms since the epoch).
    pub published_at_ms: i64,
    /// Its place among publications: a later one has a larger number.
    pub seq: i64,
}

/// The plugin version one replica serves for one tenant, as that replica last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedPlugin {
    /// The replica (`server.replica_id`).
    pub replica: String,
    /// The tenant.
    pub tenant: String,
    /// SHA-256 of the component serving, hex.
    pub hash: String,
    /// When the replica last reported (ms since the epoch).
    pub seen_at_ms: i64,
}

/// The storage of the event path. Every method is atomic; `append` and `complete` are durable
/// when they return (concurrent calls share one commit). `mark_sent` may return before its
/// commit: calls made afterwards see it, and if the process dies first the activity is sent
/// again (delivery is at least once); if that commit fails, the claim's next `mark_sent` fails,
/// and no activity is recorded sent while an earlier one of its session is not (the session is
/// sent again from the first unrecorded one, in order).
#[async_trait]
pub trait Storage: Send + Sync {
    /// Whether this process is the only one writing: then what it stored itself is all there
    /// is, and in-memory copies of it are complete. `false` when other replicas share it.
    fn exclusive(&self) -> bool;
    /// Takes the lease of `session`'s work in `stage`, unless another holder's lease is live.
    async fn claim(
        &self,
        stage: Stage,
        tenant: &str,
        session_id: i64,
    ) -> anyhow::Result<Option<Claim>>;
    /// Leases up to `limit` sessions of `tenants` that have work in `stage` and no live lease
    /// (work taken by replicas that died, or journaled by other replicas), the oldest first. A
    /// shared backend may leave out events younger than its lease (their replica claims them
    /// itself) and look at only the oldest part of a deep backlog at a time.
    async fn claim_waiting(
        &self,
        stage: Stage,
        tenants: &[String],
        limit: usize,
    ) -> anyhow::Result<Vec<Claim>>;
    /// Extends the claim's lease; fails with [`LeaseLost`] if it was taken over.
    async fn renew(&self, claim: &Claim) -> anyhow::Result<()>;
    /// Gives the claim back; returns whether its session has work in its stage that someone
    /// must claim (work that arrived while it was held, e.g. through another replica).
    async fn release(&self, claim: &Claim) -> anyhow::Result<bool>;
    /// How long a lease lasts without renewal.
    fn lease(&self) -> std::time::Duration;
    /// Completes when other writers may have added work this process was not told about (a
    /// shared database polls); never, for an exclusive one.
    async fn changed_elsewhere(&self);
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
    /// Marks events of the claim's session processed and stores their activities in the
    /// outbox, all in one transaction; returns the outbox ids of the activities, in order.
    /// Fails with [`LeaseLost`], storing nothing, if the claim was taken over.
    async fn complete(
        &self,
        claim: &Claim,
        completions: Vec<Completion>,
    ) -> anyhow::Result<Vec<i64>>;
    /// Sessions with activities to send, the oldest first; a session blocked by a dead letter
    /// is not listed (it waits until the letter is retried or dropped).
    async fn sessions_with_activities(&self) -> anyhow::Result<Vec<SessionRef>>;
    /// Up to `limit` unsent activities of a session (dead letters included), in order.
    async fn pending_activities(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<OutboxEntry>>;
    /// Marks an activity of the claim's session delivered; fails with [`LeaseLost`] if the
    /// claim was taken over (the new holder sends it again: at least once).
    async fn mark_sent(&self, claim: &Claim, id: i64) -> anyhow::Result<()>;
    /// When the session's activities sent since `since_ms` were sent (ms since the epoch), so
    /// a replica taking its delivery over keeps within mluvii's pacing.
    async fn recent_sends(
        &self,
        tenant: &str,
        session_id: i64,
        since_ms: i64,
    ) -> anyhow::Result<Vec<i64>>;
    /// Records a failed attempt (the first failure's time is kept).
    async fn record_failure(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()>;
    /// Makes an activity a dead letter.
    async fn mark_dead(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()>;
    /// Every dead letter, oldest first.
    async fn dead_letters(&self) -> anyhow::Result<Vec<OutboxEntry>>;
    /// The journaled events `query` selects (processed or not, until retention deletes them),
    /// each with the activities its run stored, ordered by session and then journal order.
    async fn history(&self, query: &HistoryQuery) -> anyhow::Result<Vec<LoggedEvent>>;
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
    /// Like [`Storage::state_set`], for values whose loss in a database crash costs little
    /// (the host's session facts): a database server may answer before the write reaches its
    /// disk, so writes to one scope do not queue behind each other's flushes.
    async fn state_set_relaxed(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite> {
        self.state_set(scope, key, value, quota).await
    }
    /// Updates a value as [`Storage::state_set_relaxed`] would store it: `update` gets the
    /// stored value and returns the one to store (`None`: leave it). The update is ordered
    /// before every later state call of this process on this storage, and `done` gets its
    /// outcome. A backend that keeps that order itself returns at once (the embedded one
    /// queues the update on its writer; PostgreSQL applies queued updates in batches and has
    /// later state calls wait for them); the default reads, updates and stores before
    /// returning.
    async fn state_update_relaxed(
        &self,
        scope: &str,
        key: &str,
        update: StateUpdate,
        quota: Option<StateQuota>,
        done: StateUpdated,
    ) {
        let outcome = match self.state_get(scope, key).await {
            Ok(stored) => match update(stored.as_deref()) {
                Some(value) => self.state_set_relaxed(scope, key, value, quota).await,
                None => Ok(StateWrite::Stored),
            },
            Err(e) => Err(e),
        };
        done(outcome);
    }
    /// Like [`Storage::state_delete`], relaxed as [`Storage::state_set_relaxed`] is.
    async fn state_delete_relaxed(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.state_delete(scope, key).await
    }
    /// Deletes the state values of every scope starting with `scope_prefix` last written
    /// before `before_ms` (or at an unknown time); returns how many went.
    async fn state_expire(&self, scope_prefix: &str, before_ms: i64) -> anyhow::Result<usize>;

    /// Closes the connections to a database server once the work is done (after shutdown);
    /// later calls fail. Nothing to do for an embedded database (its files close when it is
    /// dropped).
    fn close(&self) {}

    /// Succeeds when this backend can journal now: a round trip to the database server, or a
    /// job on the embedded database's writer. Readiness (`/readyz`) asks it.
    async fn ping(&self) -> anyhow::Result<()>;

    /// Makes `candidate` (its component `bytes`) the tenant's candidate, replacing any
    /// earlier one; durable when it returns.
    async fn set_candidate(&self, candidate: &StoredCandidate, bytes: &[u8]) -> anyhow::Result<()>;
    /// Removes the tenant's candidate, if any.
    async fn clear_candidate(&self, tenant: &str) -> anyhow::Result<()>;
    /// The sessions of `tenant` with an event received before `until_ms` that the journal
    /// still holds (a canary's "sessions already running").
    async fn sessions_before(&self, tenant: &str, until_ms: i64) -> anyhow::Result<Vec<i64>>;
    /// Every tenant's candidate (without the bytes).
    async fn candidates(&self) -> anyhow::Result<Vec<StoredCandidate>>;
    /// The component of the tenant's candidate, if it is still `hash`.
    async fn candidate_bytes(&self, tenant: &str, hash: &str) -> anyhow::Result<Option<Vec<u8>>>;

    // Plugins shared by replicas. A backend only this process uses ([`Storage::exclusive`])
    // has no other replica to tell: the defaults store nothing and find nothing.

    /// Stores `bytes` (content-addressed by `hash`) as the tenant's plugin for every replica;
    /// durable when it returns.
    async fn publish_plugin(
        &self,
        _tenant: &str,
        _hash: &str,
        _source: &str,
        _bytes: &[u8],
    ) -> anyhow::Result<()> {
        Ok(())
    }
    /// Each tenant's newest publication.
    async fn published_plugins(&self) -> anyhow::Result<Vec<PublishedPlugin>> {
        Ok(Vec::new())
    }
    /// The bytes of a published plugin.
    async fn plugin_bytes(&self, _hash: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Records which version `replica` serves for each tenant (`(tenant, hash)`), replacing
    /// what it reported before.
    async fn report_serving(
        &self,
        _replica: &str,
        _serving: &[(String, String)],
    ) -> anyhow::Result<()> {
        Ok(())
    }
    /// What every replica last reported serving for `tenant`.
    async fn serving(&self, _tenant: &str) -> anyhow::Result<Vec<ServedPlugin>> {
        Ok(Vec::new())
    }
}

/// The most one state scope (a tenant) may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateQuota {
    /// Keys.
    pub max_keys: u64,
    /// Bytes of keys and values together.
    pub max_bytes: u64,
}

impl StateQuota {
    /// Why a write that changes a scope holding `keys` keys and `bytes` bytes by
    /// `keys_delta` and `bytes_delta` would put it over this quota, if it would.
    pub fn refusal(
        &self,
        keys: i64,
        bytes: i64,
        keys_delta: i64,
        bytes_delta: i64,
    ) -> Option<String> {
        if keys_delta > 0 && keys + keys_delta > self.max_keys as i64 {
            return Some(format!(
                "the tenant's state holds {keys} keys, the limit is {}",
                self.max_keys
            ));
        }
        if bytes_delta > 0 && bytes + bytes_delta > self.max_bytes as i64 {
            return Some(format!(
                "the tenant's state would hold {} bytes, the limit is {}",
                bytes + bytes_delta,
                self.max_bytes
            ));
        }
        None
    }
}

/// [`Storage::state_update_relaxed`]'s update: the stored value in, the value to store out
/// (`None`: leave it as it is).
pub type StateUpdate = Box<dyn FnOnce(Option<&[u8]>) -> Option<Vec<u8>> + Send>;

/// [`Storage::state_update_relaxed`]'s answer: what became of the update (`Stored` also when
/// there was nothing to change).
pub type StateUpdated = Box<dyn FnOnce(anyhow::Result<StateWrite>) + Send>;

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
