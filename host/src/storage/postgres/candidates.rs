//! Each tenant's candidate version, shared by every replica (`Storage::set_candidate` and
//! friends).

use super::PostgresStorage;
use crate::storage::StoredCandidate;

/// Replaces the tenant's candidate.
pub async fn set(
    db: &PostgresStorage,
    candidate: &StoredCandidate,
    bytes: &[u8],
) -> anyhow::Result<()> {
    db.client()
        .await?
        .execute(
            "INSERT INTO candidates (tenant, hash, mode, set_at, bytes) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant) DO UPDATE SET hash = $2, mode = $3, set_at = $4, bytes = $5",
            &[
                &candidate.tenant,
                &candidate.hash,
                &candidate.mode,
                &candidate.set_at_ms,
                &bytes,
            ],
        )
        .await?;
    Ok(())
}

/// Removes the tenant's candidate.
pub async fn clear(db: &PostgresStorage, tenant: &str) -> anyhow::Result<()> {
    db.client()
        .await?
        .execute("DELETE FROM candidates WHERE tenant = $1", &[&tenant])
        .await?;
    Ok(())
}

/// Every candidate, without its bytes.
pub async fn all(db: &PostgresStorage) -> anyhow::Result<Vec<StoredCandidate>> {
    let rows = db
        .client()
        .await?
        .query(
            "SELECT tenant, hash, mode, set_at FROM candidates ORDER BY tenant",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StoredCandidate {
            tenant: row.get(0),
            hash: row.get(1),
            mode: row.get(2),
            set_at_ms: row.get(3),
        })
        .collect())
}

/// The bytes of the tenant's candidate, if it is `hash`.
pub async fn bytes(
    db: &PostgresStorage,
    tenant: &str,
    hash: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    let row = db
        .client()
        .await?
        .query_opt(
            "SELECT bytes FROM candidates WHERE tenant = $1 AND hash = $2",
            &[&tenant, &hash],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}
