//! The embedded backend: two SQLite files under the data directory, each in WAL mode and
//! owned by one thread that commits in groups: `events.db` (journal, outbox, dead letters)
//! and `state.db` (the bots' state, apart so a bot's state call never waits behind a batch
//! of webhooks). rusqlite is used directly (see BENCHMARKS.md for why). One process owns the
//! directory (a lock on `wasmbot.lock`), so claims live in its memory ([`claims`]).

mod candidates;
mod claims;
mod history;
mod lock;
mod migrations;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Claim, Completion, HistoryQuery, JournalEntry, LeaseLost, LoggedEvent, NewEvent, OutboxEntry,
    SessionRef, Stage, StateQuota, StateUpdate, StateUpdated, StateWrite, Storage, StoredCandidate,
    TenantBacklog,
};
use claims::Leases;
pub use lock::{LOCK_FILE, is_locked};
use writer::Writer;

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is fsynced (`synchronous = FULL`): an acknowledged event survives a crash
    /// of the process and of the machine.
    #[default]
    Fsync,
    /// No fsync (`synchronous = OFF`): survives a crash of the process, not of the machine.
    /// For benchmarks and tests.
    None,
}

const OUTBOX_PENDING: i64 = 0;
const OUTBOX_SENT: i64 = 1;
const OUTBOX_DEAD: i64 = 2;

/// The file of the journal, the outbox and the dead letters, in the data directory.
pub const EVENTS_FILE: &str = "events.db";
/// The file of the bots' state, in the data directory.
pub const STATE_FILE: &str = "state.db";

/// The SQLite implementation of [`Storage`].
pub struct SqliteStorage {
    writer: Writer,
    state: Writer,
    leases: Arc<Leases>,
    /// Held while the storage is open (a server's), released when the process ends.
    _lock: Option<std::fs::File>,
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the databases in `data_dir`; with `lock`,
    /// refuses a directory another process holds and holds it until dropped.
    pub fn open(data_dir: &Path, durability: Durability, lock: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let lock = if lock {
            Some(lock::lock_dir(data_dir)?)
        } else {
            None
        };
        let open = |file: &str, migrations: &[&str]| -> anyhow::Result<Writer> {
            let path = data_dir.join(file);
            let conn =
                Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
            start(conn, durability, migrations)
                .with_context(|| format!("preparing {}", path.display()))
        };
        Ok(Self {
            writer: open(EVENTS_FILE, migrations::EVENTS)?,
            state: open(STATE_FILE, migrations::STATE)?,
            leases: Arc::default(),
            _lock: lock,
        })
    }

    /// Databases in memory (tests, `wasmbot run` without a state directory).
    pub fn in_memory() -> anyhow::Result<Self> {
        Ok(Self {
            writer: start(
                Connection::open_in_memory()?,
                Durability::None,
                migrations::EVENTS,
            )?,
            state: start(
                Connection::open_in_memory()?,
                Durability::None,
                migrations::STATE,
            )?,
            leases: Arc::default(),
            _lock: None,
        })
    }

    async fn set_state(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
        relaxed: bool,
    ) -> anyhow::Result<StateWrite> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        let job = move |conn: &Connection| set_state(conn, &scope, &key, value, quota);
        self.state.call_with(job, relaxed).await
    }

    async fn delete_state(&self, scope: &str, key: &str, relaxed: bool) -> anyhow::Result<()> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        let job = move |conn: &Connection| delete_state(conn, &scope, &key);
        self.state.call_with(job, relaxed).await
    }

    fn check(&self, claim: &Claim) -> anyhow::Result<()> {
        if self.leases.holds(claim) {
            Ok(())
        } else {
            Err(LeaseLost::of(claim))
        }
    }
}

fn start(
    mut conn: Connection,
    durability: Durability,
    migrations: &[&str],
) -> anyhow::Result<Writer> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Fsync => "FULL",
        Durability::None => "OFF",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    migrations::migrate(&mut conn, migrations)?;
    Writer::start(conn, durability == Durability::Fsync).context("starting a storage thread")
}

/// A state value (on the state writer).
fn get_state(conn: &Connection, scope: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT value FROM bot_state WHERE scope = ?1 AND key = ?2")?
        .query_row(params![scope, key], |row| row.get(0))
        .optional()
}

