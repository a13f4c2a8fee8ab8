//! The `log` import, and the bot's stdout/stderr: log lines attributed to the tenant and the
//! session. At most the tenant's `max_log_lines` lines and `max_log_bytes` bytes of an event
//! reach the operator's log; the rest are counted and reported in one summary line. Control
//! characters are escaped, so a bot cannot forge lines.
//!
//! The capability's context is [`BotLog`]; [`add_to_linker`] links the import to it.

use std::borrow::Cow;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::contract::wasmbot::bot::log::{self, Host, Level};

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

/// Collects a bot's log lines for one event and forwards each (up to the limits) to `tracing`,
/// attributed to its tenant and session.
#[derive(Debug)]
pub struct BotLog {
    tenant: Arc<str>,
    session: i64,
    lines: Vec<BotLogLine>,
    bytes: usize,
    dropped: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl BotLog {
    /// An empty log of `tenant`'s bot that keeps at most `max_lines` lines and `max_bytes`
    /// bytes of text per event.
    pub fn new(tenant: &str, max_lines: usize, max_bytes: usize) -> Self {
        Self {
            tenant: tenant.into(),
            session: 0,
            lines: Vec::new(),
            bytes: 0,
            dropped: 0,
            max_lines,
            max_bytes,
        }
    }

    /// Attributes the lines that follow to `session`.
    pub fn begin_event(&mut self, session: i64) {
        self.session = session;
    }

    /// Records a line the bot logged.
    pub fn record(&mut self, level: LogLevel, message: &str) {
        let kept = truncate(message, MAX_LINE_BYTES);
        if self.lines.len() >= self.max_lines || self.bytes + kept.len() > self.max_bytes {
            self.dropped += 1;
            return;
        }
        self.bytes += kept.len();
        let message = escape_controls(kept);
        let (tenant, session) = (&*self.tenant, self.session);
        match level {
            LogLevel::Trace => tracing::trace!(target: "bot", tenant, session, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "bot", tenant, session, "{message}"),
            LogLevel::Info => tracing::info!(target: "bot", tenant, session, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "bot", tenant, session, "{message}"),
            LogLevel::Error => tracing::error!(target: "bot", tenant, session, "{message}"),
        }
        self.lines.push(BotLogLine {
            level,
            message: kept.to_owned(),
        });
    }

    /// Records every line of captured stdout/stderr output.
    pub fn record_output(&mut self, level: LogLevel, output: &[u8]) {
        let text = String::from_utf8_lossy(output);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.record(level, line);
        }
    }

    /// Counts `lines` dropped before they reached the log (output past the pipe's capacity).
    pub fn count_dropped(&mut self, lines: usize) {
        self.dropped += lines;
    }

    /// The lines kept, and how many were dropped over the limit (reported to the log in one
    /// line); the log is empty again, for the instance's next event.
    pub fn take_lines(&mut self) -> (Vec<BotLogLine>, usize) {
        if self.dropped > 0 {
            let (tenant, session) = (&*self.tenant, self.session);
            tracing::warn!(target: "bot", tenant, session, dropped = self.dropped,
                "the bot logged more than its limit of {} lines or {} bytes for one event; the rest were dropped",
                self.max_lines, self.max_bytes);
        }
        self.bytes = 0;
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.dropped),
        )
    }
}

/// `text` with control characters (newlines included) written as escapes.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
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

impl Host for BotLog {
    fn log(&mut self, level: Level, message: String) {
        self.record(level.into(), &message);
    }
}

/// The [`HasData`] marker of the `log` import: its host is a [`BotLog`].
pub struct LogCapability;

impl HasData for LogCapability {
    type Data<'a> = &'a mut BotLog;
}

/// Links the `log` import to the [`BotLog`] that `log_of` finds in the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    log_of: fn(&mut T) -> &mut BotLog,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, LogCapability>(linker, log_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_cut_on_char_boundaries() {
        let mut log = BotLog::new("t", 100, 1 << 20);
        for _ in 0..105 {
            log.record(LogLevel::Info, "x");
        }
        let (lines, dropped) = log.take_lines();
        assert_eq!((lines.len(), dropped), (100, 5));
        let long = "é".repeat(MAX_LINE_BYTES);
        assert!(truncate(&long, MAX_LINE_BYTES).len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn bytes_are_bounded_too() {
        let mut log = BotLog::new("t", 100, 25);
        for _ in 0..5 {
            log.record(LogLevel::Info, "ten bytes.");
        }
        let (lines, dropped) = log.take_lines();
        assert_eq!((lines.len(), dropped), (2, 3));
    }

    #[test]
    fn control_characters_are_escaped_so_lines_cannot_be_forged() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("a\nINFO forged\r\t\u{1b}[31m"),
            "a\\nINFO forged\\r\\t\\u{1b}[31m"
        );
    }

    #[test]
    fn the_import_records_at_the_bots_level() {
        let mut log = BotLog::new("t", 100, 1 << 20);
        log.begin_event(7);
        Host::log(&mut log, Level::Error, "it broke".into());
        let (lines, dropped) = log.take_lines();
        assert_eq!(dropped, 0);
        assert_eq!(lines[0].level, LogLevel::Error);
        assert_eq!(lines[0].message, "it broke");
    }

    #[test]
    fn output_is_split_into_lines() {
        let mut log = BotLog::new("t", 100, 1 << 20);
        log.record_output(LogLevel::Warn, b"panicked at src/lib.rs\n\nnote: run\n");
        let (lines, _) = log.take_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message, "panicked at src/lib.rs");
        assert_eq!(lines[0].level, LogLevel::Warn);
    }
}
