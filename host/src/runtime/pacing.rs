//! Keeping bots that compute for long from crowding out everything else. A run still computing
//! at its [`LONG_AFTER_TICKS`]th epoch tick (over a millisecond of work, where the usual event
//! takes tens of microseconds) is a long run: it moves off the server's workers onto the
//! long-run pool, half the machine's cores' worth of threads that the kernel schedules at idle
//! priority (`SCHED_IDLE`, or the lowest nice value where that is refused). There long runs
//! share the threads by yielding at every tick. A tenant whose recent runs went long starts
//! its next one on the pool at once.
//!
//! So the server's own work (webhooks, storage, deliveries, the short runs of every tenant) is
//! never queued behind a bot's computation, and it takes a core from the long runs whenever it
//! needs one. Long runs get what it leaves: all of half the cores on a quiet machine, little on
//! a saturated one, where they may reach their deadline. A run that waits in a host call (a
//! sleep, an HTTP request) uses no CPU and is not a long run.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Epoch ticks a run computes through before it counts as long (a run that starts just before
/// a tick sees that tick after microseconds; the second means a millisecond of work).
pub const LONG_AFTER_TICKS: u32 = 2;

thread_local! {
    /// Set by the epoch callback of a run that went long, during the poll that ran it.
    static WENT_LONG: Cell<bool> = const { Cell::new(false) };
}

/// Called at each epoch tick of a run, with the ticks it has seen so far.
pub fn note_tick(ticks: u32) {
    if ticks >= LONG_AFTER_TICKS {
        WENT_LONG.set(true);
    }
}

/// Whether a tenant's recent runs went long, so its next one starts on the long-run pool: a
/// long run counts [`LONG_RUN_WEIGHT`], a short one takes one off, and a tenant with any count
/// left starts on the pool. So a tenant alternating loops with sleeps stays on the pool, and
/// one whose runs went long once runs on the server's workers again a few runs later.
#[derive(Debug, Default)]
pub struct LongRunRecord(AtomicU32);

/// What one long run adds to a tenant's [`LongRunRecord`].
pub const LONG_RUN_WEIGHT: u32 = 4;
/// The most a [`LongRunRecord`] counts.
const MOST_COUNTED: u32 = 4 * LONG_RUN_WEIGHT;

impl LongRunRecord {
    /// Whether the tenant's next run should start on the pool.
    pub fn recently_long(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    /// Records whether a run was long.
    pub fn record(&self, long: bool) {
        let count = self.0.load(Ordering::Relaxed);
        let next = if long {
            (count + LONG_RUN_WEIGHT).min(MOST_COUNTED)
        } else {
            count.saturating_sub(1)
        };
        if next != count {
            // Runs of one tenant end concurrently; a lost update only shifts the count by one.
            self.0.store(next, Ordering::Relaxed);
        }
    }
}

/// Threads of the long-run pool on this machine: half its cores, at least one.
pub fn lanes_for_this_machine() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Runs `run` (a bot's call, whose epoch callback reports its ticks to [`note_tick`]): on the
/// long-run pool when `long` (the tenant's recent runs were), else on the calling task until
/// it goes long, and from then on on the pool. A panic in the run is the caller's; dropping
/// the returned future stops the run wherever it is.
pub async fn run<T: Send + 'static>(
    long: bool,
    run: impl Future<Output = T> + Send + 'static,
) -> T {
    let mut run = Box::pin(run);
    if !long {
        let finished = std::future::poll_fn(|cx| {
            WENT_LONG.set(false);
            match run.as_mut().poll(cx) {
                Poll::Ready(out) => Poll::Ready(Some(out)),
                Poll::Pending if WENT_LONG.get() => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if let Some(out) = finished {
            return out;
        }
    }
    match pool() {
        Some(pool) => OnPool(pool.spawn(run)).await,
        None => run.await,
    }
}

/// The pool's runtime, started at the first long run (`None` if it could not be).
fn pool() -> Option<&'static Handle> {
    static POOL: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(lanes_for_this_machine())
            .thread_name("wasmbot-long-run")
            .on_thread_start(lower_this_threads_priority)
            .enable_all()
            .build()
            .inspect_err(|e| {
                tracing::warn!(error = %e, "no long-run pool: long bot runs stay on the server's workers")
            })
            .ok()
    })
    .as_ref()
    .map(tokio::runtime::Runtime::handle)
}

/// Puts the calling thread at idle priority, or at the lowest nice value if that is refused.
fn lower_this_threads_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain system calls on the calling thread (0), with a valid parameter.
    #[allow(unsafe_code)]
    unsafe {
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
}

/// A run on the pool: its outcome, and stopped when dropped.
struct OnPool<T>(JoinHandle<T>);

impl<T> Future for OnPool<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(out) => out,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a long run was cancelled while awaited: {e}"),
        })
    }
}

impl<T> Drop for OnPool<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that "computes" through `ticks` epoch ticks, yielding at each, and says which
    /// thread it ended on.
    async fn ticking(ticks: u32) -> String {
        for tick in 1..=ticks {
            note_tick(tick);
            tokio::task::yield_now().await;
        }
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn a_short_run_stays_on_the_calling_task() {
        let here = std::thread::current().name().map(str::to_owned);
        let ended_on = run(false, ticking(LONG_AFTER_TICKS - 1)).await;
        assert_eq!(Some(ended_on), here);
    }

    #[tokio::test]
    async fn a_run_that_goes_long_moves_to_the_pool() {
        let ended_on = run(false, ticking(LONG_AFTER_TICKS + 3)).await;
        assert_eq!(ended_on, "wasmbot-long-run");
    }

    #[tokio::test]
    async fn a_tenant_whose_recent_runs_went_long_starts_on_the_pool() {
        let record = LongRunRecord::default();
        assert!(!record.recently_long());
        record.record(true);
        let ended_on = run(record.recently_long(), ticking(0)).await;
        assert_eq!(ended_on, "wasmbot-long-run");
    }

    #[test]
    fn a_long_run_is_remembered_for_a_few_short_ones() {
        let record = LongRunRecord::default();
        record.record(true);
        for _ in 0..LONG_RUN_WEIGHT {
            assert!(record.recently_long());
            record.record(false);
        }
        assert!(!record.recently_long());
        // Loops alternating with sleeps keep a tenant on the pool.
        for _ in 0..20 {
            record.record(true);
            record.record(false);
            assert!(record.recently_long());
        }
    }

    #[tokio::test]
    async fn dropping_the_run_stops_it_on_the_pool() {
        let (started, mut was_started) = tokio::sync::mpsc::channel::<()>(1);
        use std::sync::atomic::AtomicBool;
        let dropped = std::sync::Arc::new(AtomicBool::new(false));
        struct SetOnDrop(std::sync::Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let guard = SetOnDrop(dropped.clone());
        let run = run(true, async move {
            let _guard = guard;
            started.send(()).await.ok();
            std::future::pending::<()>().await
        });
        let handle = tokio::spawn(run);
        was_started.recv().await;
        handle.abort();
        for _ in 0..200 {
            if dropped.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the run kept going on the pool after its caller was dropped");
    }
}
