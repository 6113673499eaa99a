//! Rejoining log lines an engine split (CRI `P`…`F`, json-file and the docker logs API's 16 KiB
//! pieces), bounded: shared by anyctr-host's file reader and engines that read a logs API.

use crate::model::{LogRecord, LogStreamKind};
use chrono::{DateTime, Utc};

/// One piece of a line as a log format stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    /// The piece's timestamp (a rejoined line keeps its first piece's).
    pub time: DateTime<Utc>,
    /// The stream the piece belongs to.
    pub stream: LogStreamKind,
    /// The piece's bytes, without a trailing newline.
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
    /// A joiner that keeps at most `max_line` bytes of a line.
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

/// A frame of a Docker-API logs answer asked with `timestamps=1` (docker, pouch):
/// `<RFC3339Nano> <text>`, where text without a trailing newline is a piece of a longer line.
/// `Err` says what is wrong with the frame.
pub fn timestamped_frame(stream: LogStreamKind, frame: &[u8]) -> Result<Piece<'_>, &'static str> {
    let at = frame.iter().position(|&b| b == b' ').ok_or("without a timestamp")?;
    let time = std::str::from_utf8(&frame[..at])
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or("with a bad timestamp")?
        .with_timezone(&Utc);
    let text = &frame[at + 1..];
    let (bytes, partial) = match text.strip_suffix(b"\n") {
        Some(line) => (line, false),
        None => (text, true),
    };
    Ok(Piece { time, stream, bytes, partial })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamped_frames_become_pieces() {
        let p = timestamped_frame(LogStreamKind::Stdout, b"2026-11-30T17:00:00.5Z hello\n").unwrap();
        assert_eq!((p.bytes, p.partial), (&b"hello"[..], false));
        let p = timestamped_frame(LogStreamKind::Stderr, b"2026-11-30T17:00:00.5Z a b").unwrap();
        assert_eq!((p.bytes, p.partial), (&b"a b"[..], true));
        assert!(timestamped_frame(LogStreamKind::Stdout, b"nospace").is_err());
        assert!(timestamped_frame(LogStreamKind::Stdout, b"yesterday x\n").is_err());
    }

    #[test]
    fn pieces_join_per_stream_and_are_bounded() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let mut j = Joiner::new(5);
        let piece = |stream, bytes, partial| Piece { time: t, stream, bytes, partial };
        assert!(j.push(piece(LogStreamKind::Stdout, b"abc", true)).is_none());
        let err = j.push(piece(LogStreamKind::Stderr, b"e", false)).unwrap();
        assert_eq!((&err.bytes[..], err.partial_rejoined), (&b"e"[..], false));
        let out = j.push(piece(LogStreamKind::Stdout, b"defg", false)).unwrap();
        assert_eq!((&out.bytes[..], out.partial_rejoined, out.truncated), (&b"abcde"[..], true, true));
        assert!(!j.is_open());
    }
}
