//! How fast the event path drains its backlog, for ingress to admit no more than it sustains:
//! with [`DispatchSettings::max_backlog_secs`](super::DispatchSettings) set, a webhook is
//! refused (503) once the backlog would take longer than that to process at the rate events
//! were processed over the last [`WINDOW`], so at the maximum sustained rate the backlog stays
//! flat and end-to-end latency bounded instead of acknowledging fast for a while and then
//! refusing at the count bound. Below [`ALWAYS_ADMITTED`] events nothing is refused for it
//! (a start, a lull, a slow bot with little traffic).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The span the processing rate is measured over.
pub const WINDOW: Duration = Duration::from_secs(5);

/// How often a sample of the processed count is kept.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A backlog this small is always admitted.
pub const ALWAYS_ADMITTED: usize = 1_000;

/// Events processed so far, and samples of that count over the last [`WINDOW`]; and events
/// journaled through this process.
#[derive(Debug)]
pub struct DrainRate {
    processed: AtomicU64,
    journaled: AtomicU64,
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

impl Default for DrainRate {
    fn default() -> Self {
        Self {
            processed: AtomicU64::new(0),
            journaled: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::from([(Instant::now(), 0)])),
        }
    }
}

impl DrainRate {
    /// Counts `events` processed.
    pub fn processed(&self, events: usize) {
        self.processed.fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Counts an event journaled through this process.
    pub fn journaled(&self) {
        self.journaled.fetch_add(1, Ordering::Relaxed);
    }

    /// Events journaled through this process less events it processed: its share of a backlog
    /// that replicas share (each replica runs the sessions whose webhooks it receives).
    pub fn outstanding(&self) -> usize {
        let journaled = self.journaled.load(Ordering::Relaxed);
        journaled.saturating_sub(self.processed.load(Ordering::Relaxed)) as usize
    }

    /// Events processed per second over the last [`WINDOW`] (as of `now`).
    pub fn per_sec(&self, now: Instant) -> f64 {
        let total = self.processed.load(Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= SAMPLE_EVERY)
        {
            samples.push_back((now, total));
        }
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
        {
            samples.pop_front();
        }
        let (since, then) = samples.front().copied().unwrap_or((now, total));
        let elapsed = now.duration_since(since).as_secs_f64();
        if elapsed < SAMPLE_EVERY.as_secs_f64() {
            return 0.0;
        }
        total.saturating_sub(then) as f64 / elapsed
    }

    /// The most events the backlog may hold now for them to be processed within `secs`.
    pub fn admitted(&self, secs: f64, now: Instant) -> usize {
        ((self.per_sec(now) * secs) as usize).max(ALWAYS_ADMITTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admitted_backlog_follows_the_processing_rate() {
        let rate = DrainRate::default();
        let start = Instant::now();
        assert_eq!(
            rate.admitted(2.0, start),
            ALWAYS_ADMITTED,
            "nothing processed yet"
        );
        // 2,000 events per second for three seconds, sampled as the webhooks would.
        for tick in 1..=12 {
            rate.processed(500);
            rate.per_sec(start + SAMPLE_EVERY * tick);
        }
        let now = start + Duration::from_secs(3);
        let per_sec = rate.per_sec(now);
        assert!((1900.0..=2100.0).contains(&per_sec), "{per_sec}");
        let admitted = rate.admitted(2.0, now);
        assert!((3800..=4200).contains(&admitted), "{admitted}");
        // Processing stops: after a window, only the floor is admitted.
        let later = now + WINDOW + SAMPLE_EVERY;
        rate.per_sec(now + WINDOW);
        assert_eq!(rate.admitted(2.0, later), ALWAYS_ADMITTED);
    }

    #[test]
    fn outstanding_events_are_those_journaled_here_and_not_processed() {
        let rate = DrainRate::default();
        for _ in 0..5 {
            rate.journaled();
        }
        rate.processed(3);
        assert_eq!(rate.outstanding(), 2);
        // Events journaled by other replicas and processed here do not make it negative.
        rate.processed(4);
        assert_eq!(rate.outstanding(), 0);
    }
}
