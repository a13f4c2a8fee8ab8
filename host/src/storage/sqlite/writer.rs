//! The one thread that owns the database connection. Callers send jobs; the thread takes every
//! job waiting, runs them in one transaction (each inside its own savepoint, so a failing job
//! rolls back alone), commits once, and only then answers them: group commit, so many
//! concurrent webhooks share one fsync. A batch made only of relaxed jobs (writes whose loss
//! in a crash repeats work or forgets little: marks of deliveries, the host's session facts)
//! is committed without waiting for the disk; it reaches the disk with the next durable one,
//! in order. A relaxed job nobody waits for (a delivery's record, a session's facts) is queued
//! without waking the thread: it joins the next batch, or runs after [`UNWOKEN_FOR`] when no
//! other job comes, so under load it costs no thread wake-up of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 1024;

/// Runs SQL on the thread's connection; returns the callback that answers the caller once the
/// transaction's fate is known.
type Job = Box<dyn FnOnce(&Connection) -> Box<dyn FnOnce(Result<(), String>) + Send> + Send>;

/// A job and whether it is relaxed.
type Queued = (Job, bool);

/// Longest a job queued without waking the thread waits for a batch to join.
pub const UNWOKEN_FOR: Duration = Duration::from_millis(2);

/// Jobs queued without waking the thread.
#[derive(Default)]
struct Unwoken {
    jobs: Mutex<Vec<Job>>,
    /// The thread sleeps until the next job is sent (not on a timeout): a job queued now must
    /// wake it.
    asleep: AtomicBool,
}

impl Unwoken {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> bool {
        !self.lock().is_empty()
    }
}

/// A job that does nothing: sent to wake the thread.
fn wake_up() -> Queued {
    (Box::new(|_| Box::new(|_| {})), true)
}

/// A handle to the writer thread; the thread commits what is queued and ends when the last
/// handle is dropped.
pub struct Writer {
    jobs: Option<mpsc::Sender<Queued>>,
    unwoken: Arc<Unwoken>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread on `conn`, whose commits wait for the disk when `fsync` (then
    /// relaxed batches are committed without).
    pub fn start(conn: Connection, fsync: bool) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Queued>();
        let unwoken = Arc::new(Unwoken::default());
        let held = unwoken.clone();
        let thread = std::thread::Builder::new()
            .name("wasmbot-storage".into())
            .spawn(move || run(conn, queue, &held, fsync))?;
        Ok(Self {
            jobs: Some(jobs),
            unwoken,
            thread: Some(thread),
        })
    }

    /// Runs `job` in the next transaction and returns its result once that transaction has
    /// committed (or the error, if the job or the commit failed).
    pub async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        self.call_with(job, false).await
    }

    /// [`Writer::call`]; when `relaxed`, for a relaxed job (its commit need not wait for
    /// the disk).
    pub async fn call_with<R: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        relaxed: bool,
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
            .send((job, relaxed))
            .map_err(|_| anyhow::anyhow!("storage thread has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("storage thread has stopped"))?
    }
}

impl Writer {
    /// Queues a relaxed `job` without waiting for it and without waking the thread: it runs
    /// in the next batch, before every job queued after it, or after [`UNWOKEN_FOR`] when
    /// none comes. `done` gets its result, or the reason it or its commit failed (on the
    /// writer thread).
    pub fn submit_relaxed<R: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        done: impl FnOnce(Result<R, String>) + Send + 'static,
    ) -> anyhow::Result<()> {
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, job);
            Box::new(move |commit| {
                done(match (result, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(e), _) => Err(e.to_string()),
                    (Ok(_), Err(e)) => Err(e),
                })
            })
        });
        self.unwoken.lock().push(job);
        // Sequentially consistent with the thread's flag: either it sees this job before it
        // sleeps, or this sees it asleep and wakes it.
        if self.unwoken.asleep.load(Ordering::SeqCst) {
            self.jobs
                .as_ref()
                .expect("present until dropped")
                .send(wake_up())
                .map_err(|_| anyhow::anyhow!("storage thread has stopped"))?;
        }
        Ok(())
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

type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

