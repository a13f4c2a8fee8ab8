//! The bots' key-value state in PostgreSQL, with the per-scope usage the quotas read. A write
//! locks its scope's usage row, so concurrent writes of one tenant (on any replica) are
//! counted one after the other.

use super::{Params, PostgresStorage};
use crate::storage::{StateQuota, StateWrite};

pub async fn get(db: &PostgresStorage, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached("SELECT value FROM bot_state WHERE scope = $1 AND key = $2")
        .await?;
    Ok(client
        .query_opt(&statement, &[&scope, &key])
        .await?
        .map(|row| row.get(0)))
}

/// How writing a value of `new_len` bytes under `key` changes its scope's usage (keys, bytes),
/// given the length of the value stored there now, if any. An entry counts its key and value.
pub fn usage_delta(key: &str, old_len: Option<i64>, new_len: i64) -> (i64, i64) {
    let entry = |value_len: i64| key.len() as i64 + value_len;
    match old_len {
        Some(old_len) => (0, entry(new_len) - entry(old_len)),
        None => (1, entry(new_len)),
    }
}

/// Stores a value on `client` (a durable connection, or a relaxed one).
pub async fn set(
    client: &mut deadpool_postgres::Object,
    scope: &str,
    key: &str,
    value: Vec<u8>,
    quota: Option<StateQuota>,
) -> anyhow::Result<StateWrite> {
    let tx = client.transaction().await?;
    let lock = tx
        .prepare_cached(
            "INSERT INTO state_usage (scope, keys, bytes) VALUES ($1, 0, 0)
             ON CONFLICT (scope) DO UPDATE SET keys = state_usage.keys
             RETURNING keys, bytes",
        )
        .await?;
    let usage = tx.query_one(&lock, &[&scope]).await?;
    let (keys, bytes): (i64, i64) = (usage.get(0), usage.get(1));
    let old = tx
        .prepare_cached("SELECT length(value)::int8 FROM bot_state WHERE scope = $1 AND key = $2")
        .await?;
    let old: Option<i64> = tx
        .query_opt(&old, &[&scope, &key])
        .await?
        .map(|row| row.get(0));
    let (keys_delta, bytes_delta) = usage_delta(key, old, value.len() as i64);
    if let Some(refusal) = quota.and_then(|q| q.refusal(keys, bytes, keys_delta, bytes_delta)) {
        return Ok(StateWrite::OverQuota(refusal));
    }
    let upsert = tx
        .prepare_cached(
            "INSERT INTO bot_state (scope, key, value, written_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, key)
             DO UPDATE SET value = EXCLUDED.value, written_at = EXCLUDED.written_at",
        )
        .await?;
    tx.execute(&upsert, &[&scope, &key, &value, &crate::storage::now_ms()])
        .await?;
    add_usage(&tx, scope, keys_delta, bytes_delta).await?;
    tx.commit().await?;
    Ok(StateWrite::Stored)
}

/// Removes a value on `client` (a durable connection, or a relaxed one), with its scope's
/// usage row locked first, as every write does.
pub async fn delete(
    client: &mut deadpool_postgres::Object,
    scope: &str,
    key: &str,
) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    let lock = tx
        .prepare_cached("SELECT 1 FROM state_usage WHERE scope = $1 FOR UPDATE")
        .await?;
    let remove = tx
        .prepare_cached(
            "WITH gone AS (
                 DELETE FROM bot_state WHERE scope = $1 AND key = $2
                 RETURNING (octet_length(key) + length(value))::int8 AS size)
             UPDATE state_usage SET keys = keys - 1, bytes = bytes - gone.size
             FROM gone WHERE state_usage.scope = $1",
        )
        .await?;
    // Sent together (one round trip); the delete runs once the lock is held.
    let (lock_params, remove_params): (&Params, &Params) = (&[&scope], &[&scope, &key]);
    let (locked, removed) = tokio::join!(
        tx.query_opt(&lock, lock_params),
        tx.execute(&remove, remove_params),
    );
    locked?;
    removed?;
    tx.commit().await?;
    Ok(())
}

pub async fn expire(db: &PostgresStorage, prefix: &str, before_ms: i64) -> anyhow::Result<usize> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    // The scopes' usage rows first, in scope order, as every write locks them.
    tx.execute(
        "SELECT 1 FROM state_usage WHERE left(scope, length($1)) = $1 ORDER BY scope FOR UPDATE",
        &[&prefix],
    )
    .await?;
    let rows = tx
        .query(
            "DELETE FROM bot_state
             WHERE left(scope, length($1)) = $1 AND COALESCE(written_at, 0) < $2
             RETURNING scope, (octet_length(key) + length(value))::int8",
            &[&prefix, &before_ms],
        )
        .await?;
    let mut freed: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for row in &rows {
        let entry = freed.entry(row.get(0)).or_default();
        entry.0 += 1;
        entry.1 += row.get::<_, i64>(1);
    }
    for (scope, (keys, bytes)) in freed {
        add_usage(&tx, &scope, -keys, -bytes).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

async fn add_usage(
    tx: &deadpool_postgres::Transaction<'_>,
    scope: &str,
    keys: i64,
    bytes: i64,
) -> anyhow::Result<()> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO state_usage (scope, keys, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (scope) DO UPDATE
                 SET keys = state_usage.keys + EXCLUDED.keys,
                     bytes = state_usage.bytes + EXCLUDED.bytes",
        )
        .await?;
    tx.execute(&statement, &[&scope, &keys, &bytes]).await?;
    Ok(())
}
