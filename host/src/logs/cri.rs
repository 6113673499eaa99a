//! The CRI log format: `<RFC3339Nano> <stdout|stderr> <P|F> <text>` per line. containerd writes
//! UTC times with `Z`, CRI-O the local time with its UTC offset; both are accepted. Tags are
//! `:`-separated (`P`, `F`, possibly more in the future); `P` marks a partial line.

use super::json_file::stream_kind;
use super::{ParseError, time};
use anyctr_core::log_join::Piece;

fn field(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = memchr::memchr(b' ', rest)?;
    Some((&rest[..at], &rest[at + 1..]))
}

/// Parses one CRI line (without its newline).
pub fn parse(line: &[u8]) -> Result<Piece<'_>, ParseError> {
    let missing = || ParseError::new("not a CRI log line: fewer than 3 space-separated fields".to_owned());
    let (time, rest) = field(line).ok_or_else(missing)?;
    let (stream, rest) = field(rest).ok_or_else(missing)?;
    // The text may be empty: `… F` with or without the separating space.
    let (tags, text) = field(rest).unwrap_or((rest, &[]));
    let time = time::parse(time)?;
    let stream = stream_kind(std::str::from_utf8(stream).unwrap_or("(not UTF-8)"))?;
    let partial = match tags.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => {
            return Err(ParseError::new(format!("bad tag {:?}", String::from_utf8_lossy(&tags[..tags.len().min(16)]))));
        }
    };
    Ok(Piece { time, stream, bytes: text, partial })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::LogStreamKind;
    use chrono::{DateTime, Utc};

    #[test]
    fn table() {
        let p = parse(b"2026-11-30T17:00:00.123456789Z stdout F hello world").unwrap();
        assert_eq!((p.bytes, p.partial, p.stream), (&b"hello world"[..], false, LogStreamKind::Stdout));
        assert_eq!(p.time.timestamp_subsec_nanos(), 123_456_789);
        // CRI-O: local time with offset → the same instant in UTC.
        let o = parse(b"2026-11-30T19:00:00.5+02:00 stderr P  x ").unwrap();
        assert_eq!(o.time, "2026-11-30T17:00:00.5Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!((o.bytes, o.partial, o.stream), (&b" x "[..], true, LogStreamKind::Stderr));
        assert_eq!(parse(b"2026-11-30T17:00:00Z stdout F").unwrap().bytes, b"");
        assert_eq!(parse(b"2026-11-30T17:00:00Z stdout F ").unwrap().bytes, b"");
        assert!(!parse(b"2026-11-30T17:00:00Z stdout F:x y").unwrap().partial);
        for bad in [
            &b""[..],
            b"2026-11-30T17:00:00Z",
            b"2026-11-30T17:00:00Z stdout",
            b"nope stdout F x",
            b"2026-11-30T17:00:00Z stdin F x",
            b"2026-11-30T17:00:00Z stdout X x",
            b"\xff stdout F x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
