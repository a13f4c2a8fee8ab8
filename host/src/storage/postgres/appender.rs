//! Group commit of the journal: webhooks arriving together are inserted by one statement (one
//! transaction, one WAL flush), by a few tasks taking turns so that one batch is written
//! while the next one gathers. Each caller is answered only once its batch has committed.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::storage::NewEvent;

/// Most events in one insert.
const MAX_BATCH: usize = 512;
/// Tasks inserting batches at once.
const WRITERS: usize = 4;

type Reply = oneshot::Sender<anyhow::Result<i64>>;

/// The queue of events to journal.
pub struct Appender {
    queue: mpsc::UnboundedSender<(NewEvent, Reply)>,
}

impl Appender {
    /// Starts the writer tasks on `pool`; they end when the appender is dropped.
    pub fn start(pool: Pool) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(pool.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Journals `event` with the next batch; returns its position once committed.
    pub async fn append(&self, event: NewEvent) -> anyhow::Result<i64> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))?
    }
}

async fn write_batches(
    pool: Pool,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<(NewEvent, Reply)>>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        match insert(&pool, &batch).await {
            Ok(seqs) => {
                for ((_, reply), seq) in batch.drain(..).zip(seqs) {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(e) => {
                let text = format!("{e:#}");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(anyhow::anyhow!("journaling failed: {text}")));
                }
            }
        }
    }
}

/// Inserts the batch in one statement; returns the positions in the batch's order.
async fn insert(pool: &Pool, batch: &[(NewEvent, Reply)]) -> anyhow::Result<Vec<i64>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO journal (tenant, session_id, received_at, body, trace)
             SELECT t, s, r, b, p
                 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bytea[], $5::text[])
                 WITH ORDINALITY AS u(t, s, r, b, p, n) ORDER BY n
             RETURNING seq",
        )
        .await?;
    let tenants: Vec<&str> = batch.iter().map(|(e, _)| e.tenant.as_str()).collect();
    let sessions: Vec<i64> = batch.iter().map(|(e, _)| e.session_id).collect();
    let received: Vec<i64> = batch.iter().map(|(e, _)| e.received_at_ms).collect();
    let bodies: Vec<&[u8]> = batch.iter().map(|(e, _)| e.body.as_slice()).collect();
    let traces: Vec<Option<&str>> = batch.iter().map(|(e, _)| e.trace.as_deref()).collect();
    let rows = client
        .query(
            &statement,
            &[&tenants, &sessions, &received, &bodies, &traces],
        )
        .await?;
    // Rows get their positions in the order they are inserted, which is the batch's order.
    let mut seqs: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    seqs.sort_unstable();
    anyhow::ensure!(seqs.len() == batch.len(), "the journal insert lost rows");
    Ok(seqs)
}
