//! Claims as rows of `session_leases`, and the writes that must happen under one. A lease is
//! taken when its row is absent or expired (in the database's clock), so two replicas never
//! hold it at once; `complete` and `mark_sent` lock the row with the claim's token, so a
//! takeover waits for them and they fail after one.

use deadpool_postgres::GenericClient;

use super::{NOW_MS, PostgresStorage};
use crate::storage::{Claim, Completion, LeaseLost, Stage};

/// The upsert that takes the leases `source` selects; `lease` names the parameter holding the
/// lease in ms. A live lease (of anyone) is left alone.
fn take_lease(source: &str, lease: &str) -> String {
    format!(
        "INSERT INTO session_leases (tenant, session_id, stage, token, owner, expires_at)
         {source}
         ON CONFLICT (tenant, session_id, stage) DO UPDATE
             SET token = EXCLUDED.token, owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
             WHERE session_leases.expires_at < EXCLUDED.expires_at - {lease}
         RETURNING tenant, session_id, token"
    )
}

fn claims(stage: Stage, rows: &[tokio_postgres::Row]) -> Vec<Claim> {
    rows.iter()
        .map(|row| Claim {
            tenant: row.get(0),
            session_id: row.get(1),
            stage,
            token: row.get(2),
        })
        .collect()
}

pub async fn claim(
    db: &PostgresStorage,
    stage: Stage,
    tenant: &str,
    session_id: i64,
) -> anyhow::Result<Option<Claim>> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(&take_lease(
            &format!("VALUES ($1, $2, $3, nextval('lease_tokens'), $4, {NOW_MS} + $5)"),
            "$5",
        ))
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &tenant,
                &session_id,
                &stage.code(),
                &db.owner,
                &db.lease_ms(),
            ],
        )
        .await?;
    Ok(claims(stage, &rows).pop())
}

/// Sessions with work in `stage` (for deliveries: not blocked by a dead letter).
fn waiting(stage: Stage) -> &'static str {
    match stage {
        Stage::Run => {
            "SELECT tenant, session_id, MIN(seq) AS first FROM journal
             WHERE processed_at IS NULL AND tenant = ANY($4) GROUP BY tenant, session_id"
        }
        Stage::Deliver => {
            "SELECT tenant, session_id, MIN(id) AS first FROM outbox
             WHERE status <> 1 AND tenant = ANY($4) GROUP BY tenant, session_id
             HAVING COUNT(*) FILTER (WHERE status = 2) = 0"
        }
    }
}

pub async fn claim_waiting(
    db: &PostgresStorage,
    stage: Stage,
    tenants: &[String],
    limit: usize,
) -> anyhow::Result<Vec<Claim>> {
    // $1 stage, $2 owner, $3 lease, $4 tenants, $5 limit.
    let source = format!(
        "SELECT w.tenant, w.session_id, $1::int2, nextval('lease_tokens'), $2, {NOW_MS} + $3
         FROM ({waiting}) AS w
         WHERE NOT EXISTS (
             SELECT 1 FROM session_leases l
             WHERE l.tenant = w.tenant AND l.session_id = w.session_id AND l.stage = $1
               AND l.expires_at >= {NOW_MS})
         ORDER BY w.first LIMIT $5",
        waiting = waiting(stage)
    );
    let client = db.client().await?;
    let statement = client.prepare_cached(&take_lease(&source, "$3")).await?;
    let rows = client
        .query(
            &statement,
            &[
                &stage.code(),
                &db.owner,
                &db.lease_ms(),
                &tenants,
                &(limit as i64),
            ],
        )
        .await?;
    Ok(claims(stage, &rows))
}

pub async fn renew(db: &PostgresStorage, claim: &Claim) -> anyhow::Result<()> {
    let client = db.client().await?;
    extend(&client, db, claim).await
}

pub async fn release(db: &PostgresStorage, claim: &Claim) -> anyhow::Result<bool> {
    let client = db.client().await?;
    client
        .execute(
            "DELETE FROM session_leases
             WHERE tenant = $1 AND session_id = $2 AND stage = $3 AND token = $4",
            &[
                &claim.tenant,
                &claim.session_id,
                &claim.stage.code(),
                &claim.token,
            ],
        )
        .await?;
    // A statement of its own, so its snapshot is taken after the delete committed: an event
    // journaled by a replica whose claim failed because of this lease is seen here.
    let more = match claim.stage {
        Stage::Run => {
            "SELECT EXISTS (SELECT 1 FROM journal
             WHERE tenant = $1 AND session_id = $2 AND processed_at IS NULL)"
        }
        Stage::Deliver => {
            "SELECT EXISTS (SELECT 1 FROM outbox
                 WHERE tenant = $1 AND session_id = $2 AND status = 0)
             AND NOT EXISTS (SELECT 1 FROM outbox
                 WHERE tenant = $1 AND session_id = $2 AND status = 2)"
        }
    };
    let statement = client.prepare_cached(more).await?;
    Ok(client
        .query_one(&statement, &[&claim.tenant, &claim.session_id])
        .await?
        .get(0))
}

