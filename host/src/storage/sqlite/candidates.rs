//! Each tenant's candidate version (`Storage::set_candidate` and friends).

use rusqlite::{Connection, OptionalExtension, params};

use crate::storage::StoredCandidate;

/// Replaces the tenant's candidate.
pub fn set(conn: &Connection, candidate: &StoredCandidate, bytes: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO candidates (tenant, hash, mode, set_at, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant) DO UPDATE SET hash = ?2, mode = ?3, set_at = ?4, bytes = ?5",
    )?
    .execute(params![
        candidate.tenant,
        candidate.hash,
        candidate.mode,
        candidate.set_at_ms,
        bytes
    ])?;
    Ok(())
}

/// Removes the tenant's candidate.
pub fn clear(conn: &Connection, tenant: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM candidates WHERE tenant = ?1")?
        .execute([tenant])?;
    Ok(())
}

/// Every candidate, without its bytes.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<StoredCandidate>> {
    let mut statement =
        conn.prepare_cached("SELECT tenant, hash, mode, set_at FROM candidates ORDER BY tenant")?;
    let rows = statement.query_map([], |row| {
        Ok(StoredCandidate {
            tenant: row.get(0)?,
            hash: row.get(1)?,
            mode: row.get(2)?,
            set_at_ms: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// The bytes of the tenant's candidate, if it is `hash`.
pub fn bytes(conn: &Connection, tenant: &str, hash: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT bytes FROM candidates WHERE tenant = ?1 AND hash = ?2")?
        .query_row([tenant, hash], |row| row.get(0))
        .optional()
}