/// Stores a state value unless the scope would be over `quota` (on the state writer).
fn set_state(
    conn: &Connection,
    scope: &str,
    key: &str,
    value: Vec<u8>,
    quota: Option<StateQuota>,
) -> rusqlite::Result<StateWrite> {
    let old: Option<i64> = conn
        .prepare_cached("SELECT LENGTH(value) FROM bot_state WHERE scope = ?1 AND key = ?2")?
        .query_row(params![scope, key], |row| row.get(0))
        .optional()?;
    let entry_bytes = |value_len: i64| key.len() as i64 + value_len;
    let (keys_delta, bytes_delta) = match old {
        Some(old_len) => (0, entry_bytes(value.len() as i64) - entry_bytes(old_len)),
        None => (1, entry_bytes(value.len() as i64)),
    };
    if let Some(quota) = quota {
        let (keys, bytes) = usage(conn, scope)?;
        if let Some(refusal) = quota.refusal(keys, bytes, keys_delta, bytes_delta) {
            return Ok(StateWrite::OverQuota(refusal));
        }
    }
    conn.prepare_cached(
        "INSERT INTO bot_state (scope, key, value, written_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, key)
         DO UPDATE SET value = excluded.value, written_at = excluded.written_at",
    )?
    .execute(params![scope, key, value, super::now_ms()])?;
    add_usage(conn, scope, keys_delta, bytes_delta)?;
    Ok(StateWrite::Stored)
}

/// Removes a state value (on the state writer).
fn delete_state(conn: &Connection, scope: &str, key: &str) -> rusqlite::Result<()> {
    let old: Option<i64> = conn
        .prepare_cached(
            "DELETE FROM bot_state WHERE scope = ?1 AND key = ?2 RETURNING LENGTH(value)",
        )?
        .query_row(params![scope, key], |row| row.get(0))
        .optional()?;
    if let Some(old_len) = old {
        add_usage(conn, scope, -1, -(key.len() as i64 + old_len))?;
    }
    Ok(())
}

fn outbox_entry(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.get(0)?,
        tenant: row.get(1)?,
        session_id: row.get(2)?,
        name: row.get(3)?,
        body: row.get(4)?,
        attempts: row.get(5)?,
        first_failure_ms: row.get(6)?,
        last_error: row.get(7)?,
        dead: row.get::<_, i64>(8)? == OUTBOX_DEAD,
        trace: row.get(9)?,
    })
}

const OUTBOX_COLUMNS: &str =
    "id, tenant, session_id, name, body, attempts, first_failure, last_error, status, trace";

