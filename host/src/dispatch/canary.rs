//! A candidate in canary mode serves a share of the tenant's *new* sessions for real: a
//! session whose first event arrives after the canary was set is the candidate's when a
//! stable hash of its id falls in the share, so a conversation never switches version
//! mid-way (every replica decides the same). Sessions the journal already held when the
//! canary was set stay on the serving version. The canary is withdrawn by itself when its
//! failure rate over a window exceeds the serving version's by more than a margin.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How a canary shares traffic and when it is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CanaryPolicy {
    /// Share of new sessions served by the candidate, 0 to 100.
    pub percent: u8,
    /// Withdrawn when its failure rate exceeds the serving version's by more than this
    /// (0.05: five points).
    pub margin: f64,
    /// The window the failure rates are taken over.
    #[serde(serialize_with = "as_secs")]
    pub window: Duration,
    /// Events of the candidate in the window before it can be judged.
    pub min_events: u32,
}

fn as_secs<S: serde::Serializer>(window: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(window.as_secs())
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        Self {
            percent: 10,
            margin: 0.05,
            window: Duration::from_secs(300),
            min_events: 20,
        }
    }
}

impl CanaryPolicy {
    /// The policy as stored: `canary percent=10 margin=0.05 window_secs=300 min_events=20`.
    pub fn encode(&self) -> String {
        format!(
            "canary percent={} margin={} window_secs={} min_events={}",
            self.percent,
            self.margin,
            self.window.as_secs(),
            self.min_events
        )
    }

    /// Reads [`CanaryPolicy::encode`]'s text back (unknown or missing fields: defaults).
    pub fn decode(text: &str) -> Option<Self> {
        let mut fields = text.split_whitespace();
        if fields.next() != Some("canary") {
            return None;
        }
        let mut policy = Self::default();
        for field in fields {
            match field.split_once('=') {
                Some(("percent", v)) => policy.percent = v.parse().ok()?,
                Some(("margin", v)) => policy.margin = v.parse().ok()?,
                Some(("window_secs", v)) => policy.window = Duration::from_secs(v.parse().ok()?),
                Some(("min_events", v)) => policy.min_events = v.parse().ok()?,
                _ => {}
            }
        }
        Some(policy)
    }

