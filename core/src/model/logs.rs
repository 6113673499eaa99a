//! Container logs: one normalized record per line, whatever the engine's log format.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStreamKind {
    /// The container's standard output.
    Stdout,
    /// The container's standard error.
    Stderr,
}

/// Where a log stream's records were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The engine's json-file log, read directly from the host.
    JsonFile,
    /// The CRI log file (`<time> <stream> <P|F> <text>`), read directly from the host.
    CriFile,
    /// The engine's logs API (e.g. docker's `/containers/{id}/logs`).
    EngineApi,
}

/// One log line as the container wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LogRecord {
    /// When the engine received the line (its timestamp in the log).
    pub time: DateTime<Utc>,
    /// The stream the line was written to.
    pub stream: LogStreamKind,
    /// The line's bytes, without the trailing newline. Container output need not be UTF-8.
    pub bytes: Vec<u8>,
    /// The engine had split the line (CRI `P`…`F`, json-file 16 KiB pieces) and anyctr joined it.
    pub partial_rejoined: bool,
    /// The line was longer than the reader's limit and was cut there: the rest is dropped, said here.
    pub truncated: bool,
}

impl LogRecord {
    /// A whole, unsplit line.
    pub fn new(time: DateTime<Utc>, stream: LogStreamKind, bytes: impl Into<Vec<u8>>) -> Self {
        LogRecord { time, stream, bytes: bytes.into(), partial_rejoined: false, truncated: false }
    }
}

/// What [`ContainerEngine::logs`](crate::ContainerEngine::logs) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogOptions {
    /// Keep the stream open and yield lines as they are written (through log rotation).
    pub follow: bool,
    /// Only lines at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only lines before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only the last `tail` lines that exist when the call starts (then, with `follow`, new ones).
    pub tail: Option<usize>,
}

impl LogOptions {
    /// Every line there is, then the call ends (no follow, no bounds).
    pub fn new() -> Self {
        LogOptions::default()
    }

    /// Keep the stream open for new lines.
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Only lines at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only lines before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Only the last `lines` lines present when the call starts.
    pub fn tail(mut self, lines: usize) -> Self {
        self.tail = Some(lines);
        self
    }

    /// Whether a record's time passes `since` and `until`.
    pub fn admits(&self, time: &DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| *time >= s) && self.until.is_none_or(|u| *time < u)
    }

    /// Refuses options that cannot match anything (`until` not after `since`).
    pub fn validate(&self) -> crate::Result<()> {
        if let (Some(s), Some(u)) = (self.since, self.until)
            && u <= s
        {
            return Err(crate::Error::invalid_argument(format!("logs: until ({u}) is not after since ({s})")));
        }
        Ok(())
    }
}

/// A container's log records and where they were read from.
pub struct LogStream {
    /// Which source serves the records.
    pub source: LogSource,
    /// The records in the order written. Ends after the last line unless following.
    pub records: futures_util::stream::BoxStream<'static, crate::Result<LogRecord>>,
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream").field("source", &self.source).finish_non_exhaustive()
    }
}
