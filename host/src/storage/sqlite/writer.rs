//! The one thread that owns the database connection. Callers send jobs; the thread takes every
//! job waiting, runs them in one transaction (each inside its own savepoint, so a failing job
//! rolls back alone), commits once, and only then answers them: group commit, so many
//! concurrent webhooks share one fsync.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 1024;

/// Runs SQL on the thread's connection; returns the callback that answers the caller once the
/// transaction's fate is known.
type Job = Box<dyn FnOnce(&Connection) -> Box<dyn FnOnce(Result<(), String>) + Send> + Send>;

/// A handle to the writer thread; the thread commits what is queued and ends when the last
/// handle is dropped.
pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread on `conn`.
    pub fn start(conn: Connection) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("wasmbot-storage".into())
            .spawn(move || run(conn, queue))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` in the next transaction and returns its result once that transaction has
    /// committed (or the error, if the job or the commit failed).
    pub async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, job);
            Box::new(move |commit| {
                let result = match (commit, result) {
                    (Ok(()), Ok(value)) => Ok(value),
                    (_, Err(e)) => Err(anyhow::anyhow!("storage: {e}")),
                    (Err(e), Ok(_)) => Err(anyhow::anyhow!("storage commit failed: {e}")),
                };
                let _ = reply.send(result);
            })
        });
        self.jobs
            .as_ref()
            .expect("present until dropped")
            .send(job)
            .map_err(|_| anyhow::anyhow!("storage thread has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("storage thread has stopped"))?
    }
}

impl Writer {
    /// Queues `job` for the next transaction without waiting for it; a failure is logged.
    pub fn submit(
        &self,
        job: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, job);
            Box::new(move |commit| {
                if let Err(e) = result.map_err(|e| e.to_string()).and(commit) {
                    tracing::error!(error = %e, "a queued storage write failed");
                }
            })
        });
        self.jobs
            .as_ref()
            .expect("present until dropped")
            .send(job)
            .map_err(|_| anyhow::anyhow!("storage thread has stopped"))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn in_savepoint<R>(
    conn: &Connection,
    job: impl FnOnce(&Connection) -> rusqlite::Result<R>,
) -> rusqlite::Result<R> {
    // Prepared once and cached: parsing these per job was a visible share of the thread.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match job(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let answers: Vec<_>;
        let commit = match conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
        {
            Ok(_) => {
                answers = batch.drain(..).map(|job| job(&conn)).collect();
                let committed = conn
                    .prepare_cached("COMMIT")
                    .and_then(|mut s| s.execute([]));
                committed.map(drop).map_err(|e| {
                    let _ = conn.execute_batch("ROLLBACK");
                    e.to_string()
                })
            }
            Err(e) => {
                answers = Vec::new();
                for job in batch.drain(..) {
                    // Never run outside a transaction: answer with the error instead.
                    drop(job);
                }
                Err(e.to_string())
            }
        };
        if let Err(e) = &commit {
            tracing::error!(error = %e, "storage transaction failed");
        }
        for answer in answers {
            answer(commit.clone());
        }
    }
}
