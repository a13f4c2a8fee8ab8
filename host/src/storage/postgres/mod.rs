//! The shared backend: one PostgreSQL database for every replica. The journal is written in
//! groups ([`appender`]); who works on a session is a row of `session_leases` with an expiry
//! in the database's clock, taken with `INSERT … ON CONFLICT … WHERE expired` so that two
//! replicas never hold it at once, and checked (row-locked) by the transaction that stores
//! the work done under it.

mod appender;
mod candidates;
mod history;
mod leases;
mod migrations;
mod plugins;
mod state;
mod state_updates;

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use super::{
    Claim, Completion, HistoryQuery, JournalEntry, LoggedEvent, NewEvent, OutboxEntry,
    PublishedPlugin, ServedPlugin, SessionRef, Stage, StateQuota, StateUpdate, StateUpdated,
    StateWrite, Storage, StoredCandidate, TenantBacklog,
};
use crate::config::Secret;
use appender::Appender;
use state_updates::StateUpdates;

/// The parameters of one statement, for statements pipelined with `tokio::join!` (each
/// slice's type must be spelled out there).
type Params<'a> = [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// How to reach the database and how replicas share it.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database`.
    pub url: Secret,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How often to look for work journaled through other replicas.
    pub poll_interval: Duration,
}

/// How long a request waits for a connection, or a connection for the server, before the
/// caller gets an error (a webhook then gets 503 well within mluvii's 2 s).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The PostgreSQL implementation of [`Storage`].
pub struct PostgresStorage {
    pool: Pool,
    lazy: Pool,
    appender: Appender,
    state_updates: std::sync::Arc<StateUpdates>,
    owner: String,
    lease: Duration,
    poll_interval: Duration,
}

impl PostgresStorage {
    /// Connects, applies the migrations, and starts the journal's writers.
    pub async fn open(options: &PostgresOptions) -> anyhow::Result<Self> {
        let config = connection_config(options)?;
        let mut lazy_config = config.clone();
        let lazy_options = match config.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_owned(),
        };
        lazy_config.options(&lazy_options);
        let pool = build_pool(config, options.pool_size)?;
        let lazy = build_pool(lazy_config, lazy_pool_size(options.pool_size))?;
        let mut client = pool
            .get()
            .await
            .context("connecting to PostgreSQL (storage.url)")?;
        migrations::migrate(&mut client)
            .await
            .context("migrating the PostgreSQL schema")?;
        drop(client);
        Ok(Self {
            appender: Appender::start(pool.clone()),
            state_updates: StateUpdates::start(lazy.clone()),
            pool,
            lazy,
            owner: format!("pid{}-{:016x}", std::process::id(), fastrand::u64(..)),
            lease: options.lease,
            poll_interval: options.poll_interval,
        })
    }

    /// Connects once and runs a query, changing nothing (`wasmbot config check`); returns the
    /// server's address and version.
    pub async fn probe(options: &PostgresOptions) -> anyhow::Result<String> {
        let config = connection_config(options)?;
        let answer = async {
            let (client, connection) = config.connect(NoTls).await?;
            let connection = tokio::spawn(connection);
            let row = client.query_one("SHOW server_version", &[]).await?;
            drop(client);
            let _ = connection.await;
            Ok::<String, tokio_postgres::Error>(row.get(0))
        };
        let version = tokio::time::timeout(CONNECT_TIMEOUT * 2, answer)
            .await
            .context("storage.url: PostgreSQL did not answer in time")?
            .context("storage.url: PostgreSQL is unreachable")?;
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|host| match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        Ok(format!(
            "PostgreSQL {version} at {} (database {})",
            hosts.join(","),
            config.get_dbname().unwrap_or("(default)")
        ))
    }

    async fn client(&self) -> anyhow::Result<deadpool_postgres::Object> {
        self.pool.get().await.context("no PostgreSQL connection")
    }

    /// A connection whose commits do not wait for the disk: for writes whose loss in a
    /// database crash costs nothing but repeated work (leases, marks of deliveries). They
    /// still reach the disk in commit order, before any later durable commit.
    async fn lazy_client(&self) -> anyhow::Result<deadpool_postgres::Object> {
        self.lazy.get().await.context("no PostgreSQL connection")
    }

    fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