/// Extends the claim's lease (inside a transaction, also locking its row until the commit);
/// fails with [`LeaseLost`] when the token is no longer the session's.
async fn extend(
    client: &impl GenericClient,
    db: &PostgresStorage,
    claim: &Claim,
) -> anyhow::Result<()> {
    let statement = client
        .prepare_cached(&format!(
            "UPDATE session_leases SET expires_at = {NOW_MS} + $5
             WHERE tenant = $1 AND session_id = $2 AND stage = $3 AND token = $4"
        ))
        .await?;
    let extended = client
        .execute(
            &statement,
            &[
                &claim.tenant,
                &claim.session_id,
                &claim.stage.code(),
                &claim.token,
                &db.lease_ms(),
            ],
        )
        .await?;
    if extended == 1 {
        Ok(())
    } else {
        Err(LeaseLost::of(claim))
    }
}

pub async fn complete(
    db: &PostgresStorage,
    claim: &Claim,
    completions: Vec<Completion>,
) -> anyhow::Result<Vec<i64>> {
    let now = crate::storage::now_ms();
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    extend(&tx, db, claim).await?;
    let seqs: Vec<i64> = completions.iter().map(|c| c.seq).collect();
    let errors: Vec<Option<&str>> = completions.iter().map(|c| c.error.as_deref()).collect();
    let mark = tx
        .prepare_cached(
            "UPDATE journal AS j SET processed_at = $1, error = u.e
             FROM unnest($2::int8[], $3::text[]) AS u(seq, e)
             WHERE j.seq = u.seq AND j.tenant = $4 AND j.session_id = $5
               AND j.processed_at IS NULL",
        )
        .await?;
    let marked = tx
        .execute(
            &mark,
            &[&now, &seqs, &errors, &claim.tenant, &claim.session_id],
        )
        .await?;
    anyhow::ensure!(
        marked as usize == completions.len(),
        "{} of {} events were no longer pending",
        completions.len() - marked as usize,
        completions.len()
    );
    let mut event_seqs = Vec::new();
    let mut names = Vec::new();
    let mut bodies = Vec::new();
    for completion in &completions {
        for activity in &completion.activities {
            event_seqs.push(completion.seq);
            names.push(activity.name.as_str());
            bodies.push(activity.body.as_str());
        }
    }
    let mut ids = Vec::new();
    if !event_seqs.is_empty() {
        let insert = tx
            .prepare_cached(
                "INSERT INTO outbox (tenant, session_id, event_seq, name, body)
                 SELECT $1, $2, s, n, b FROM unnest($3::int8[], $4::text[], $5::text[])
                     WITH ORDINALITY AS u(s, n, b, o) ORDER BY o
                 RETURNING id",
            )
            .await?;
        let rows = tx
            .query(
                &insert,
                &[
                    &claim.tenant,
                    &claim.session_id,
                    &event_seqs,
                    &names,
                    &bodies,
                ],
            )
            .await?;
        ids = rows.iter().map(|row| row.get(0)).collect();
        // Inserted in the activities' order, which is the order of their ids.
        ids.sort_unstable();
    }
    tx.commit().await?;
    Ok(ids)
}

pub async fn mark_sent(db: &PostgresStorage, claim: &Claim, id: i64) -> anyhow::Result<()> {
    let now = crate::storage::now_ms();
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "UPDATE outbox SET status = 1, finished_at = $2
             WHERE id = $1 AND EXISTS (
                 SELECT 1 FROM session_leases
                 WHERE tenant = $3 AND session_id = $4 AND stage = 1 AND token = $5
                 FOR SHARE)",
        )
        .await?;
    let marked = client
        .execute(
            &statement,
            &[&id, &now, &claim.tenant, &claim.session_id, &claim.token],
        )
        .await?;
    if marked == 1 {
        Ok(())
    } else {
        Err(LeaseLost::of(claim))
    }
}
