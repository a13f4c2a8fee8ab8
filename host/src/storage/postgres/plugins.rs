//! Plugins shared by replicas: each upload or rollback is a row of `plugin_publications`
//! naming a content-addressed row of `plugin_blobs`; every replica reads each tenant's newest
//! publication, and reports what it serves in `plugin_serving`. A tenant's publications
//! beyond the newest few are forgotten, and with them the blobs nothing names any more.

use super::PostgresStorage;
use crate::storage::{PublishedPlugin, ServedPlugin, now_ms};

/// Publications kept per tenant (the rest, and their unreferenced blobs, are deleted).
const PUBLICATIONS_KEPT: i64 = 10;

/// How long a replica that stopped reporting stays listed.
const SERVING_FORGOTTEN_AFTER_MS: i64 = 3_600_000;

pub async fn publish(
    db: &PostgresStorage,
    tenant: &str,
    hash: &str,
    source: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    // Publications of one tenant are made one after the other.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('wasmbot plugin ' || $1))",
        &[&tenant],
    )
    .await?;
    tx.execute(
        "INSERT INTO plugin_blobs (hash, bytes) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
        &[&hash, &bytes],
    )
    .await?;
    tx.execute(
        "INSERT INTO plugin_publications (tenant, hash, source, published_at)
         VALUES ($1, $2, $3, $4)",
        &[&tenant, &hash, &source, &now_ms()],
    )
    .await?;
    tx.execute(
        "DELETE FROM plugin_publications WHERE tenant = $1 AND seq < (
             SELECT min(seq) FROM (
                 SELECT seq FROM plugin_publications WHERE tenant = $1
                 ORDER BY seq DESC LIMIT $2) AS kept)",
        &[&tenant, &PUBLICATIONS_KEPT],
    )
    .await?;
    tx.execute(
        "DELETE FROM plugin_blobs b
         WHERE NOT EXISTS (SELECT 1 FROM plugin_publications p WHERE p.hash = b.hash)",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn published(db: &PostgresStorage) -> anyhow::Result<Vec<PublishedPlugin>> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "SELECT DISTINCT ON (tenant) tenant, hash, source, published_at, seq
             FROM plugin_publications ORDER BY tenant, seq DESC",
        )
        .await?;
    Ok(client
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| PublishedPlugin {
            tenant: row.get(0),
            hash: row.get(1),
            source: row.get(2),
            published_at_ms: row.get(3),
            seq: row.get(4),
        })
        .collect())
}

pub async fn bytes(db: &PostgresStorage, hash: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let client = db.client().await?;
    Ok(client
        .query_opt("SELECT bytes FROM plugin_blobs WHERE hash = $1", &[&hash])
        .await?
        .map(|row| row.get(0)))
}

pub async fn report_serving(
    db: &PostgresStorage,
    replica: &str,
    serving: &[(String, String)],
) -> anyhow::Result<()> {
    let (tenants, hashes): (Vec<&str>, Vec<&str>) = serving
        .iter()
        .map(|(tenant, hash)| (tenant.as_str(), hash.as_str()))
        .unzip();
    let now = now_ms();
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    tx.execute("DELETE FROM plugin_serving WHERE replica = $1", &[&replica])
        .await?;
    tx.execute(
        "INSERT INTO plugin_serving (replica, tenant, hash, seen_at)
         SELECT $1, tenant, hash, $4 FROM unnest($2::text[], $3::text[]) AS s (tenant, hash)",
        &[&replica, &tenants, &hashes, &now],
    )
    .await?;
    tx.execute(
        "DELETE FROM plugin_serving WHERE seen_at < $1",
        &[&(now - SERVING_FORGOTTEN_AFTER_MS)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn serving(db: &PostgresStorage, tenant: &str) -> anyhow::Result<Vec<ServedPlugin>> {
    let client = db.client().await?;
    Ok(client
        .query(
            "SELECT replica, tenant, hash, seen_at FROM plugin_serving
             WHERE tenant = $1 ORDER BY replica",
            &[&tenant],
        )
        .await?
        .iter()
        .map(|row| ServedPlugin {
            replica: row.get(0),
            tenant: row.get(1),
            hash: row.get(2),
            seen_at_ms: row.get(3),
        })
        .collect())
}
