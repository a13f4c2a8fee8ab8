//! Reading conversations back from the journal and the outbox (`Storage::history`).

use std::collections::HashMap;

use crate::storage::{HistoryQuery, LoggedEvent};

/// The events `query` selects with their activities.
pub async fn history(
    client: &deadpool_postgres::Object,
    query: &HistoryQuery,
) -> anyhow::Result<Vec<LoggedEvent>> {
    let selection: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
        &query.tenant,
        &query.since_ms,
        &query.until_ms,
        &query.session,
    ];
    let rows = client
        .query(
            "SELECT seq, session_id, received_at, body, processed_at IS NOT NULL, error
             FROM journal
             WHERE tenant = $1 AND received_at >= $2 AND received_at < $3
               AND ($4::int8 IS NULL OR session_id = $4)
             ORDER BY session_id, seq",
            &selection,
        )
        .await?;
    let mut logged: Vec<LoggedEvent> = rows
        .iter()
        .map(|row| LoggedEvent {
            seq: row.get(0),
            session_id: row.get(1),
            received_at_ms: row.get(2),
            body: row.get(3),
            processed: row.get(4),
            error: row.get(5),
            activities: Vec::new(),
        })
        .collect();
    let position: HashMap<i64, usize> = logged
        .iter()
        .enumerate()
        .map(|(index, event)| (event.seq, index))
        .collect();
    let rows = client
        .query(
            "SELECT o.event_seq, o.body FROM outbox o JOIN journal j ON j.seq = o.event_seq
             WHERE j.tenant = $1 AND j.received_at >= $2 AND j.received_at < $3
               AND ($4::int8 IS NULL OR j.session_id = $4)
             ORDER BY o.id",
            &selection,
        )
        .await?;
    for row in rows {
        if let Some(&index) = position.get(&row.get::<_, i64>(0)) {
            logged[index].activities.push(row.get(1));
        }
    }
    Ok(logged)
}

/// The sessions of `tenant` with an event received before `until_ms`.
pub async fn sessions_before(
    client: &deadpool_postgres::Object,
    tenant: &str,
    until_ms: i64,
) -> anyhow::Result<Vec<i64>> {
    let rows = client
        .query(
            "SELECT DISTINCT session_id FROM journal WHERE tenant = $1 AND received_at < $2",
            &[&tenant, &until_ms],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
