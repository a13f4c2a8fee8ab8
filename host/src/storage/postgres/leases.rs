//! Claims as rows of `session_leases`, and the writes that must happen under one. A lease is
//! taken when its row is absent or expired (in the database's clock), so two replicas never
//! hold it at once; `complete` and `mark_sent` lock the row with the claim's token, so a
//! takeover waits for them and they fail after one. Leases and marks of deliveries are
//! written on connections that do not wait for the disk: a database crash may lose the newest
//! of them, which only repeats work (a lease lost is free to take; a delivery not marked is
//! sent again).

use std::sync::LazyLock;

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

/// An unprocessed event is left to the poll once it is older than the lease: the replica that
/// journaled it claims it at once (and keeps its claim while its backlog waits), so what is
/// left after a lease is work of a replica that died, or whose claim failed. A poll that took
/// younger events competed with the replica's own queue: at a backlog of more than a second it
/// claimed hundreds of queued sessions a second, each read again from the database, and the
/// replica fell behind further (BENCHMARKS.md).
fn received_before(db: &PostgresStorage) -> i64 {
    crate::storage::now_ms() - db.lease_ms()
}

/// Most journal rows one poll reads: a deep backlog costs each poll no more than this.
const WAITING_SCAN: i64 = 500;

/// Sessions with work in `stage` (for deliveries: not blocked by a dead letter); `$4` is the
/// tenants, and for events `$6` the time before which they were received.
fn waiting(stage: Stage) -> String {
    match stage {
        Stage::Run => format!(
            "SELECT tenant, session_id, MIN(seq) AS first FROM (
                 SELECT tenant, session_id, seq FROM journal
                 WHERE processed_at IS NULL AND error IS NULL AND received_at < $6
                   AND tenant = ANY($4)
                 ORDER BY received_at LIMIT {WAITING_SCAN}) AS oldest
             GROUP BY tenant, session_id"
        ),
        Stage::Deliver => "SELECT tenant, session_id, MIN(id) AS first FROM outbox
             WHERE status <> 1 AND tenant = ANY($4)
             GROUP BY tenant, session_id
             HAVING COUNT(*) FILTER (WHERE status = 2) = 0"
            .to_owned(),
    }
}

pub async fn claim_waiting(
    db: &PostgresStorage,
    stage: Stage,
    tenants: &[String],
    limit: usize,
) -> anyhow::Result<Vec<Claim>> {
    // $1 stage, $2 owner, $3 lease, $4 tenants, $5 limit, $6 events received before.
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
    let (code, lease, limit) = (stage.code(), db.lease_ms(), limit as i64);
    let received_before = received_before(db);
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        vec![&code, &db.owner, &lease, &tenants, &limit];
    if stage == Stage::Run {
        params.push(&received_before);
    }
    let rows = client.query(&statement, &params).await?;
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

/// An event batch's completion in one statement (one round trip, one implicit transaction):
/// the lease is extended first ([`EXTEND`]), which locks its row until the commit; the events are marked
/// and their activities inserted only if it was still held. Should fewer events be pending
/// than were run, the last expression fails (a cast of the reason to a number), so the whole
/// statement is rolled back. `$1` tenant, `$2` session, `$3` stage, `$4` token, `$5` lease,
/// `$6` now, `$7`/`$8` seqs and errors, `$9`–`$12` the activities' events, names, bodies and
/// traces, `$13` the number of events.
static COMPLETE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH lease AS (
         {EXTEND}
         RETURNING 1),
     marked AS (
         UPDATE journal AS j SET processed_at = $6, error = u.e
         FROM unnest($7::int8[], $8::text[]) AS u(seq, e)
         WHERE j.seq = u.seq AND j.tenant = $1 AND j.session_id = $2
           AND j.processed_at IS NULL AND EXISTS (SELECT 1 FROM lease)
         RETURNING j.seq),
     inserted AS (
         INSERT INTO outbox (tenant, session_id, event_seq, name, body, trace)
         SELECT $1, $2, s, n, b, p
         FROM unnest($9::int8[], $10::text[], $11::text[], $12::text[])
             WITH ORDINALITY AS u(s, n, b, p, o)
         WHERE EXISTS (SELECT 1 FROM lease)
         ORDER BY o
         RETURNING id)
     SELECT EXISTS (SELECT 1 FROM lease),
            ARRAY(SELECT id FROM inserted ORDER BY id),
            CASE WHEN EXISTS (SELECT 1 FROM lease) AND (SELECT count(*) FROM marked) <> $13
                 THEN ((SELECT count(*) FROM marked) || ' of ' || $13
                       || ' events were still pending')::int8
            END"
    )
});

pub async fn complete(
    db: &PostgresStorage,
    claim: &Claim,
    completions: Vec<Completion>,
) -> anyhow::Result<Vec<i64>> {
    let now = crate::storage::now_ms();
    // Without waiting for the disk, as on SQLite: the events are durable in the journal; a
    // database crash before this reaches the disk makes them run again.
    let client = db.lazy_client().await?;
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
    let statement = client.prepare_cached(&COMPLETE).await?;
    let (stage, lease, events) = (claim.stage.code(), db.lease_ms(), completions.len() as i64);
    let row = client
        .query_one(
            &statement,
            &[
                &claim.tenant,
                &claim.session_id,
                &stage,
                &claim.token,
                &lease,
                &now,
                &seqs,
                &errors,
                &event_seqs,
                &names,
                &bodies,
                &traces,
                &events,
            ],
        )
        .await?;
    if !row.get::<_, bool>(0) {
        return Err(LeaseLost::of(claim));
    }
    // Inserted in the activities' order, which is the order of their ids.
    Ok(row.get(1))
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
