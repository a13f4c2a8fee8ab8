//! Relaxed state updates nobody waits for (the host's session facts), applied in batches:
//! one task reads the batch's stored values, merges each update in queue order, and writes
//! the changed values and the scopes' usage in one transaction on a connection that does not
//! wait for the disk. A batch of a hundred facts costs two round trips instead of two hundred.
//! Later state calls of this process wait for the updates queued before them, so they see
//! them, as on SQLite.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch};

use super::{Params, state};
use crate::storage::{StateQuota, StateUpdate, StateUpdated, StateWrite};

/// Most updates in one batch.
const MAX_BATCH: usize = 256;

/// An update waiting in the queue, with the callback told its outcome.
struct Queued {
    update: Update,
    done: StateUpdated,
}

/// The queue of relaxed updates and how far it has been applied.
pub struct StateUpdates {
    queue: mpsc::UnboundedSender<Queued>,
    queued: AtomicU64,
    applied: watch::Receiver<u64>,
}

impl StateUpdates {
    /// Starts the task applying updates on `pool`; it ends when this is dropped.
    pub fn start(pool: Pool) -> Arc<Self> {
        let (queue, receiver) = mpsc::unbounded_channel();
        let (applied_tx, applied) = watch::channel(0);
        tokio::spawn(apply_batches(pool, receiver, applied_tx));
        Arc::new(Self {
            queue,
            queued: AtomicU64::new(0),
            applied,
        })
    }

    /// Queues an update; `done` is called once it is applied (or failed).
    pub fn push(
        &self,
        scope: &str,
        key: &str,
        update: StateUpdate,
        quota: Option<StateQuota>,
        done: StateUpdated,
    ) {
        let queued = Queued {
            update: Update {
                scope: scope.to_owned(),
                key: key.to_owned(),
                merge: update,
                quota,
            },
            done,
        };
        // Counted first, so a later call waits for it however the send and the count race.
        self.queued.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::error::SendError(queued)) = self.queue.send(queued) {
            (queued.done)(Err(anyhow::anyhow!("the state writer has stopped")));
        }
    }

    /// Waits until every update queued before this call has been applied (or failed).
    pub async fn settled(&self) {
        let target = self.queued.load(Ordering::SeqCst);
        if *self.applied.borrow() >= target {
            return;
        }
        let mut applied = self.applied.clone();
        // The writer stopped (shut down): nothing left to wait for.
        let _ = applied.wait_for(|applied| *applied >= target).await;
    }
}

async fn apply_batches(
    pool: Pool,
    mut receiver: mpsc::UnboundedReceiver<Queued>,
    applied: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let count = batch.len();
        let (updates, done): (Vec<Update>, Vec<StateUpdated>) =
            batch.drain(..).map(|q| (q.update, q.done)).unzip();
        let outcomes = match apply(&pool, updates).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                let text = format!("{e:#}");
                (0..count)
                    .map(|_| Err(anyhow::anyhow!("storing state failed: {text}")))
                    .collect()
            }
        };
        applied.send_modify(|applied| *applied += count as u64);
        for (done, outcome) in done.into_iter().zip(outcomes) {
            done(outcome);
        }
    }
}

/// One queued update, without its callback.
struct Update {
    scope: String,
    key: String,
    merge: StateUpdate,
    quota: Option<StateQuota>,
}

/// A scope's usage as the batch goes.
#[derive(Default, Clone, Copy)]
struct Usage {
    keys: i64,
    bytes: i64,
    keys_delta: i64,
    bytes_delta: i64,
}

