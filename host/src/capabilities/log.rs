//! The `log` import, and the bot's stdout/stderr: log lines attributed to the tenant.

use crate::runtime::bindings::wasmbot::bot::log::{Host, Level};
use crate::runtime::host_state::HostState;

/// Most log lines kept from one event; later lines are counted, not kept.
pub const MAX_LINES_PER_EVENT: usize = 1000;
/// Longest log line kept, in bytes; longer lines are cut.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// One line a bot logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotLogLine {
    /// Its level (stdout is `info`, stderr `warn`).
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// Log levels as the host reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Debugging.
    Debug,
    /// Normal.
    Info,
    /// Something odd.
    Warn,
    /// Something failed.
    Error,
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

/// Collects a bot's log lines for one event and forwards each to `tracing`.
#[derive(Debug, Default)]
pub struct BotLog {
    lines: Vec<BotLogLine>,
    dropped: usize,
}

impl BotLog {
    /// Records a line from `tenant`'s bot in `session`.
    pub fn record(&mut self, tenant: &str, session: i64, level: LogLevel, message: &str) {
        let message = truncate(message, MAX_LINE_BYTES);
        match level {
            LogLevel::Trace => tracing::trace!(target: "bot", tenant, session, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "bot", tenant, session, "{message}"),
            LogLevel::Info => tracing::info!(target: "bot", tenant, session, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "bot", tenant, session, "{message}"),
            LogLevel::Error => tracing::error!(target: "bot", tenant, session, "{message}"),
        }
        if self.lines.len() < MAX_LINES_PER_EVENT {
            self.lines.push(BotLogLine {
                level,
                message: message.to_owned(),
            });
        } else {
            self.dropped += 1;
        }
    }

    /// Records every line of captured stdout/stderr output.
    pub fn record_output(&mut self, tenant: &str, session: i64, level: LogLevel, output: &[u8]) {
        let text = String::from_utf8_lossy(output);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.record(tenant, session, level, line);
        }
    }

    /// The lines kept, and how many were dropped over the limit.
    pub fn into_lines(self) -> (Vec<BotLogLine>, usize) {
        (self.lines, self.dropped)
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let (tenant, session) = (self.tenant.id.clone(), self.session_id);
        self.log.record(&tenant, session, level.into(), &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_cut_on_char_boundaries() {
        let mut log = BotLog::default();
        for _ in 0..MAX_LINES_PER_EVENT + 5 {
            log.record("t", 1, LogLevel::Info, "x");
        }
        let (lines, dropped) = log.into_lines();
        assert_eq!((lines.len(), dropped), (MAX_LINES_PER_EVENT, 5));
        let long = "é".repeat(MAX_LINE_BYTES);
        assert!(truncate(&long, MAX_LINE_BYTES).len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn output_is_split_into_lines() {
        let mut log = BotLog::default();
        log.record_output(
            "t",
            1,
            LogLevel::Warn,
            b"panicked at src/lib.rs\n\nnote: run\n",
        );
        let (lines, _) = log.into_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message, "panicked at src/lib.rs");
        assert_eq!(lines[0].level, LogLevel::Warn);
    }
}