fn begin(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    Ok(())
}

/// Runs a batch in one transaction (more than one when an error rolled one back) and answers
/// each job with the fate of the transaction it ran in.
fn run_batch(conn: &Connection, batch: &mut Vec<Job>) {
    let mut answered: Vec<(Vec<Answer>, Result<(), String>)> = Vec::new();
    let mut current: Vec<Answer> = Vec::new();
    let mut jobs = batch.drain(..);
    let mut open = begin(conn).map_err(|e| e.to_string());
    for job in jobs.by_ref() {
        if let Err(e) = &open {
            // Never run outside a transaction: the jobs not run are dropped (their callers
            // get an error), the ones run already share the failure.
            tracing::error!(error = %e, "storage transaction failed");
            break;
        }
        current.push(job(conn));
        if conn.is_autocommit() {
            // An error rolled the whole transaction back (SQLite does for a full disk, an I/O
            // error, …): what ran in it is lost; the rest of the batch gets a new one.
            let lost = "an error rolled the transaction back; nothing of it was stored".to_owned();
            tracing::error!(error = %lost, "storage transaction failed");
            answered.push((std::mem::take(&mut current), Err(lost)));
            open = begin(conn).map_err(|e| e.to_string());
        }
    }
    drop(jobs);
    let commit = open.and_then(|()| {
        conn.prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            })
    });
    if let Err(e) = &commit
        && !current.is_empty()
    {
        tracing::error!(error = %e, "storage transaction failed");
    }
    answered.push((current, commit));
    for (answers, outcome) in answered {
        for answer in answers {
            answer(outcome.clone());
        }
    }
}

/// What the thread waits for next.
enum Next {
    Job(Queued),
    /// Jobs queued unwoken have waited long enough.
    Due,
    /// Every handle is gone.
    Closed,
}

