//! Keeping bots that compute for long from crowding out everything else. A run that has used
//! [`LONG_AFTER_CPU`] of CPU time (where the usual event takes tens of microseconds) is a long
//! run: at its next epoch tick it moves off the server's workers onto the long-run pool, half
//! the machine's cores' worth of threads of its own. There long runs share the threads by
//! yielding at every tick. A tenant whose recent runs went long starts its next one on the pool
//! at once.
//!
//! So the server's own work (webhooks, storage, deliveries, the short runs of every tenant) is
//! never queued behind a bot's computation: the kernel shares the cores between the server's
//! threads and the pool's, and long runs together never hold more threads than the pool has.
//! The pool runs at the server's priority: a lower one (nice 5 or 10, `SCHED_IDLE`) let the
//! server's threads take more of a contended core, but starved legitimately heavy bots on a
//! busy machine until their time limit (BENCHMARKS.md, "Noisy neighbour"). Time is counted on
//! the CPU, not the clock: a short run that the kernel preempted on a busy machine is not long,
//! nor is a run waiting in a host call (a sleep, an HTTP request).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// CPU time after which a run counts as long.
pub const LONG_AFTER_CPU: Duration = Duration::from_millis(1);

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

/// How long past its deadline the caller waits for a run on the pool: on a saturated machine
/// the pool's threads may not get the CPU to reach the bot's next epoch check in time.
pub const POOL_GRACE: Duration = Duration::from_millis(20);

/// How a run went: its output, and whether it was long (used [`LONG_AFTER_CPU`] or more).
pub struct Ran<T> {
    /// What the run returned.
    pub output: T,
    /// Whether it computed for long.
    pub long: bool,
}

/// Runs `run` (a bot's call, which yields at every epoch tick): on the long-run pool when
/// `long` (the tenant's recent runs were), else on the calling task until it has used
/// [`LONG_AFTER_CPU`], and from then on on the pool. `None` when it was on the pool and had
/// not ended [`POOL_GRACE`] after `deadline` (it is stopped, at its next epoch check, and
/// dropped there). A panic in the run is the caller's; dropping the returned future stops the
/// run wherever it is.
pub async fn run<T: Send + 'static>(
    long: bool,
    deadline: Instant,
    run: impl Future<Output = T> + Send + 'static,
) -> Option<Ran<T>> {
    let mut run = Metered {
        run: Box::pin(run),
        cpu: Duration::ZERO,
    };
    if !long {
        let finished = std::future::poll_fn(|cx| match Pin::new(&mut run).poll(cx) {
            Poll::Ready(ran) => Poll::Ready(Some(ran)),
            Poll::Pending if run.cpu >= LONG_AFTER_CPU => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        if let Some(ran) = finished {
            return Some(ran);
        }
    }
    match pool() {
        Some(pool) => {
            let until = tokio::time::Instant::from_std(deadline + POOL_GRACE);
            // The run's logs and spans stay in the caller's trace.
            let run = run.instrument(tracing::Span::current());
            tokio::time::timeout_at(until, OnPool(pool.spawn(run)))
                .await
                .ok()
        }
        None => Some(run.await),
    }
}

/// A run with the CPU time its polls took.
struct Metered<F> {
    run: Pin<Box<F>>,
    cpu: Duration,
}

impl<F: Future> Future for Metered<F> {
    type Output = Ran<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = this_threads_cpu_time();
        let polled = self.run.as_mut().poll(cx);
        self.cpu += this_threads_cpu_time().saturating_sub(started);
        polled.map(|output| Ran {
            output,
            long: self.cpu >= LONG_AFTER_CPU,
        })
    }
}

/// The CPU time the calling thread has used.
fn this_threads_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a plain system call writing to a valid, owned timespec.
    #[allow(unsafe_code)]
    let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if read != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The pool's runtime, started at the first long run (`None` if it could not be).
fn pool() -> Option<&'static Handle> {
    static POOL: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(lanes_for_this_machine())
            .thread_name("wasmbot-long-run")
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

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// A run that computes for `slices` slices of a fifth of [`LONG_AFTER_CPU`] each,
    /// yielding after each (as a bot does at its epoch ticks), and says which thread it ended
    /// on.
    async fn computing(slices: u32) -> String {
        for _ in 0..slices {
            let started = this_threads_cpu_time();
            while this_threads_cpu_time() - started < LONG_AFTER_CPU / 5 {
                std::hint::spin_loop();
            }
            tokio::task::yield_now().await;
        }
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn a_short_run_stays_on_the_calling_task() {
        let here = std::thread::current().name().map(str::to_owned);
        let ran = run(false, far(), computing(3)).await.unwrap();
        assert_eq!(Some(ran.output), here);
        assert!(!ran.long);
    }

    #[tokio::test]
    async fn a_run_that_goes_long_moves_to_the_pool() {
        let ran = run(false, far(), computing(12)).await.unwrap();
        assert_eq!(ran.output, "wasmbot-long-run");
        assert!(ran.long);
    }

    /// Time off the CPU (a preempted thread, a sleep in a host call) does not make a run long.
    #[tokio::test]
    async fn a_run_that_waits_stays_short() {
        let here = std::thread::current().name().map(str::to_owned);
        let waiting = async {
            for _ in 0..5 {
                std::thread::sleep(LONG_AFTER_CPU);
                tokio::task::yield_now().await;
            }
            std::thread::current().name().unwrap_or_default().to_owned()
        };
        let ran = run(false, far(), waiting).await.unwrap();
        assert_eq!(Some(ran.output), here);
        assert!(!ran.long);
    }

    #[tokio::test]
    async fn a_tenant_whose_recent_runs_went_long_starts_on_the_pool() {
        let record = LongRunRecord::default();
        assert!(!record.recently_long());
        record.record(true);
        let ran = run(record.recently_long(), far(), computing(0))
            .await
            .unwrap();
        assert_eq!(ran.output, "wasmbot-long-run");
    }

    #[tokio::test]
    async fn a_run_on_the_pool_stays_in_the_callers_span() {
        static SUBSCRIBER: OnceLock<()> = OnceLock::new();
        SUBSCRIBER.get_or_init(|| {
            let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        });
        let span = tracing::info_span!("caller");
        let caller = span.id();
        assert!(caller.is_some(), "spans are recorded");
        let ran = run(true, far(), async {
            let on = std::thread::current().name().map(str::to_owned);
            (on, tracing::Span::current().id())
        })
        .instrument(span)
        .await
        .unwrap();
        assert_eq!(ran.output.0.as_deref(), Some("wasmbot-long-run"));
        assert_eq!(ran.output.1, caller);
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
    async fn a_run_on_the_pool_is_given_up_just_after_its_deadline() {
        let deadline = Instant::now() + Duration::from_millis(50);
        let started = Instant::now();
        let out = run(true, deadline, std::future::pending::<()>()).await;
        assert!(out.is_none());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_secs(2),
            "{took:?}"
        );
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
        let run = run(true, far(), async move {
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
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the run kept going on the pool after its caller was dropped");
    }
}
