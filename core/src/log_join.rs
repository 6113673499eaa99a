//! Rejoining log lines an engine split (CRI `P`…`F`, json-file and the docker logs API's 16 KiB
//! pieces), bounded: shared by anyctr-host's file reader and engines that read a logs API.

use crate::model::{LogRecord, LogStreamKind};
use chrono::{DateTime, Utc};

/// One piece of a line as a log format stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    pub time: DateTime<Utc>,
    pub stream: LogStreamKind,
    pub bytes: &'a [u8],
    /// More pieces of the same line follow.
    pub partial: bool,
}

/// A line being assembled on one stream.
#[derive(Debug)]
struct Pending {
    time: DateTime<Utc>,
    bytes: Vec<u8>,
    pieces: usize,
    truncated: bool,
}

/// Joins pieces into whole lines, per stream (stdout and stderr pieces may interleave), keeping
/// at most `max_line` bytes of a line: the rest is dropped and the record says `truncated`.
#[derive(Debug)]
pub struct Joiner {
    max_line: usize,
    pending: [Option<Pending>; 2],
}

fn slot(stream: LogStreamKind) -> usize {
    match stream {
        LogStreamKind::Stdout => 0,
        LogStreamKind::Stderr => 1,
    }
}

impl Joiner {
    pub fn new(max_line: usize) -> Self {
        Joiner { max_line, pending: [None, None] }
    }

    /// Adds a piece; returns the record it completes.
    pub fn push(&mut self, piece: Piece<'_>) -> Option<LogRecord> {
        let max = self.max_line;
        let p = self.pending[slot(piece.stream)].get_or_insert_with(|| Pending {
            time: piece.time,
            bytes: Vec::new(),
            pieces: 0,
            truncated: false,
        });
        let room = max.saturating_sub(p.bytes.len());
        let take = piece.bytes.len().min(room);
        p.bytes.extend_from_slice(&piece.bytes[..take]);
        p.truncated |= take < piece.bytes.len();
        p.pieces += 1;
        if piece.partial { None } else { self.take(piece.stream) }
    }

    /// The line still open on `stream`, ended as it stands (the container exited mid-line, or
    /// the caller is not following and reached the end of the log).
    pub fn take(&mut self, stream: LogStreamKind) -> Option<LogRecord> {
        let p = self.pending[slot(stream)].take()?;
        let mut r = LogRecord::new(p.time, stream, p.bytes);
        r.partial_rejoined = p.pieces > 1;
        r.truncated = p.truncated;
        Some(r)
    }

    /// Every open line, ended as it stands, oldest first.
    pub fn flush(&mut self) -> Vec<LogRecord> {
        let mut out: Vec<LogRecord> =
            [LogStreamKind::Stdout, LogStreamKind::Stderr].into_iter().filter_map(|s| self.take(s)).collect();
        out.sort_by_key(|r| r.time);
        out
    }

    /// Whether a line is open on some stream.
    pub fn is_open(&self) -> bool {
        self.pending.iter().any(Option::is_some)
    }
}
