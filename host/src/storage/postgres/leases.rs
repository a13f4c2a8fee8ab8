//! Claims as rows of `session_leases`, and the writes that must happen under one. A lease is
//! taken when its row is absent or expired (in the database's clock), so two replicas never
//! hold it at once; `complete` and `mark_sent` lock the row with the claim's token, so a
//! takeover waits for them and they fail after one. Leases and marks of deliveries are
//! written on connections that do not wait for the disk: a database crash may lose the newest
//! of them, which only repeats work (a lease lost is free to take; a delivery not marked is
//! sent again).

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
    let client = db.lazy_client().await?;
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
    let client = db.lazy_client().await?;
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
    let client = db.lazy_client().await?;
    let statement = client.prepare_cached(EXTEND).await?;
    let (stage, lease) = (claim.stage.code(), db.lease_ms());
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &claim.tenant,
        &claim.session_id,
        &stage,
        &claim.token,
        &lease,
    ];
    match client.execute(&statement, &params).await? {
        1 => Ok(()),
        _ => Err(LeaseLost::of(claim)),
    }
}

pub async fn release(db: &PostgresStorage, claim: &Claim) -> anyhow::Result<bool> {
    let client = db.lazy_client().await?;
    let delete = client
        .prepare_cached(
            "DELETE FROM session_leases
             WHERE tenant = $1 AND session_id = $2 AND stage = $3 AND token = $4",
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
    let more = client.prepare_cached(more).await?;
    let stage = claim.stage.code();
    let delete_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&claim.tenant, &claim.session_id, &stage, &claim.token];
    let more_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&claim.tenant, &claim.session_id];
    // Sent together (one round trip); the server runs them one after the other.
    let (deleted, more) = tokio::join!(
        client.execute(&delete, &delete_params),
        client.query_one(&more, &more_params),
    );
    deleted?;
    Ok(more?.get(0))
}

/// Extends a claim's lease: `$1` tenant, `$2` session, `$3` stage, `$4` token, `$5` lease
/// in ms. Inside a transaction, it also locks the lease's row until the commit. No row
/// changed: the token is no longer the session's ([`LeaseLost`]).
const EXTEND: &str = "UPDATE session_leases
     SET expires_at = (extract(epoch from clock_timestamp()) * 1000)::int8 + $5
     WHERE tenant = $1 AND session_id = $2 AND stage = $3 AND token = $4";

pub async fn complete(
    db: &PostgresStorage,
    claim: &Claim,
    completions: Vec<Completion>,
) -> anyhow::Result<Vec<i64>> {
    let now = crate::storage::now_ms();
    // Without waiting for the disk, as on SQLite: the events are durable in the journal; a
    // database crash before this reaches the disk makes them run again.
    let mut client = db.lazy_client().await?;
    let tx = client.transaction().await?;
    let seqs: Vec<i64> = completions.iter().map(|c| c.seq).collect();
    let errors: Vec<Option<&str>> = completions.iter().map(|c| c.error.as_deref()).collect();
    let mut event_seqs = Vec::new();
    let mut names = Vec::new();
    let mut bodies = Vec::new();
    let mut traces: Vec<Option<&str>> = Vec::new();
    for completion in &completions {
        for activity in &completion.activities {
            event_seqs.push(completion.seq);
            names.push(activity.name.as_str());
            bodies.push(activity.body.as_str());
            traces.push(activity.trace.as_deref());
        }
    }
    let mark = tx
        .prepare_cached(
            "UPDATE journal AS j SET processed_at = $1, error = u.e
             FROM unnest($2::int8[], $3::text[]) AS u(seq, e)
             WHERE j.seq = u.seq AND j.tenant = $4 AND j.session_id = $5
               AND j.processed_at IS NULL",
        )
        .await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO outbox (tenant, session_id, event_seq, name, body, trace)
             SELECT $1, $2, s, n, b, p FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[])
                 WITH ORDINALITY AS u(s, n, b, p, o) ORDER BY o
             RETURNING id",
        )
        .await?;
    let extend = tx.prepare_cached(EXTEND).await?;
    let (stage, lease) = (claim.stage.code(), db.lease_ms());
    type Params<'a> = Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)>;
    let extend_params: Params = vec![
        &claim.tenant,
        &claim.session_id,
        &stage,
        &claim.token,
        &lease,
    ];
    let mark_params: Params = vec![&now, &seqs, &errors, &claim.tenant, &claim.session_id];
    let insert_params: Params = vec![
        &claim.tenant,
        &claim.session_id,
        &event_seqs,
        &names,
        &bodies,
        &traces,
    ];
    // Sent together (one round trip), run in this order: the lease first, which locks its row
    // until the commit; if it was lost, the rest is rolled back with the transaction.
    let (extended, marked, rows) = tokio::join!(
        tx.execute(&extend, &extend_params),
        tx.execute(&mark, &mark_params),
        tx.query(&insert, &insert_params),
    );
    if extended? != 1 {
        return Err(LeaseLost::of(claim));
    }
    let marked = marked?;
    anyhow::ensure!(
        marked as usize == completions.len(),
        "{} of {} events were no longer pending",
        completions.len() - marked as usize,
        completions.len()
    );
    // Inserted in the activities' order, which is the order of their ids.
    let mut ids: Vec<i64> = rows?.iter().map(|row| row.get(0)).collect();
    ids.sort_unstable();
    tx.commit().await?;
    Ok(ids)
}

pub async fn mark_sent(db: &PostgresStorage, claim: &Claim, id: i64) -> anyhow::Result<()> {
    let now = crate::storage::now_ms();
    let client = db.lazy_client().await?;
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