/// The pool of `config`'s connections.
/// The connection settings of `storage.url`, with this host's timeout and name.
fn connection_config(options: &PostgresOptions) -> anyhow::Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = options
        .url
        .expose()
        .parse()
        .context("storage.url is not a valid PostgreSQL URL")?;
    config.connect_timeout(CONNECT_TIMEOUT);
    if config.get_application_name().is_none() {
        config.application_name("wasmbot");
    }
    Ok(config)
}

fn build_pool(config: tokio_postgres::Config, size: usize) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .context("building the PostgreSQL pool")
}

/// Connections for lease and delivery writes beside `pool_size` durable ones.
pub fn lazy_pool_size(pool_size: usize) -> usize {
    (pool_size / 2).max(2)
}

/// The database's clock in milliseconds since the Unix epoch (leases use one clock).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::int8";

const OUTBOX_COLUMNS: &str =
    "id, tenant, session_id, name, body, attempts, first_failure, last_error, status, trace";

fn outbox_entry(row: &Row) -> OutboxEntry {
    OutboxEntry {
        id: row.get(0),
        tenant: row.get(1),
        session_id: row.get(2),
        name: row.get(3),
        body: row.get(4),
        attempts: row.get::<_, i32>(5) as u32,
        first_failure_ms: row.get(6),
        last_error: row.get(7),
        dead: row.get::<_, i16>(8) == 2,
        trace: row.get(9),
    }
}

