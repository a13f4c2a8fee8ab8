//! A tenant's queue of sessions with work waiting, served by a bounded number of workers.
//! Only session ids live here (the work itself is in the journal or the outbox), so memory
//! stays small however deep the backlog is. A session is handled by one worker at a time,
//! which keeps its order; work that arrives for a session being handled marks it to be
//! queued again when the worker lets go of it.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts things in progress and wakes waiters when the count reaches zero.
#[derive(Default)]
pub struct Tracker {
    count: AtomicUsize,
    zero: Notify,
}

impl Tracker {
    /// One more in progress.
    pub fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// One fewer in progress.
    pub fn remove(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.zero.notify_waiters();
        }
    }

    /// How many are in progress.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Completes when nothing is in progress.
    pub async fn wait_zero(&self) {
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Default)]
struct State {
    ready: VecDeque<i64>,
    scheduled: HashSet<i64>,
    dirty: HashSet<i64>,
    workers: usize,
}

/// Sessions with work, and the workers serving them.
pub struct SessionQueue {
    state: Mutex<State>,
    max_workers: AtomicUsize,
}

impl SessionQueue {
    /// A queue served by at most `max_workers` workers at once.
    pub fn new(max_workers: usize) -> Self {
        Self {
            state: Mutex::default(),
            max_workers: AtomicUsize::new(max_workers.max(1)),
        }
    }

    /// Changes the worker limit (a configuration reload); workers beyond a lowered limit stop
    /// once their session is done.
    pub fn set_max_workers(&self, max_workers: usize) {
        self.max_workers.store(max_workers.max(1), Ordering::SeqCst);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Says `session` has work. Returns whether the caller must start a worker (one that
    /// calls [`SessionQueue::next`] until it returns `None`). `busy` counts scheduled
    /// sessions across queues.
    pub fn push(&self, session: i64, busy: &Tracker) -> bool {
        let mut state = self.state();
        if !state.scheduled.insert(session) {
            state.dirty.insert(session);
            return false;
        }
        busy.add();
        state.ready.push_back(session);
        if state.workers < self.max_workers.load(Ordering::SeqCst) {
            state.workers += 1;
            true
        } else {
            false
        }
    }

    /// The next session for a worker; `None` means the worker must stop (it is no longer
    /// counted).
    pub fn next(&self) -> Option<i64> {
        let mut state = self.state();
        let over_limit = state.workers > self.max_workers.load(Ordering::SeqCst);
        let session = if over_limit {
            None
        } else {
            state.ready.pop_front()
        };
        if session.is_none() {
            state.workers -= 1;
        }
        session
    }

    /// The work taken for `session` is done (possibly after its worker went on to other
    /// sessions); `more` says work was left behind, so the session goes to the back of the
    /// queue. Returns whether the caller must start a worker (as [`SessionQueue::push`]).
    pub fn release(&self, session: i64, more: bool, busy: &Tracker) -> bool {
        let mut state = self.state();
        let dirty = state.dirty.remove(&session);
        if more || dirty {
            state.ready.push_back(session);
            if state.workers < self.max_workers.load(Ordering::SeqCst) {
                state.workers += 1;
                return true;
            }
        } else {
            state.scheduled.remove(&session);
            busy.remove();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_handed_out_once_and_requeued_when_work_arrived_meanwhile() {
        let (queue, busy) = (SessionQueue::new(2), Tracker::default());
        assert!(queue.push(1, &busy), "first worker");
        assert!(queue.push(2, &busy), "second worker");
        assert!(!queue.push(3, &busy), "at most two workers");
        assert!(!queue.push(1, &busy), "already scheduled");
        assert_eq!(busy.count(), 3);
        assert_eq!(queue.next(), Some(1));
        assert_eq!(queue.next(), Some(2));
        assert_eq!(queue.next(), Some(3));
        // Session 1 got work while it was handled: it comes back (two workers still run).
        assert!(!queue.release(1, false, &busy));
        assert_eq!(queue.next(), Some(1));
        assert!(!queue.release(1, false, &busy));
        assert!(!queue.release(2, true, &busy));
        assert_eq!(queue.next(), Some(2));
        assert!(!queue.release(2, false, &busy));
        assert!(!queue.release(3, false, &busy));
        assert_eq!(busy.count(), 0);
        assert_eq!(queue.next(), None);
        assert_eq!(queue.next(), None);
        assert!(queue.push(4, &busy), "workers stopped, so a new one starts");
        assert_eq!(queue.next(), Some(4));
        assert_eq!(
            queue.next(),
            None,
            "the worker left while 4's work was finishing"
        );
        assert!(
            queue.release(4, true, &busy),
            "more work and no worker: the caller starts one"
        );
        assert_eq!(queue.next(), Some(4));
    }

    #[tokio::test]
    async fn waiting_for_zero_completes_when_the_last_one_is_removed() {
        let tracker = std::sync::Arc::new(Tracker::default());
        tracker.add();
        let waiter = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.wait_zero().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        tracker.remove();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
