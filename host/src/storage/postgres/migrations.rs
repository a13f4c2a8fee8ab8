//! The PostgreSQL schema, applied in order at start-up under an advisory lock, so replicas
//! starting at once apply each migration exactly once. `wasmbot_schema.version` is the number
//! of migrations applied; a released migration is never edited, only followed by a new one.

use anyhow::{Context as _, bail};
use deadpool_postgres::Client;

/// The advisory lock key migrations hold (an arbitrary constant: "wasmbot" in ASCII).
const MIGRATION_LOCK: i64 = 0x0077_6173_6d62_6f74;

/// Migrations, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: journal, outbox (dead letters: status 2), leases, bot state and its usage.
    "CREATE TABLE journal (
        seq          BIGSERIAL PRIMARY KEY,
        tenant       TEXT   NOT NULL,
        session_id   BIGINT NOT NULL,
        received_at  BIGINT NOT NULL,
        body         BYTEA  NOT NULL,
        processed_at BIGINT,
        error        TEXT
    );
    CREATE INDEX journal_pending ON journal (tenant, session_id, seq) WHERE processed_at IS NULL;
    CREATE INDEX journal_processed ON journal (processed_at) WHERE processed_at IS NOT NULL;
    CREATE TABLE outbox (
        id            BIGSERIAL PRIMARY KEY,
        tenant        TEXT     NOT NULL,
        session_id    BIGINT   NOT NULL,
        event_seq     BIGINT   NOT NULL,
        name          TEXT     NOT NULL,
        body          TEXT     NOT NULL,
        status        SMALLINT NOT NULL DEFAULT 0,
        attempts      INTEGER  NOT NULL DEFAULT 0,
        first_failure BIGINT,
        last_error    TEXT,
        finished_at   BIGINT
    );
    CREATE INDEX outbox_unsent ON outbox (tenant, session_id, id) WHERE status <> 1;
    CREATE INDEX outbox_sent ON outbox (finished_at) WHERE status = 1;
    CREATE TABLE session_leases (
        tenant     TEXT     NOT NULL,
        session_id BIGINT   NOT NULL,
        stage      SMALLINT NOT NULL,
        token      BIGINT   NOT NULL,
        owner      TEXT     NOT NULL,
        expires_at BIGINT   NOT NULL,
        PRIMARY KEY (tenant, session_id, stage)
    );
    CREATE SEQUENCE lease_tokens;
    CREATE TABLE bot_state (
        scope      TEXT  NOT NULL,
        key        TEXT  NOT NULL,
        value      BYTEA NOT NULL,
        written_at BIGINT,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE state_usage (
        scope TEXT   PRIMARY KEY,
        keys  BIGINT NOT NULL,
        bytes BIGINT NOT NULL
    );",
    // 2: plugins published for every replica (content-addressed), and what each serves.
    "CREATE TABLE plugin_blobs (
        hash  TEXT  PRIMARY KEY,
        bytes BYTEA NOT NULL
    );
    CREATE TABLE plugin_publications (
        seq          BIGSERIAL PRIMARY KEY,
        tenant       TEXT   NOT NULL,
        hash         TEXT   NOT NULL REFERENCES plugin_blobs (hash),
        source       TEXT   NOT NULL,
        published_at BIGINT NOT NULL
    );
    CREATE INDEX plugin_publications_tenant ON plugin_publications (tenant, seq);
    CREATE TABLE plugin_serving (
        replica TEXT   NOT NULL,
        tenant  TEXT   NOT NULL,
        hash    TEXT   NOT NULL,
        seen_at BIGINT NOT NULL,
        PRIMARY KEY (replica, tenant)
    );",
    // 3: a session's recent sends (pacing taken over), without scanning every session's.
    "CREATE INDEX outbox_sent_by_session ON outbox (tenant, session_id, finished_at)
         WHERE status = 1;",
    // 4: the trace an event and an activity belong to (W3C traceparent; NULL when traces are
    // off).
    "ALTER TABLE journal ADD COLUMN trace TEXT;
     ALTER TABLE outbox ADD COLUMN trace TEXT;",
    // 5: each tenant's candidate version (shadow), tried by every replica.
    "CREATE TABLE candidates (
        tenant TEXT   PRIMARY KEY,
        hash   TEXT   NOT NULL,
        mode   TEXT   NOT NULL,
        set_at BIGINT NOT NULL,
        bytes  BYTEA  NOT NULL
    );",
    // 6: the oldest unprocessed events first, without reading every one (the poll for work
    // nobody holds). `error IS NULL` (true of every unprocessed event) is in the predicate so
    // that only the poll, which says it, can use the index: with `processed_at IS NULL` alone
    // the planner took it, on stale statistics, for the per-session lookups of the journal and
    // scanned the whole backlog at each (BENCHMARKS.md).
    "CREATE INDEX journal_waiting ON journal (received_at)
         WHERE processed_at IS NULL AND error IS NULL;",
];

/// Brings the schema up to date; refuses a database migrated by a newer wasmbot.
pub async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("taking the migration lock")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS wasmbot_schema (version INTEGER NOT NULL);
         INSERT INTO wasmbot_schema (version)
             SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM wasmbot_schema);",
    )
    .await
    .context("creating the schema version table")?;
    let applied: i32 = tx
        .query_one("SELECT version FROM wasmbot_schema", &[])
        .await?
        .get(0);
    let applied = applied as usize;
    if applied > MIGRATIONS.len() {
        bail!(
            "the database has schema version {applied}, newer than this wasmbot knows ({}); \
             use a newer wasmbot",
            MIGRATIONS.len()
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("applying migration {}", index + 1))?;
    }
    tx.execute(
        "UPDATE wasmbot_schema SET version = $1",
        &[&(MIGRATIONS.len() as i32)],
    )
    .await?;
    tx.commit().await.context("committing the migrations")?;
    Ok(())
}
