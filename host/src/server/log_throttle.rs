//! Log lines a client can cause at any rate (webhooks to unknown tenants, wrong tokens,
//! refusals under overload), let through a few per window, with the count held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets at most `per_window` lines of one kind through per `window`; the first line of a
/// later window says how many were held back before it.
#[derive(Debug)]
pub struct LogThrottle {
    per_window: u32,
    window: Duration,
    state: Mutex<WindowState>,
}

#[derive(Debug)]
struct WindowState {
    started: Instant,
    written: u32,
    held_back: u64,
}

impl LogThrottle {
    /// A throttle letting `per_window` lines through per `window`.
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            state: Mutex::new(WindowState {
                started: Instant::now(),
                written: 0,
                held_back: 0,
            }),
        }
    }

    /// `Some(lines held back since the last one written)` when a line may be written now,
    /// `None` when it is to be held back.
    pub fn admit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.started.elapsed() >= self.window {
            state.started = Instant::now();
            state.written = 0;
        }
        if state.written < self.per_window {
            state.written += 1;
            Some(std::mem::take(&mut state.held_back))
        } else {
            state.held_back += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_to_the_window_and_the_next_window_reports_what_was_held_back() {
        let throttle = LogThrottle::new(3, Duration::from_millis(200));
        let admitted: Vec<_> = (0..10).map(|_| throttle.admit()).collect();
        assert_eq!(admitted[..3], [Some(0), Some(0), Some(0)]);
        assert!(admitted[3..].iter().all(Option::is_none));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.admit(), Some(7));
        assert_eq!(throttle.admit(), Some(0));
    }
}
