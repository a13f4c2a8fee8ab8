//! When to try a failed delivery again, and when to give up on it.

use std::time::Duration;

/// Retry policy of Send API requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// An activity still failing this long after its first failure becomes a dead letter.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            give_up_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failures (1 or more): exponential, with jitter (between half
    /// and all of the step), and never shorter than what mluvii asked for in `Retry-After`.
    pub fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let step = self
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let jittered = step.mul_f64(0.5 + fastrand::f64() * 0.5);
        jittered.max(retry_after.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_and_honours_retry_after() {
        let policy = RetryPolicy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            give_up_after: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let first = policy.backoff(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.backoff(30, None);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
            let asked = policy.backoff(1, Some(Duration::from_secs(3)));
            assert_eq!(asked, Duration::from_secs(3));
        }
    }
}