/// Applies `batch` in one transaction; returns each update's outcome, in order.
async fn apply(pool: &Pool, batch: Vec<Update>) -> anyhow::Result<Vec<anyhow::Result<StateWrite>>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let keys: Vec<&str> = batch.iter().map(|q| q.key.as_str()).collect();
    let scopes: Vec<&str> = batch.iter().map(|q| q.scope.as_str()).collect();
    // Every state write locks its scopes' usage rows first, in scope order: writes to one
    // scope (on any replica) are counted one after the other, and cannot deadlock.
    let mut locked: Vec<&str> = scopes.clone();
    locked.sort_unstable();
    locked.dedup();
    let lock_usage = tx
        .prepare_cached(
            "INSERT INTO state_usage (scope, keys, bytes)
             SELECT s, 0, 0 FROM unnest($1::text[]) WITH ORDINALITY AS u(s, n) ORDER BY n
             ON CONFLICT (scope) DO UPDATE SET keys = state_usage.keys
             RETURNING scope, keys, bytes",
        )
        .await?;
    // One index lookup per pair (a join the planner could turn into a scan of the table).
    let read_values = tx
        .prepare_cached(
            "SELECT u.scope, u.key, s.value FROM unnest($1::text[], $2::text[]) AS u(scope, key)
             CROSS JOIN LATERAL (
                 SELECT value FROM bot_state b WHERE b.scope = u.scope AND b.key = u.key) AS s",
        )
        .await?;
    let (usage_params, values_params): (&Params, &Params) = (&[&locked], &[&scopes, &keys]);
    // Sent together (one round trip); the server reads the values once the locks are held,
    // so it sees every write committed before.
    let (usage, values) = tokio::join!(
        tx.query(&lock_usage, usage_params),
        tx.query(&read_values, values_params),
    );
    // Ordered: rows are written in key order too.
    let mut usage: BTreeMap<String, Usage> = usage?
        .into_iter()
        .map(|row| {
            let usage = Usage {
                keys: row.get(1),
                bytes: row.get(2),
                ..Usage::default()
            };
            (row.get(0), usage)
        })
        .collect();
    let mut stored: HashMap<(String, String), Vec<u8>> = values?
        .into_iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect();
    let mut changed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for queued in batch {
        let location = (queued.scope, queued.key);
        let old = stored.get(&location);
        let Some(value) = (queued.merge)(old.map(Vec::as_slice)) else {
            outcomes.push(Ok(StateWrite::Stored));
            continue;
        };
        let old_len = old.map(|old| old.len() as i64);
        let (keys_delta, bytes_delta) =
            state::usage_delta(&location.1, old_len, value.len() as i64);
        let scope = usage
            .get_mut(&location.0)
            .expect("every scope's usage is locked");
        let (keys_now, bytes_now) = (
            scope.keys + scope.keys_delta,
            scope.bytes + scope.bytes_delta,
        );
        if let Some(refusal) = queued
            .quota
            .and_then(|q| q.refusal(keys_now, bytes_now, keys_delta, bytes_delta))
        {
            outcomes.push(Ok(StateWrite::OverQuota(refusal)));
            continue;
        }
        scope.keys_delta += keys_delta;
        scope.bytes_delta += bytes_delta;
        stored.insert(location.clone(), value);
        changed.insert(location);
        outcomes.push(Ok(StateWrite::Stored));
    }
    if changed.is_empty() {
        tx.commit().await?;
        return Ok(outcomes);
    }
    let now = crate::storage::now_ms();
    let (mut put_scopes, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
    for location in &changed {
        put_scopes.push(location.0.as_str());
        put_keys.push(location.1.as_str());
        put_values.push(stored[location].as_slice());
    }
    let (mut usage_scopes, mut keys_deltas, mut bytes_deltas) =
        (Vec::new(), Vec::new(), Vec::new());
    for (scope, usage) in &usage {
        if usage.keys_delta != 0 || usage.bytes_delta != 0 {
            usage_scopes.push(scope.as_str());
            keys_deltas.push(usage.keys_delta);
            bytes_deltas.push(usage.bytes_delta);
        }
    }
    let put = tx
        .prepare_cached(
            "INSERT INTO bot_state (scope, key, value, written_at)
             SELECT s, k, v, $4 FROM unnest($1::text[], $2::text[], $3::bytea[]) AS u(s, k, v)
             ON CONFLICT (scope, key)
             DO UPDATE SET value = EXCLUDED.value, written_at = EXCLUDED.written_at",
        )
        .await?;
    let count = tx
        .prepare_cached(
            "INSERT INTO state_usage (scope, keys, bytes)
             SELECT s, k, b FROM unnest($1::text[], $2::int8[], $3::int8[]) AS u(s, k, b)
             ON CONFLICT (scope) DO UPDATE
                 SET keys = state_usage.keys + EXCLUDED.keys,
                     bytes = state_usage.bytes + EXCLUDED.bytes",
        )
        .await?;
    // Sent together (one round trip); a failure of either rolls the batch back.
    let put_params: &Params = &[&put_scopes, &put_keys, &put_values, &now];
    let count_params: &Params = &[&usage_scopes, &keys_deltas, &bytes_deltas];
    let (put, count) = tokio::join!(
        tx.execute(&put, put_params),
        tx.execute(&count, count_params),
    );
    put?;
    count?;
    tx.commit().await?;
    Ok(outcomes)
}
