//! The bots' key-value state in PostgreSQL, with the per-scope usage the quotas read. A write
//! locks its scope's usage row, so concurrent writes of one tenant (on any replica) are
//! counted one after the other.

use super::PostgresStorage;
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

/// Stores a value in one statement on a relaxed connection, without locking the scope's usage
/// row for longer than the statement: the quota is checked against the usage as last
/// committed, so writes made at the same moment may pass it by a few entries (the host's
/// session facts, whose bound need not be exact).
pub async fn set_relaxed(
    client: &deadpool_postgres::Object,
    scope: &str,
    key: &str,
    value: Vec<u8>,
    quota: Option<StateQuota>,
) -> anyhow::Result<StateWrite> {
    let statement = client
        .prepare_cached(
            "WITH old AS (
                 SELECT (octet_length(key) + length(value))::int8 AS size FROM bot_state
                 WHERE scope = $1 AND key = $2),
             usage AS (
                 SELECT COALESCE((SELECT keys FROM state_usage WHERE scope = $1), 0) AS keys,
                        COALESCE((SELECT bytes FROM state_usage WHERE scope = $1), 0) AS bytes),
             delta AS (
                 SELECT (CASE WHEN EXISTS (SELECT 1 FROM old) THEN 0 ELSE 1 END)::int8 AS keys,
                        $5::int8 - COALESCE((SELECT size FROM old), 0) AS bytes),
             room AS (
                 SELECT (d.keys <= 0 OR u.keys + d.keys <= $6)
                    AND (d.bytes <= 0 OR u.bytes + d.bytes <= $7) AS ok
                 FROM usage u, delta d),
             put AS (
                 INSERT INTO bot_state (scope, key, value, written_at)
                 SELECT $1, $2, $3, $4 FROM room WHERE ok
                 ON CONFLICT (scope, key)
                 DO UPDATE SET value = EXCLUDED.value, written_at = EXCLUDED.written_at
                 RETURNING 1),
             counted AS (
                 INSERT INTO state_usage (scope, keys, bytes)
                 SELECT $1, d.keys, d.bytes FROM delta d WHERE EXISTS (SELECT 1 FROM put)
                 ON CONFLICT (scope) DO UPDATE
                     SET keys = state_usage.keys + EXCLUDED.keys,
                         bytes = state_usage.bytes + EXCLUDED.bytes)
             SELECT EXISTS (SELECT 1 FROM put), (SELECT keys FROM usage), (SELECT bytes FROM usage),
                    (SELECT keys FROM delta), (SELECT bytes FROM delta)",
        )
        .await?;
    let size = (key.len() + value.len()) as i64;
    let (max_keys, max_bytes) = quota.map_or((i64::MAX, i64::MAX), |q| {
        (
            i64::try_from(q.max_keys).unwrap_or(i64::MAX),
            i64::try_from(q.max_bytes).unwrap_or(i64::MAX),
        )
    });
    let row = client
        .query_one(
            &statement,
            &[
                &scope,
                &key,
                &value,
                &crate::storage::now_ms(),
                &size,
                &max_keys,
                &max_bytes,
            ],
        )
        .await?;
    if row.get(0) {
        return Ok(StateWrite::Stored);
    }
    let (keys, bytes, keys_delta, bytes_delta): (i64, i64, i64, i64) =
        (row.get(1), row.get(2), row.get(3), row.get(4));
    let reason = quota
        .and_then(|q| q.refusal(keys, bytes, keys_delta, bytes_delta))
        .unwrap_or_else(|| "over the quota".to_owned());
    Ok(StateWrite::OverQuota(reason))
}

/// Removes a value on `client` (a durable connection, or a relaxed one).
pub async fn delete(
    client: &mut deadpool_postgres::Object,
    scope: &str,
    key: &str,
) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(
            "DELETE FROM bot_state WHERE scope = $1 AND key = $2 RETURNING length(value)::int8",
        )
        .await?;
    if let Some(row) = tx.query_opt(&statement, &[&scope, &key]).await? {
        let old_len: i64 = row.get(0);
        add_usage(&tx, scope, -1, -(key.len() as i64 + old_len)).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn expire(db: &PostgresStorage, prefix: &str, before_ms: i64) -> anyhow::Result<usize> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "DELETE FROM bot_state
             WHERE left(scope, length($1)) = $1 AND COALESCE(written_at, 0) < $2
             RETURNING scope, (octet_length(key) + length(value))::int8",
            &[&prefix, &before_ms],
        )
        .await?;
    let mut freed: std::collections::HashMap<String, (i64, i64)> = Default::default();
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
