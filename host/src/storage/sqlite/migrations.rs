//! Schema migrations of the two databases, applied in order at start-up. A database's
//! `user_version` is the number of migrations applied; a migration is never edited once
//! released, only followed by a new one.

use anyhow::{Context as _, bail};
use rusqlite::Connection;

/// Migrations of `state.db`, oldest first. The first matches the table earlier releases
/// created without a version, so their files are taken over as they are.
pub const STATE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS bot_state (
        scope TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;",
    // 2: keys and bytes (key + value) per scope, kept with every write, for the quotas.
    "CREATE TABLE state_usage (
        scope TEXT    PRIMARY KEY,
        keys  INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO state_usage (scope, keys, bytes)
        SELECT scope, COUNT(*), SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value))
        FROM bot_state GROUP BY scope;",
    // 3: when each value was last written (ms since the Unix epoch; NULL for older rows), so
    // host-internal rows can expire.
    "ALTER TABLE bot_state ADD COLUMN written_at INTEGER;",
];

/// Migrations of `events.db`, oldest first.
pub const EVENTS: &[&str] = &[
    // 1: the journal, the outbox (dead letters are outbox rows in status 2).
    "CREATE TABLE journal (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant       TEXT    NOT NULL,
        session_id   INTEGER NOT NULL,
        received_at  INTEGER NOT NULL,
        body         BLOB    NOT NULL,
        processed_at INTEGER,
        error        TEXT
    );
    CREATE INDEX journal_pending ON journal (tenant, session_id, seq) WHERE processed_at IS NULL;
    CREATE INDEX journal_processed ON journal (processed_at) WHERE processed_at IS NOT NULL;
    CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant        TEXT    NOT NULL,
        session_id    INTEGER NOT NULL,
        event_seq     INTEGER NOT NULL,
        name          TEXT    NOT NULL,
        body          TEXT    NOT NULL,
        status        INTEGER NOT NULL DEFAULT 0,
        attempts      INTEGER NOT NULL DEFAULT 0,
        first_failure INTEGER,
        last_error    TEXT,
        finished_at   INTEGER
    );
    CREATE INDEX outbox_unsent ON outbox (tenant, session_id, id) WHERE status <> 1;
    CREATE INDEX outbox_sent ON outbox (finished_at) WHERE status = 1;",
    // 2: the trace an event and an activity belong to (W3C traceparent; NULL when traces are
    // off).
    "ALTER TABLE journal ADD COLUMN trace TEXT;
    ALTER TABLE outbox ADD COLUMN trace TEXT;",
    // 3: each tenant's candidate version (shadow), kept across restarts.
    "CREATE TABLE candidates (
        tenant TEXT    PRIMARY KEY,
        hash   TEXT    NOT NULL,
        mode   TEXT    NOT NULL,
        set_at INTEGER NOT NULL,
        bytes  BLOB    NOT NULL
    );",
];

/// Brings the schema of `conn` up to date with `migrations`; refuses a database written by a
/// newer wasmbot.
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> anyhow::Result<()> {
    let applied: usize = conn
        .pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
        .context("reading the schema version")? as usize;
    if applied > migrations.len() {
        bail!(
            "the database has schema version {applied}, newer than this wasmbot knows ({}); \
             use a newer wasmbot",
            migrations.len()
        );
    }
    for (index, sql) in migrations.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {}", index + 1))?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, EVENTS).unwrap();
        migrate(&mut conn, EVENTS).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, EVENTS.len());
        conn.pragma_update(None, "user_version", 999).unwrap();
        let err = migrate(&mut conn, EVENTS).unwrap_err().to_string();
        assert!(err.contains("schema version 999"), "{err}");
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;

    #[test]
    fn a_state_file_of_an_earlier_release_is_taken_over_with_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(STATE[0]).unwrap();
        conn.execute("INSERT INTO bot_state VALUES ('t', 'k', x'01')", [])
            .unwrap();
        migrate(&mut conn, STATE).unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM bot_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }
}
