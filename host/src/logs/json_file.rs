//! Docker's json-file format: `{"log":"…","stream":"stdout|stderr","time":"RFC3339Nano"}` per line.
//! A `log` without a trailing newline is a piece of a longer line (docker splits at 16 KiB) or
//! the last output of a container that exited mid-line.

use std::borrow::Cow;

use anyctr_core::model::LogStreamKind;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ParseError;
use anyctr_core::log_join::Piece;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// A parsed line; `bytes` is owned when the JSON had escapes.
pub struct JsonPiece<'a> {
    pub time: DateTime<Utc>,
    pub stream: LogStreamKind,
    text: Cow<'a, str>,
}

impl JsonPiece<'_> {
    pub fn piece(&self) -> Piece<'_> {
        let b = self.text.as_bytes();
        let (bytes, partial) = match b.strip_suffix(b"\n") {
            Some(line) => (line, false),
            None => (b, true),
        };
        Piece { time: self.time, stream: self.stream, bytes, partial }
    }
}

pub(super) fn stream_kind(s: &str) -> Result<LogStreamKind, ParseError> {
    match s {
        "stdout" => Ok(LogStreamKind::Stdout),
        "stderr" => Ok(LogStreamKind::Stderr),
        other => Err(ParseError::new(format!("unknown stream {:?}", truncate(other)))),
    }
}

pub(super) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Parses one json-file line (without its newline).
pub fn parse(line: &[u8]) -> Result<JsonPiece<'_>, ParseError> {
    let l: Line<'_> =
        serde_json::from_slice(line).map_err(|e| ParseError::new(format!("not a json-file line: {e}")))?;
    let time = DateTime::parse_from_rfc3339(&l.time)
        .map_err(|e| ParseError::new(format!("bad time {:?}: {e}", truncate(&l.time))))?
        .with_timezone(&Utc);
    Ok(JsonPiece { time, stream: stream_kind(&l.stream)?, text: l.log })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let p = parse(br#"{"log":"hello\n","stream":"stdout","time":"2026-11-30T17:00:00.123456789Z"}"#).unwrap();
        let piece = p.piece();
        assert_eq!((piece.bytes, piece.partial, piece.stream), (&b"hello"[..], false, LogStreamKind::Stdout));
        assert_eq!(piece.time.timestamp_subsec_nanos(), 123_456_789);
        let p = parse(br#"{"log":"a\"b","stream":"stderr","time":"2026-11-30T17:00:00Z"}"#).unwrap();
        assert_eq!((p.piece().bytes, p.piece().partial), (&br#"a"b"#[..], true));
        for bad in [
            &b""[..],
            b"{",
            br#"{"log":"x\n","stream":"stdin","time":"2026-11-30T17:00:00Z"}"#,
            br#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#,
            br#"{"log":1,"stream":"stdout","time":"2026-11-30T17:00:00Z"}"#,
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