/// Waits for the next job: up to [`UNWOKEN_FOR`] when jobs are queued unwoken or `linger`
/// (a batch just ran: under load more follow, and jobs queued unwoken meanwhile need no
/// wake-up), else without end.
fn next(queue: &mpsc::Receiver<Queued>, unwoken: &Unwoken, linger: bool) -> Next {
    if !linger && !unwoken.pending() {
        unwoken.asleep.store(true, Ordering::SeqCst);
        // A job queued unwoken before the flag was up is seen here; one queued after it sends
        // a wake-up.
        if !unwoken.pending() {
            let received = queue.recv();
            unwoken.asleep.store(false, Ordering::SeqCst);
            return received.map_or(Next::Closed, Next::Job);
        }
        unwoken.asleep.store(false, Ordering::SeqCst);
    }
    match queue.recv_timeout(UNWOKEN_FOR) {
        Ok(job) => Next::Job(job),
        Err(mpsc::RecvTimeoutError::Timeout) => Next::Due,
        Err(mpsc::RecvTimeoutError::Disconnected) => Next::Closed,
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Queued>, unwoken: &Unwoken, fsync: bool) {
    let mut received = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut syncing = fsync;
    let mut linger = false;
    loop {
        let mut relaxed = true;
        let closed = match next(&queue, unwoken, linger) {
            Next::Job((job, job_relaxed)) => {
                relaxed = job_relaxed;
                received.push(job);
                false
            }
            Next::Due => false,
            Next::Closed => true,
        };
        while received.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok((job, job_relaxed)) => {
                    relaxed &= job_relaxed;
                    received.push(job);
                }
                Err(_) => break,
            }
        }
        // Taken after the jobs received: one queued unwoken before a job was sent is among
        // them, and runs first.
        batch.append(&mut unwoken.lock());
        batch.append(&mut received);
        linger = !batch.is_empty();
        if batch.is_empty() {
            if closed {
                break;
            }
            continue;
        }
        // Only between transactions: SQLite does not change it inside one.
        let sync_this = fsync && !relaxed;
        if sync_this != syncing {
            let level = if sync_this { "FULL" } else { "OFF" };
            match conn.pragma_update(None, "synchronous", level) {
                Ok(()) => syncing = sync_this,
                Err(e) if sync_this => {
                    // Never commit a durable job without the disk: its callers get an error.
                    tracing::error!(error = %e, "could not make commits wait for the disk again");
                    batch.clear();
                    continue;
                }
                Err(e) => tracing::warn!(error = %e, "relaxed writes are committed with fsync"),
            }
        }
        run_batch(&conn, &mut batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transaction_rolled_back_by_an_error_fails_its_jobs_and_the_rest_get_a_new_one() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let writer = std::sync::Arc::new(Writer::start(conn, false).unwrap());
        // Holds the thread, so the next three jobs arrive as one batch.
        let blocking = writer.clone();
        let blocked = tokio::spawn(async move {
            blocking
                .call(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Ok(())
                })
                .await
        });
        let insert = |n: i64| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .call(move |conn| conn.execute("INSERT INTO t VALUES (?1)", [n]).map(drop))
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let first = insert(1);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let writer2 = writer.clone();
        let rollback = tokio::spawn(async move {
            // Stands for a statement error after which SQLite rolls the whole transaction back.
            writer2.call(|conn| conn.execute_batch("ROLLBACK")).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let third = insert(3);
        blocked.await.unwrap().unwrap();
        let first = first.await.unwrap();
        assert!(first.is_err(), "its work was rolled back: {first:?}");
        assert!(rollback.await.unwrap().is_err());
        third.await.unwrap().unwrap();
        let rows: Vec<i64> = writer
            .call(|conn| {
                conn.prepare("SELECT n FROM t")?
                    .query_map([], |row| row.get(0))?
                    .collect()
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            [3],
            "the job after the rollback ran in a transaction of its own"
        );
    }

    #[tokio::test]
    async fn a_job_nobody_waits_for_runs_before_the_jobs_queued_after_it() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let writer = Writer::start(conn, false).unwrap();
        let (done, outcome) = oneshot::channel();
        writer
            .submit_relaxed(
                |conn| conn.execute("INSERT INTO t VALUES (1)", []),
                move |outcome| {
                    let _ = done.send(outcome);
                },
            )
            .unwrap();
        let count = |conn: &Connection| conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0));
        let seen: i64 = writer.call(count).await.unwrap();
        assert_eq!(seen, 1, "the insert ran before the later read");
        assert_eq!(outcome.await.unwrap(), Ok(1), "its outcome: one row");
    }

    #[tokio::test]
    async fn a_job_queued_unwoken_runs_on_an_idle_thread_too() {
        let conn = Connection::open_in_memory().unwrap();
        let writer = Writer::start(conn, false).unwrap();
        for _ in 0..3 {
            // Idle long enough to sleep without end: the job must wake the thread.
            std::thread::sleep(UNWOKEN_FOR * 5);
            let (done, outcome) = oneshot::channel();
            writer
                .submit_relaxed(
                    |conn| conn.query_row("SELECT 7", [], |r| r.get::<_, i64>(0)),
                    move |outcome| {
                        let _ = done.send(outcome);
                    },
                )
                .unwrap();
            let ran = tokio::time::timeout(Duration::from_secs(5), outcome).await;
            assert_eq!(ran.expect("ran without another job").unwrap(), Ok(7));
        }
    }

    #[tokio::test]
    async fn a_batch_of_relaxed_jobs_commits_without_fsync_and_a_durable_one_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
            .unwrap();
        let writer = Writer::start(conn, true).unwrap();
        let level = |conn: &Connection| conn.query_row("PRAGMA synchronous", [], |r| r.get(0));
        let relaxed: i64 = writer.call_with(level, true).await.unwrap();
        assert_eq!(relaxed, 0, "OFF for a relaxed batch");
        let durable: i64 = writer.call(level).await.unwrap();
        assert_eq!(durable, 2, "FULL again for a durable one");
        // A writer that never fsyncs stays that way.
        let conn = Connection::open(dir.path().join("other")).unwrap();
        conn.execute_batch("PRAGMA synchronous = OFF").unwrap();
        let unsynced = Writer::start(conn, false).unwrap();
        let durable: i64 = unsynced.call(level).await.unwrap();
        assert_eq!(durable, 0);
    }
}
