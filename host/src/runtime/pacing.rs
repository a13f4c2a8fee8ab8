//! Sharing the CPU between long-running bots, so they cannot crowd out short ones. A bot that
//! is still computing at its first epoch tick becomes a long run; from then on, at every tick,
//! it yields and, when more long runs are active than there are lanes for them, pauses long
//! enough that all long runs together use about `lanes` cores. Short bots (the usual event
//! takes well under one tick) never pause, so a tenant running endless loops slows other
//! tenants' ordinary events only by the slice a loop holds a worker: one tick.
//!
//! Nothing is held while a bot waits: a long run that sleeps in a host call only makes the
//! others' pauses a little longer, and every run still ends at its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The long runs of one engine.
#[derive(Debug)]
pub struct LongRuns {
    active: AtomicUsize,
    lanes: usize,
    tick: Duration,
}

impl LongRuns {
    /// Long runs sharing about `lanes` cores, paced in `tick`s.
    pub fn new(lanes: usize, tick: Duration) -> Arc<Self> {
        Arc::new(Self {
            active: AtomicUsize::new(0),
            lanes: lanes.max(1),
            tick,
        })
    }

    /// Lanes for a machine: half its cores, at least one.
    pub fn lanes_for_this_machine() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get() / 2)
    }

    /// Long runs in progress.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// How long a long run pauses after its slice: none while the long runs fit the lanes,
    /// else a slice for each other run sharing its lane.
    fn pause(&self) -> Duration {
        let sharing = self.active().div_ceil(self.lanes);
        self.tick * (sharing.saturating_sub(1) as u32)
    }
}

/// One bot instance's part in the pacing.
#[derive(Debug)]
pub struct Pace {
    runs: Arc<LongRuns>,
    long: bool,
}

impl Pace {
    /// An instance that has not run long yet.
    pub fn new(runs: Arc<LongRuns>) -> Self {
        Self { runs, long: false }
    }

    /// Called at each epoch tick while the bot computes: counts it as a long run (from its
    /// first tick on) and says how long to pause before its next slice.
    pub fn next_slice(&mut self) -> Duration {
        if !self.long {
            self.long = true;
            self.runs.active.fetch_add(1, Ordering::Relaxed);
        }
        self.runs.pause()
    }

    /// The run ended (a warm instance starts its next event as a short run).
    pub fn finish(&mut self) {
        if std::mem::take(&mut self.long) {
            self.runs.active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(1);

    #[test]
    fn long_runs_within_the_lanes_do_not_pause() {
        let runs = LongRuns::new(2, TICK);
        let mut a = Pace::new(runs.clone());
        let mut b = Pace::new(runs.clone());
        assert_eq!(a.next_slice(), Duration::ZERO);
        assert_eq!(b.next_slice(), Duration::ZERO);
        assert_eq!(runs.active(), 2);
    }

    #[test]
    fn more_long_runs_than_lanes_pause_in_proportion() {
        let runs = LongRuns::new(1, TICK);
        let mut paces: Vec<Pace> = (0..4).map(|_| Pace::new(runs.clone())).collect();
        for pace in &mut paces {
            pace.next_slice();
        }
        // Four runs on one lane: each computes one slice in four.
        assert_eq!(paces[0].next_slice(), TICK * 3);
        // A run that ends, or whose instance is dropped, stops counting.
        paces[1].finish();
        paces.pop();
        assert_eq!(runs.active(), 2);
        assert_eq!(paces[0].next_slice(), TICK);
    }
}