fn sessions(rows: Vec<Row>) -> Vec<SessionRef> {
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

#[async_trait]
impl Storage for PostgresStorage {
    fn exclusive(&self) -> bool {
        false
    }

    fn close(&self) {
        self.pool.close();
        self.lazy.close();
    }

    async fn claim(
        &self,
        stage: Stage,
        tenant: &str,
        session_id: i64,
    ) -> anyhow::Result<Option<Claim>> {
        leases::claim(self, stage, tenant, session_id).await
    }

    async fn claim_waiting(
        &self,
        stage: Stage,
        tenants: &[String],
        limit: usize,
    ) -> anyhow::Result<Vec<Claim>> {
        leases::claim_waiting(self, stage, tenants, limit).await
    }

    async fn renew(&self, claim: &Claim) -> anyhow::Result<()> {
        leases::renew(self, claim).await
    }

    async fn release(&self, claim: &Claim) -> anyhow::Result<bool> {
        leases::release(self, claim).await
    }

    fn lease(&self) -> Duration {
        self.lease
    }

    async fn changed_elsewhere(&self) {
        tokio::time::sleep(self.poll_interval).await
    }

    async fn append(&self, event: NewEvent) -> anyhow::Result<i64> {
        self.appender.append(event).await
    }

    async fn sessions_with_events(&self) -> anyhow::Result<Vec<SessionRef>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant, session_id FROM journal WHERE processed_at IS NULL
                 GROUP BY tenant, session_id ORDER BY MIN(seq)",
                &[],
            )
            .await?;
        Ok(sessions(rows))
    }

    async fn pending_events(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<JournalEntry>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT seq, received_at, body, trace FROM journal
                 WHERE tenant = $1 AND session_id = $2 AND processed_at IS NULL
                 ORDER BY seq LIMIT $3",
            )
            .await?;
        let rows = client
            .query(&statement, &[&tenant, &session_id, &(limit as i64)])
            .await?;
        Ok(rows
            .iter()
            .map(|row| JournalEntry {
                seq: row.get(0),
                tenant: tenant.to_owned(),
                session_id,
                received_at_ms: row.get(1),
                body: row.get(2),
                trace: row.get(3),
            })
            .collect())
    }

    async fn complete(
        &self,
        claim: &Claim,
        completions: Vec<Completion>,
    ) -> anyhow::Result<Vec<i64>> {
        leases::complete(self, claim, completions).await
    }

    async fn sessions_with_activities(&self) -> anyhow::Result<Vec<SessionRef>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant, session_id FROM outbox WHERE status <> 1
                 GROUP BY tenant, session_id HAVING COUNT(*) FILTER (WHERE status = 2) = 0
                 ORDER BY MIN(id)",
                &[],
            )
            .await?;
        Ok(sessions(rows))
    }

    async fn pending_activities(
        &self,
        tenant: &str,
        session_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<OutboxEntry>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox
                 WHERE tenant = $1 AND session_id = $2 AND status <> 1 ORDER BY id LIMIT $3"
            ))
            .await?;
        let rows = client
            .query(&statement, &[&tenant, &session_id, &(limit as i64)])
            .await?;
        Ok(rows.iter().map(outbox_entry).collect())
    }

    async fn mark_sent(&self, claim: &Claim, id: i64) -> anyhow::Result<()> {
        leases::mark_sent(self, claim, id).await
    }

    async fn recent_sends(
        &self,
        tenant: &str,
        session_id: i64,
        since_ms: i64,
    ) -> anyhow::Result<Vec<i64>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT finished_at FROM outbox WHERE tenant = $1 AND session_id = $2
                 AND status = 1 AND finished_at >= $3 ORDER BY finished_at",
            )
            .await?;
        let rows = client
            .query(&statement, &[&tenant, &session_id, &since_ms])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn record_failure(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                 first_failure = COALESCE(first_failure, $3) WHERE id = $1",
                &[&id, &error, &now_ms],
            )
            .await?;
        Ok(())
    }

    async fn mark_dead(&self, id: i64, error: &str, now_ms: i64) -> anyhow::Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE outbox SET status = 2, attempts = attempts + 1, last_error = $2,
                 first_failure = COALESCE(first_failure, $3), finished_at = $3 WHERE id = $1",
                &[&id, &error, &now_ms],
            )
            .await?;
        Ok(())
    }

    async fn dead_letters(&self) -> anyhow::Result<Vec<OutboxEntry>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 2 ORDER BY id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(outbox_entry).collect())
    }

    async fn set_candidate(&self, candidate: &StoredCandidate, bytes: &[u8]) -> anyhow::Result<()> {
        candidates::set(self, candidate, bytes).await
    }

    async fn clear_candidate(&self, tenant: &str) -> anyhow::Result<()> {
        candidates::clear(self, tenant).await
    }

    async fn sessions_before(&self, tenant: &str, until_ms: i64) -> anyhow::Result<Vec<i64>> {
        history::sessions_before(&self.client().await?, tenant, until_ms).await
    }

    async fn candidates(&self) -> anyhow::Result<Vec<StoredCandidate>> {
        candidates::all(self).await
    }

    async fn candidate_bytes(&self, tenant: &str, hash: &str) -> anyhow::Result<Option<Vec<u8>>> {
        candidates::bytes(self, tenant, hash).await
    }

    async fn history(&self, query: &HistoryQuery) -> anyhow::Result<Vec<LoggedEvent>> {
        history::history(&self.client().await?, query).await
    }

    async fn retry_dead(&self, id: Option<i64>) -> anyhow::Result<usize> {
        let count = self
            .client()
            .await?
            .execute(
                "UPDATE outbox SET status = 0, attempts = 0, first_failure = NULL,
                 finished_at = NULL WHERE status = 2 AND ($1::int8 IS NULL OR id = $1)",
                &[&id],
            )
            .await?;
        Ok(count as usize)
    }

    async fn drop_dead(&self, id: Option<i64>) -> anyhow::Result<usize> {
        let count = self
            .client()
            .await?
            .execute(
                "DELETE FROM outbox WHERE status = 2 AND ($1::int8 IS NULL OR id = $1)",
                &[&id],
            )
            .await?;
        Ok(count as usize)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let round_trip = async {
            self.client().await?.simple_query("SELECT 1").await?;
            anyhow::Ok(())
        };
        tokio::time::timeout(CONNECT_TIMEOUT, round_trip)
            .await
            .context("PostgreSQL did not answer in time")?
            .context("PostgreSQL is unreachable")
    }

    async fn backlog(&self) -> anyhow::Result<Vec<TenantBacklog>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT tenant, SUM(events)::int8, SUM(activities)::int8, SUM(dead)::int8 FROM (
                    SELECT tenant, COUNT(*) AS events, 0 AS activities, 0 AS dead
                      FROM journal WHERE processed_at IS NULL GROUP BY tenant
                    UNION ALL
                    SELECT tenant, 0, COUNT(*) FILTER (WHERE status = 0),
                           COUNT(*) FILTER (WHERE status = 2)
                      FROM outbox WHERE status <> 1 GROUP BY tenant
                 ) AS work GROUP BY tenant ORDER BY tenant",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| TenantBacklog {
                tenant: row.get(0),
                events: row.get::<_, i64>(1) as u64,
                activities: row.get::<_, i64>(2) as u64,
                dead_letters: row.get::<_, i64>(3) as u64,
            })
            .collect())
    }

    async fn prune(&self, before_ms: i64) -> anyhow::Result<usize> {
        let client = self.client().await?;
        let events = client
            .execute("DELETE FROM journal WHERE processed_at < $1", &[&before_ms])
            .await?;
        let sent = client
            .execute(
                "DELETE FROM outbox WHERE status = 1 AND finished_at < $1",
                &[&before_ms],
            )
            .await?;
        Ok((events + sent) as usize)
    }

    async fn state_get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.state_updates.settled().await;
        state::get(self, scope, key).await
    }

    async fn state_set(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite> {
        self.state_updates.settled().await;
        state::set(&mut self.client().await?, scope, key, value, quota).await
    }

    async fn state_delete(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.state_updates.settled().await;
        state::delete(&mut self.client().await?, scope, key).await
    }

    async fn state_set_relaxed(
        &self,
        scope: &str,
        key: &str,
        value: Vec<u8>,
        quota: Option<StateQuota>,
    ) -> anyhow::Result<StateWrite> {
        // Through the batch writer, which counts it against the quota exactly.
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.state_updates.push(
            scope,
            key,
            Box::new(move |_| Some(value)),
            quota,
            Box::new(move |result| {
                let _ = done.send(result);
            }),
        );
        outcome
            .await
            .map_err(|_| anyhow::anyhow!("the state writer has stopped"))?
    }

    async fn state_update_relaxed(
        &self,
        scope: &str,
        key: &str,
        update: StateUpdate,
        quota: Option<StateQuota>,
        done: StateUpdated,
    ) {
        self.state_updates.push(scope, key, update, quota, done);
    }

    async fn state_delete_relaxed(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        self.state_updates.settled().await;
        state::delete(&mut self.lazy_client().await?, scope, key).await
    }

    async fn state_expire(&self, scope_prefix: &str, before_ms: i64) -> anyhow::Result<usize> {
        self.state_updates.settled().await;
        state::expire(self, scope_prefix, before_ms).await
    }

    async fn publish_plugin(
        &self,
        tenant: &str,
        hash: &str,
        source: &str,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        plugins::publish(self, tenant, hash, source, bytes).await
    }

    async fn published_plugins(&self) -> anyhow::Result<Vec<PublishedPlugin>> {
        plugins::published(self).await
    }

    async fn plugin_bytes(&self, hash: &str) -> anyhow::Result<Option<Vec<u8>>> {
        plugins::bytes(self, hash).await
    }

    async fn report_serving(
        &self,
        replica: &str,
        serving: &[(String, String)],
    ) -> anyhow::Result<()> {
        plugins::report_serving(self, replica, serving).await
    }

    async fn serving(&self, tenant: &str) -> anyhow::Result<Vec<ServedPlugin>> {
        plugins::serving(self, tenant).await
    }
}