    /// Refuses values that cannot work, naming the parameter.
    pub fn check(&self) -> Result<(), String> {
        if self.percent > 100 {
            return Err(format!("percent={} must be from 0 to 100", self.percent));
        }
        if !(0.0..=1.0).contains(&self.margin) {
            return Err(format!("margin={} must be from 0.0 to 1.0", self.margin));
        }
        if self.window.is_zero() {
            return Err("window_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// Which of 100 buckets a session falls in: a fixed mix of its id (SplitMix64), the same on
/// every replica and in every release.
pub fn bucket(session_id: i64) -> u8 {
    let mut z = (session_id as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % 100) as u8
}

/// A running canary: its policy, the sessions it must not take, and its recent runs.
#[derive(Debug)]
pub struct Canary {
    /// The policy.
    pub policy: CanaryPolicy,
    existing: HashSet<i64>,
    runs: Mutex<VecDeque<Run>>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    at: Instant,
    candidate: bool,
    failed: bool,
}

/// Runs and failures of each version in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CanaryFigures {
    /// Events the candidate ran.
    pub candidate_events: u32,
    /// Of which failed.
    pub candidate_failures: u32,
    /// Events the serving version ran.
    pub serving_events: u32,
    /// Of which failed.
    pub serving_failures: u32,
}

impl CanaryFigures {
    fn rate(failures: u32, events: u32) -> f64 {
        if events == 0 {
            0.0
        } else {
            f64::from(failures) / f64::from(events)
        }
    }

    /// The candidate's failure rate.
    pub fn candidate_rate(&self) -> f64 {
        Self::rate(self.candidate_failures, self.candidate_events)
    }

    /// The serving version's failure rate.
    pub fn serving_rate(&self) -> f64 {
        Self::rate(self.serving_failures, self.serving_events)
    }
}

impl Canary {
    /// A canary under `policy`; `existing` are the sessions already running.
    pub fn new(policy: CanaryPolicy, existing: HashSet<i64>) -> Self {
        Self {
            policy,
            existing,
            runs: Mutex::default(),
        }
    }

    /// Whether the candidate serves `session_id`.
    pub fn takes(&self, session_id: i64) -> bool {
        !self.existing.contains(&session_id) && bucket(session_id) < self.policy.percent
    }

    /// Records one run of the tenant's; the reason to withdraw the candidate, once its
    /// failure rate in the window exceeds the serving version's by more than the margin.
    pub fn record(&self, candidate: bool, failed: bool) -> Option<String> {
        let now = Instant::now();
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.push_back(Run {
            at: now,
            candidate,
            failed,
        });
        while runs
            .front()
            .is_some_and(|run| now.duration_since(run.at) > self.policy.window)
        {
            runs.pop_front();
        }
        let figures = figures(&runs);
        let excess = figures.candidate_rate() - figures.serving_rate();
        (figures.candidate_events >= self.policy.min_events && excess > self.policy.margin).then(
            || {
                format!(
                    "its failure rate over the last {} s was {:.1} % ({} of {} events) against the serving version's {:.1} % ({} of {}), more than {:.1} points above",
                    self.policy.window.as_secs(),
                    figures.candidate_rate() * 100.0,
                    figures.candidate_failures,
                    figures.candidate_events,
                    figures.serving_rate() * 100.0,
                    figures.serving_failures,
                    figures.serving_events,
                    self.policy.margin * 100.0
                )
            },
        )
    }

    /// The figures of the window as of now.
    pub fn figures(&self) -> CanaryFigures {
        figures(&self.runs.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn figures(runs: &VecDeque<Run>) -> CanaryFigures {
    let mut figures = CanaryFigures::default();
    for run in runs {
        let (events, failures) = if run.candidate {
            (
                &mut figures.candidate_events,
                &mut figures.candidate_failures,
            )
        } else {
            (&mut figures.serving_events, &mut figures.serving_failures)
        };
        *events += 1;
        *failures += u32::from(run.failed);
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket(12345), bucket(12345));
        let in_half = (0..10_000).filter(|s| bucket(*s) < 50).count();
        assert!((4_700..5_300).contains(&in_half), "{in_half}");
    }

    #[test]
    fn running_sessions_stay_and_new_ones_split_by_share() {
        let policy = CanaryPolicy {
            percent: 100,
            ..CanaryPolicy::default()
        };
        let canary = Canary::new(policy, HashSet::from([7]));
        assert!(!canary.takes(7));
        assert!(canary.takes(8));
        let none = Canary::new(
            CanaryPolicy {
                percent: 0,
                ..policy
            },
            HashSet::new(),
        );
        assert!(!none.takes(8));
    }

    #[test]
    fn a_candidate_failing_more_than_the_margin_is_withdrawn_once_judged() {
        let policy = CanaryPolicy {
            min_events: 4,
            ..CanaryPolicy::default()
        };
        let canary = Canary::new(policy, HashSet::new());
        for _ in 0..10 {
            assert_eq!(canary.record(false, false), None);
        }
        assert_eq!(canary.record(true, true), None);
        assert_eq!(canary.record(true, false), None);
        assert_eq!(canary.record(true, false), None);
        // 1 of 4 (25 %) against 0 %: past the 5-point margin once 4 events are in.
        let reason = canary.record(true, false).unwrap();
        assert!(reason.contains("25.0 % (1 of 4 events)"), "{reason}");
        let figures = canary.figures();
        assert_eq!((figures.serving_events, figures.candidate_events), (10, 4));
    }

    #[test]
    fn policies_survive_their_stored_form() {
        let policy = CanaryPolicy {
            percent: 50,
            margin: 0.1,
            window: Duration::from_secs(60),
            min_events: 5,
        };
        assert_eq!(CanaryPolicy::decode(&policy.encode()), Some(policy));
        assert_eq!(CanaryPolicy::decode("shadow"), None);
        assert!(
            CanaryPolicy {
                percent: 101,
                ..policy
            }
            .check()
            .is_err()
        );
    }
}
