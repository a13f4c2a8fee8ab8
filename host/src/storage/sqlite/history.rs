//! Reading conversations back from the journal and the outbox (`Storage::history`).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::storage::{HistoryQuery, LoggedEvent};

/// The events `query` selects with their activities.
pub fn history(conn: &Connection, query: &HistoryQuery) -> rusqlite::Result<Vec<LoggedEvent>> {
    let selection = params![query.tenant, query.since_ms, query.until_ms, query.session];
    let mut events = conn.prepare_cached(
        "SELECT seq, session_id, received_at, body, processed_at IS NOT NULL, error FROM journal
         WHERE tenant = ?1 AND received_at >= ?2 AND received_at < ?3
           AND (?4 IS NULL OR session_id = ?4)
         ORDER BY session_id, seq",
    )?;
    let mut logged: Vec<LoggedEvent> = events
        .query_map(selection, |row| {
            Ok(LoggedEvent {
                seq: row.get(0)?,
                session_id: row.get(1)?,
                received_at_ms: row.get(2)?,
                body: row.get(3)?,
                processed: row.get(4)?,
                error: row.get(5)?,
                activities: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut activities = conn.prepare_cached(
        "SELECT o.event_seq, o.body FROM outbox o JOIN journal j ON j.seq = o.event_seq
         WHERE j.tenant = ?1 AND j.received_at >= ?2 AND j.received_at < ?3
           AND (?4 IS NULL OR j.session_id = ?4)
         ORDER BY o.id",
    )?;
    let position: HashMap<i64, usize> = logged
        .iter()
        .enumerate()
        .map(|(index, event)| (event.seq, index))
        .collect();
    let rows = activities.query_map(selection, |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (seq, body) = row?;
        if let Some(&index) = position.get(&seq) {
            logged[index].activities.push(body);
        }
    }
    Ok(logged)
}

/// The sessions of `tenant` with an event received before `until_ms`.
pub fn sessions_before(
    conn: &Connection,
    tenant: &str,
    until_ms: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT session_id FROM journal WHERE tenant = ?1 AND received_at < ?2",
    )?;
    let rows = statement.query_map(params![tenant, until_ms], |row| row.get(0))?;
    rows.collect()
}