fn sessions(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<SessionRef>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

#[async_trait]
impl Storage for SqliteStorage {
    fn exclusive(&self) -> bool {
        true
    }

    async fn claim(
        &self,
        stage: Stage,
        tenant: &str,
        session_id: i64,
    ) -> anyhow::Result<Option<Claim>> {
        Ok(self.leases.claim(stage, tenant, session_id))
    }

    async fn claim_waiting(
        &self,
        stage: Stage,
        tenants: &[String],
        limit: usize,
    ) -> anyhow::Result<Vec<Claim>> {
        let sessions = match stage {
            Stage::Run => self.sessions_with_events().await?,
            Stage::Deliver => self.sessions_with_activities().await?,
        };
        Ok(sessions
            .into_iter()
            .filter(|(tenant, _)| tenants.contains(tenant))
            .filter_map(|(tenant, session)| self.leases.claim(stage, &tenant, session))
            .take(limit)
            .collect())
    }

    async fn renew(&self, claim: &Claim) -> anyhow::Result<()> {
        self.check(claim)
    }

    async fn release(&self, claim: &Claim) -> anyhow::Result<bool> {
        Ok(self.leases.release(claim))
    }

    fn lease(&self) -> std::time::Duration {
        // Never taken over: no other process shares the directory.
        std::time::Duration::MAX
    }

    async fn changed_elsewhere(&self) {
        std::future::pending::<()>().await
    }

    async fn append(&self, event: NewEvent) -> anyhow::Result<i64> {
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO journal (tenant, session_id, received_at, body, trace) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![event.tenant, event.session_id, event.received_at_ms, event.body, event.trace])?;
                Ok(conn.last_insert_rowid())
            })
            .await
    }

    async fn sessions_with_events(&self) -> anyhow::Result<Vec<SessionRef>> {
        self.writer
            .call(|conn| {
                sessions(
                    conn,
                    "SELECT tenant, session_id FROM journal WHERE processed_at IS NULL
                     GROUP BY tenant, session_id ORDER BY MIN(seq)",
                )
            })
            .await
    }

    async fn pending_events(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<JournalEntry>> {
        let tenant = tenant.to_owned();
        self.writer
            .call(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT seq, received_at, body, trace FROM journal
                     WHERE tenant = ?1 AND session_id = ?2 AND processed_at IS NULL
                     ORDER BY seq LIMIT ?3",
                )?;
                let rows =
                    statement.query_map(params![tenant, session_id, limit as i64], |row| {
                        Ok(JournalEntry {
                            seq: row.get(0)?,
                            tenant: tenant.clone(),
                            session_id,
                            received_at_ms: row.get(1)?,
                            body: row.get(2)?,
                            trace: row.get(3)?,
                        })
                    })?;
                rows.collect()
            })
            .await
    }

    async fn complete(
        &self,
        claim: &Claim,
        completions: Vec<Completion>,
    ) -> anyhow::Result<Vec<i64>> {
        self.check(claim)?;
        let now = super::now_ms();
        // Relaxed: the events are durable in the journal already. A process crash loses none of
        // this commit (it is in the WAL); a machine crash before the next durable commit (the
        // next webhook's) makes the events run again, as work in flight at a crash may.
        // Waiting for the disk here cost a second fsync per event: about 10 % of the host's
        // CPU per event (BENCHMARKS.md).
        self.writer
            .call_with(
                move |conn| {
                    let mut mark = conn.prepare_cached(
                        "UPDATE journal SET processed_at = ?2, error = ?3
                     WHERE seq = ?1 AND processed_at IS NULL RETURNING tenant, session_id",
                    )?;
                    let mut insert = conn.prepare_cached(
                        "INSERT INTO outbox (tenant, session_id, event_seq, name, body, trace)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    let mut ids = Vec::new();
                    for completion in &completions {
                        let (tenant, session_id): (String, i64) = mark
                            .query_row(params![completion.seq, now, completion.error], |row| {
                                Ok((row.get(0)?, row.get(1)?))
                            })?;
                        for activity in &completion.activities {
                            insert.execute(params![
                                tenant,
                                session_id,
                                completion.seq,
                                activity.name,
                                activity.body,
                                activity.trace
                            ])?;
                            ids.push(conn.last_insert_rowid());
                        }
                    }
                    Ok(ids)
                },
                true,
            )
            .await
    }

    async fn sessions_with_activities(&self) -> anyhow::Result<Vec<SessionRef>> {
        self.writer
            .call(|conn| {
                sessions(
                    conn,
                    "SELECT tenant, session_id FROM outbox WHERE status <> 1
                     GROUP BY tenant, session_id HAVING SUM(status = 2) = 0 ORDER BY MIN(id)",
                )
            })
            .await
    }

    async fn pending_activities(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<OutboxEntry>> {
        let tenant = tenant.to_owned();
        self.writer
            .call(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE tenant = ?1 AND session_id = ?2 AND status <> 1 ORDER BY id LIMIT ?3"
                ))?;
                let rows =
                    statement.query_map(params![tenant, session_id, limit as i64], outbox_entry)?;
                rows.collect()
            })
            .await
    }

    async fn mark_sent(&self, claim: &Claim, id: i64) -> anyhow::Result<()> {
        self.check(claim)?;
        if self.leases.spoiled(claim) {
            anyhow::bail!(
                "an earlier delivery of this session could not be recorded; its activities are \
                 sent again from there"
            );
        }
        let now = super::now_ms();
        let (tenant, session) = (claim.tenant.clone(), claim.session_id);
        let (leases, spoiled) = (self.leases.clone(), claim.clone());
        // Not awaited: the sender goes on with the session's next activity, and the writer
        // commits this with the next group (later calls on the writer see it). Should that
        // fail, the claim is spoiled and the sender stops at its next activity; and no later
        // activity is recorded sent while an earlier one is not, so the session is sent again
        // from the first unrecorded one, in order.
        self.writer.submit_relaxed(
            move |conn| {
                // The status is in the text, not bound: a bound one would make SQLite plan
                // (parse) the statement again at every run to see whether the partial index
                // `outbox_unsent` applies to the value.
                let marked = conn
                    .prepare_cached(&format!(
                        "UPDATE outbox SET status = {OUTBOX_SENT}, finished_at = ?2 WHERE id = ?1
                         AND NOT EXISTS (SELECT 1 FROM outbox WHERE tenant = ?3
                             AND session_id = ?4 AND status <> {OUTBOX_SENT} AND id < ?1)"
                    ))?
                    .execute(params![id, now, tenant, session])?;
                if marked == 0 {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some(format!("activity {id} follows one not recorded as sent")),
                    ));
                }
                Ok(())
            },
            move |outcome| {
                if let Err(reason) = outcome {
                    tracing::error!(error = %reason, tenant = %spoiled.tenant, session = spoiled.session_id,
                        "recording a delivery failed; the session's activities are sent again from the first unrecorded one");
                    leases.spoil(&spoiled);
                }
            },
        )
    }

    async fn recent_sends(
        &self,
        tenant: &str,
        session_id: i64,
        since_ms: i64,
    ) -> anyhow::Result<Vec<i64>> {
        let tenant = tenant.to_owned();
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT finished_at FROM outbox WHERE tenant = ?1 AND session_id = ?2
                     AND status = 1 AND finished_at >= ?3 ORDER BY finished_at",
                )?
                .query_map(params![tenant, session_id, since_ms], |row| row.get(0))?
                .collect()
            })
            .await
    }

    async fn record_failure(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()> {
        let error = error.to_owned();
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                     first_failure = COALESCE(first_failure, ?3) WHERE id = ?1",
                )?
                .execute(params![id, error, now_ms])?;
                Ok(())
            })
            .await
    }

    async fn mark_dead(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()> {
        let error = error.to_owned();
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE outbox SET status = ?2, attempts = attempts + 1, last_error = ?3,
                     first_failure = COALESCE(first_failure, ?4), finished_at = ?4 WHERE id = ?1",
                )?
                .execute(params![id, OUTBOX_DEAD, error, now_ms])?;
                Ok(())
            })
            .await
    }

    async fn dead_letters(&self) -> anyhow::Result<Vec<OutboxEntry>> {
        self.writer
            .call(|conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = {OUTBOX_DEAD} ORDER BY id"
                ))?;
                let rows = statement.query_map([], outbox_entry)?;
                rows.collect()
            })
            .await
    }

    async fn set_candidate(&self, candidate: &StoredCandidate, bytes: &[u8]) -> anyhow::Result<()> {
        let (candidate, bytes) = (candidate.clone(), bytes.to_vec());
        self.writer
            .call(move |conn| candidates::set(conn, &candidate, &bytes))
            .await
    }

    async fn clear_candidate(&self, tenant: &str) -> anyhow::Result<()> {
        let tenant = tenant.to_owned();
        self.writer
            .call(move |conn| candidates::clear(conn, &tenant))
            .await
    }

    async fn sessions_before(&self, tenant: &str, until_ms: i64) -> anyhow::Result<Vec<i64>> {
        let tenant = tenant.to_owned();
        self.writer
            .call(move |conn| history::sessions_before(conn, &tenant, until_ms))
            .await
    }

    async fn candidates(&self) -> anyhow::Result<Vec<StoredCandidate>> {
        self.writer.call(candidates::all).await
    }

    async fn candidate_bytes(&self, tenant: &str, hash: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let (tenant, hash) = (tenant.to_owned(), hash.to_owned());
        self.writer
            .call(move |conn| candidates::bytes(conn, &tenant, &hash))
            .await
    }

    async fn history(&self, query: &HistoryQuery) -> anyhow::Result<Vec<LoggedEvent>> {
        let query = query.clone();
        self.writer
            .call(move |conn| history::history(conn, &query))
            .await
    }

    async fn retry_dead(&self, id: Option<i64>) -> anyhow::Result<usize> {
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE outbox SET status = ?1, attempts = 0, first_failure = NULL,
                     finished_at = NULL WHERE status = ?2 AND (?3 IS NULL OR id = ?3)",
                )?
                .execute(params![OUTBOX_PENDING, OUTBOX_DEAD, id])
            })
            .await
    }

    async fn drop_dead(&self, id: Option<i64>) -> anyhow::Result<usize> {
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM outbox WHERE status = ?1 AND (?2 IS NULL OR id = ?2)",
                )?
                .execute(params![OUTBOX_DEAD, id])
            })
            .await
    }

    async fn backlog(&self) -> anyhow::Result<Vec<TenantBacklog>> {
        self.writer
            .call(|conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT tenant, SUM(events), SUM(activities), SUM(dead) FROM (
                        SELECT tenant, COUNT(*) AS events, 0 AS activities, 0 AS dead
                          FROM journal WHERE processed_at IS NULL GROUP BY tenant
                        UNION ALL
                        SELECT tenant, 0, SUM(status = 0), SUM(status = 2)
                          FROM outbox WHERE status <> 1 GROUP BY tenant
                     ) GROUP BY tenant ORDER BY tenant",
                )?;
                let rows = statement.query_map([], |row| {
                    Ok(TenantBacklog {
                        tenant: row.get(0)?,
                        events: row.get::<_, i64>(1)? as u64,
                        activities: row.get::<_, i64>(2)? as u64,
                        dead_letters: row.get::<_, i64>(3)? as u64,
                    })
                })?;
                rows.collect()
            })
            .await
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.writer
            .call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn prune(&self, before_ms: i64) -> anyhow::Result<usize> {
        self.writer
            .call(move |conn| {
                let events = conn
                    .prepare_cached("DELETE FROM journal WHERE processed_at < ?1")?
                    .execute([before_ms])?;
                let sent = conn
                    .prepare_cached("DELETE FROM outbox WHERE status = 1 AND finished_at < ?1")?
                    .execute([before_ms])?;
                Ok(events + sent)
            })
            .await
    }

    async fn state_get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.state
            .call(move |conn| get_state(conn, &scope, &key))
            .await
    }

    async fn state_set(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite> {
        self.set_state(scope, key, value, quota, false).await
    }

    async fn state_delete(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.delete_state(scope, key, false).await
    }

    async fn state_set_relaxed(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite> {
        self.set_state(scope, key, value, quota, true).await
    }

    async fn state_update_relaxed(
        &self,
        scope: &str,
        key: &str,
        update: StateUpdate,
        quota: Option<StateQuota>,
        done: StateUpdated,
    ) {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        let job = move |conn: &Connection| {
            let stored = get_state(conn, &scope, &key)?;
            match update(stored.as_deref()) {
                Some(value) => set_state(conn, &scope, &key, value, quota),
                None => Ok(StateWrite::Stored),
            }
        };
        // `done` is called once, by whichever side sees the outcome.
        let done = std::sync::Arc::new(std::sync::Mutex::new(Some(done)));
        let answer = done.clone();
        let answer = move |outcome: Result<StateWrite, String>| {
            if let Some(done) = answer.lock().unwrap_or_else(|p| p.into_inner()).take() {
                done(outcome.map_err(|e| anyhow::anyhow!("storage: {e}")));
            }
        };
        if let Err(e) = self.state.submit_relaxed(job, answer)
            && let Some(done) = done.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            done(Err(e));
        }
    }

    async fn state_delete_relaxed(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.delete_state(scope, key, true).await
    }

    async fn state_expire(&self, scope_prefix: &str, before_ms: i64) -> anyhow::Result<usize> {
        let prefix = scope_prefix.to_owned();
        self.state
            .call(move |conn| {
                // Scopes from `prefix` up to `prefix` + U+10FFFF: a range on the primary key.
                let end = format!("{prefix}\u{10FFFF}");
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM bot_state
                         WHERE scope >= ?1 AND scope < ?2 AND COALESCE(written_at, 0) < ?3
                         RETURNING scope, LENGTH(CAST(key AS BLOB)) + LENGTH(value)",
                    )?
                    .query_map(params![prefix, end, before_ms], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut freed: HashMap<&str, (i64, i64)> = HashMap::new();
                for (scope, bytes) in &deleted {
                    let entry = freed.entry(scope).or_default();
                    entry.0 += 1;
                    entry.1 += bytes;
                }
                for (scope, (keys, bytes)) in freed {
                    add_usage(conn, scope, -keys, -bytes)?;
                }
                Ok(deleted.len())
            })
            .await
    }
}

/// Keys and bytes `scope` holds.
fn usage(conn: &Connection, scope: &str) -> rusqlite::Result<(i64, i64)> {
    Ok(conn
        .prepare_cached("SELECT keys, bytes FROM state_usage WHERE scope = ?1")?
        .query_row([scope], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

fn add_usage(conn: &Connection, scope: &str, keys: i64, bytes: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO state_usage (scope, keys, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope) DO UPDATE SET keys = keys + excluded.keys, bytes = bytes + excluded.bytes",
    )?
    .execute(params![scope, keys, bytes])?;
    Ok(())
}
