//! Docker's json-file format: `{"log":"…","stream":"stdout|stderr","time":"RFC3339Nano"}` per line.
//! A `log` without a trailing newline is a piece of a longer line (docker splits at 16 KiB) or
//! the last output of a container that exited mid-line.
//!
//! dockerd writes every line in exactly that shape (keys in that order, no whitespace), so such a
//! line is read by a fixed-layout parser that decodes the `log` string's escapes itself. Anything
//! else — another key order, extra keys, whitespace, a lone surrogate, bad UTF-8, invalid JSON —
//! goes to serde_json, which decides and explains. The fast parser only accepts lines serde
//! accepts, with the same result (a property test compares the two).

use std::borrow::Cow;

use anyctr_core::model::LogStreamKind;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ParseError, time};
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

/// A parsed line; `text` borrows the line, or the decoder's scratch buffer when the JSON had
/// escapes.
pub struct JsonPiece<'a> {
    pub time: DateTime<Utc>,
    pub stream: LogStreamKind,
    text: &'a [u8],
}

impl JsonPiece<'_> {
    pub fn piece(&self) -> Piece<'_> {
        let (bytes, partial) = match self.text.strip_suffix(b"\n") {
            Some(line) => (line, false),
            None => (self.text, true),
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

/// Where the decoded `log` text is.
enum Text {
    /// Unescaped: this range of the line.
    Line(std::ops::Range<usize>),
    /// Decoded into the scratch buffer.
    Scratch,
}

/// Four hex digits (either case), as serde_json reads them.
fn hex4(b: &[u8]) -> Option<u32> {
    b.get(..4)?.iter().try_fold(0u32, |acc, &c| Some(acc * 16 + char::from(c).to_digit(16)?))
}

/// Decodes the escape at the start of `esc` (just after its backslash) onto `out`; the bytes it
/// took. `None` for what the fast parser leaves to serde (lone surrogates, bad escapes).
fn unescape(esc: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let simple = match *esc.first()? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => {
            let n = hex4(&esc[1..])?;
            let (c, took) = match n {
                0xD800..=0xDBFF => {
                    let low = esc.get(5..7).filter(|u| *u == b"\\u").and_then(|_| hex4(&esc[7..]))?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    (0x1_0000 + ((n - 0xD800) << 10) + (low - 0xDC00), 11)
                }
                0xDC00..=0xDFFF => return None,
                _ => (n, 5),
            };
            let mut utf8 = [0; 4];
            out.extend_from_slice(char::from_u32(c)?.encode_utf8(&mut utf8).as_bytes());
            return Some(took);
        }
        _ => return None,
    };
    out.push(simple);
    Some(1)
}

/// A JSON string's contents from the start of `s` (just after its opening quote) up to its
/// closing quote: the bytes it spans (without the quote) and where its text is. Escapes are
/// decoded into `scratch`. `None` for raw control characters, bad escapes, no closing quote.
fn string(s: &[u8], base: usize, scratch: &mut Vec<u8>) -> Option<(usize, Text)> {
    let mut at = 0;
    let mut escaped = false;
    loop {
        let i = at + memchr::memchr2(b'"', b'\\', &s[at..])?;
        // A raw control character is invalid JSON (serde says so). Checked without branching
        // per byte, so the check vectorises.
        if s[at..i].iter().fold(false, |any, &b| any | (b < 0x20)) {
            return None;
        }
        match s[i] {
            b'"' if !escaped => return Some((i, Text::Line(base..base + i))),
            b'"' => {
                scratch.extend_from_slice(&s[at..i]);
                return Some((i, Text::Scratch));
            }
            _ => {
                if !escaped {
                    scratch.clear();
                    escaped = true;
                }
                scratch.extend_from_slice(&s[at..i]);
                at = i + 1 + unescape(&s[i + 1..], scratch)?;
            }
        }
    }
}

/// A line in dockerd's exact shape; `None` for anything else, valid or not.
fn fast(line: &[u8], scratch: &mut Vec<u8>) -> Option<(DateTime<Utc>, LogStreamKind, Text)> {
    const LOG: &[u8] = br#"{"log":""#;
    const STREAM: &[u8] = br#"","stream":""#;
    const TIME: &[u8] = br#"","time":""#;
    // serde_json checks UTF-8 inside strings; outside them any non-ASCII byte is invalid anyway.
    std::str::from_utf8(line).ok()?;
    let rest = line.strip_prefix(LOG)?;
    let (len, text) = string(rest, LOG.len(), scratch)?;
    let rest = rest[len..].strip_prefix(STREAM)?;
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b"stdout") {
        (LogStreamKind::Stdout, r)
    } else {
        (LogStreamKind::Stderr, rest.strip_prefix(b"stderr")?)
    };
    // The time's layout has no quote, backslash or control character: a string that is not just
    // the time (an escape in it, more keys after it) is refused by the time's own parser.
    let time = rest.strip_prefix(TIME)?.strip_suffix(br#""}"#)?;
    Some((time::fast(time)?, stream, text))
}

/// The reference parser: serde_json and chrono, for any line.
fn general<'a>(line: &[u8], scratch: &'a mut Vec<u8>) -> Result<JsonPiece<'a>, ParseError> {
    let l: Line<'_> =
        serde_json::from_slice(line).map_err(|e| ParseError::new(format!("not a json-file line: {e}")))?;
    let time = time::parse(l.time.as_bytes())?;
    let stream = stream_kind(&l.stream)?;
    scratch.clear();
    scratch.extend_from_slice(l.log.as_bytes());
    Ok(JsonPiece { time, stream, text: scratch })
}

/// Parses one json-file line (without its newline); `scratch` holds decoded text.
pub fn parse<'a>(line: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<JsonPiece<'a>, ParseError> {
    match fast(line, scratch) {
        Some((time, stream, Text::Line(r))) => Ok(JsonPiece { time, stream, text: &line[r] }),
        Some((time, stream, Text::Scratch)) => Ok(JsonPiece { time, stream, text: scratch }),
        None => general(line, scratch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Parsed = (DateTime<Utc>, LogStreamKind, Vec<u8>);

    fn by_serde(line: &[u8]) -> Option<Parsed> {
        general(line, &mut Vec::new()).ok().map(|p| (p.time, p.stream, p.text.to_vec()))
    }

    fn by_fast(line: &[u8]) -> Option<Parsed> {
        let mut scratch = Vec::new();
        fast(line, &mut scratch).map(|(time, stream, text)| {
            let text = match text {
                Text::Line(r) => line[r].to_vec(),
                Text::Scratch => scratch,
            };
            (time, stream, text)
        })
    }

    fn by_parse(line: &[u8]) -> Option<Parsed> {
        parse(line, &mut Vec::new()).ok().map(|p| (p.time, p.stream, p.text.to_vec()))
    }

    /// The fast parser accepts only what serde accepts, with the same result, and `parse`
    /// answers as serde does.
    fn agrees(line: &[u8]) -> Result<(), TestCaseError> {
        let want = by_serde(line);
        if let Some(got) = by_fast(line) {
            prop_assert_eq!(Some(got), want.clone(), "{}", String::from_utf8_lossy(line));
        }
        prop_assert_eq!(by_parse(line), want, "{}", String::from_utf8_lossy(line));
        Ok(())
    }

    #[test]
    fn table() {
        let mut scratch = Vec::new();
        let p = parse(br#"{"log":"hello\n","stream":"stdout","time":"2026-11-30T17:00:00.123456789Z"}"#, &mut scratch)
            .unwrap();
        let piece = p.piece();
        assert_eq!((piece.bytes, piece.partial, piece.stream), (&b"hello"[..], false, LogStreamKind::Stdout));
        assert_eq!(piece.time.timestamp_subsec_nanos(), 123_456_789);
        let p = parse(br#"{"log":"a\"b","stream":"stderr","time":"2026-11-30T17:00:00Z"}"#, &mut scratch).unwrap();
        assert_eq!((p.piece().bytes, p.piece().partial), (&br#"a"b"#[..], true));
        for bad in [
            &b""[..],
            b"{",
            br#"{"log":"x\n","stream":"stdin","time":"2026-11-30T17:00:00Z"}"#,
            br#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#,
            br#"{"log":1,"stream":"stdout","time":"2026-11-30T17:00:00Z"}"#,
            b"\xff\xfe",
        ] {
            assert!(parse(bad, &mut scratch).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fast_path_edge_cases_agree_with_serde() {
        const T: &str = r#""time":"2026-11-30T17:00:00.123456789Z""#;
        let exact = |log: &str| format!(r#"{{"log":"{log}","stream":"stdout",{T}}}"#);
        // dockerd's shape with every kind of escape: the fast parser takes these.
        for (log, want) in [
            ("", ""),
            (r"plain text\n", "plain text\n"),
            (r#"q\"q \\ \/ \b\f\n\r\t"#, "q\"q \\ / \u{8}\u{c}\n\r\t"),
            (r"\u003chtml\u003e \u0026\u0026 \u00e9\u00E9 \u0000", "<html> && éé \0"),
            (r"\u2028 \ud83d\ude00 \uD83D\uDE00", "\u{2028} 😀 😀"),
            ("raw unicode: é 😀 中文", "raw unicode: é 😀 中文"),
            (r"\ufffd invalid bytes stood for", "\u{fffd} invalid bytes stood for"),
        ] {
            let line = exact(log);
            assert_eq!(
                by_fast(line.as_bytes()).map(|p| p.2),
                Some(want.as_bytes().to_vec()),
                "the fast parser takes {line}"
            );
            agrees(line.as_bytes()).unwrap();
        }
        // Not dockerd's shape, valid or not: serde decides (and the answers agree).
        for line in [
            exact(r"lone \ud83d surrogate"),
            exact(r"lone \ude00 low surrogate"),
            exact(r"\ud83d\u0041 high then not low"),
            exact(r"\ud83d\ud83d two highs"),
            exact(r"bad \x escape"),
            exact(r"short \u12"),
            exact(r"short \u12g4"),
            exact("raw\ttab"),
            exact("raw\u{1}control"),
            exact("del \u{7f} is fine"),
            exact(r"ends in a backslash\"),
            exact(r#"unescaped " quote"#),
            format!(r#"{{"stream":"stdout","log":"x\n",{T}}}"#),
            format!(r#"{{"log":"x\n",{T},"stream":"stdout"}}"#),
            format!(r#"{{"log":"x\n","stream":"stdout",{T},"attrs":{{"a":"b"}}}}"#),
            format!(r#"{{"log":"x\n","extra":1,"stream":"stdout",{T}}}"#),
            r#"{"log":"x\n","stream":"stdout"}"#.to_owned(),
            format!(r#"{{"log":"x\n",{T}}}"#),
            format!(r#"{{"log":"x\n","log":"y\n","stream":"stdout",{T}}}"#),
            format!(r#"{{"log":"x\n","stream":"stdout",{T}}} "#),
            format!(r#" {{"log":"x\n","stream":"stdout",{T}}}"#),
            format!(r#"{{ "log" : "x\n" , "stream":"stdout",{T}}}"#),
            format!(r#"{{"log":"x\n","stream":"stdout",{T}}}}}"#),
            format!(r#"{{"log":"x\n","stream":"stdout",{T}"#),
            format!(r#"{{"log":"x\n","stream":"std\u006fut",{T}}}"#),
            format!(r#"{{"log":"x\n","stream":"stdoutx",{T}}}"#),
            format!(r#"{{"log":"x\n","stream":"stdin",{T}}}"#),
            r#"{"log":"x\n","stream":"stdout","time":"2026-11-30T17:00:00\u002e5Z"}"#.to_owned(),
            r#"{"log":"x\n","stream":"stdout","time":"2026-11-30t17:00:00z"}"#.to_owned(),
            r#"{"log":"x\n","stream":"stdout","time":"2026-02-30T17:00:00Z"}"#.to_owned(),
            r#"{"log":null,"stream":"stdout","time":"2026-11-30T17:00:00Z"}"#.to_owned(),
        ] {
            agrees(line.as_bytes()).unwrap();
        }
        let mut invalid_utf8 = exact("x").into_bytes();
        invalid_utf8[9] = 0xff;
        assert!(by_fast(&invalid_utf8).is_none() && by_parse(&invalid_utf8).is_none());
    }

    /// A line at the reader's cap (256 KiB), escapes throughout: both parsers read it alike.
    #[test]
    fn a_line_at_the_cap() {
        let unit = r#"ab\"c\\d\u00e9\ud83d\ude00\n"#;
        let mut log = unit.repeat((super::super::MAX_RAW_LINE_BYTES - 80) / unit.len());
        log.truncate(log.len() - unit.len());
        let line = format!(r#"{{"log":"{log}x","stream":"stderr","time":"2026-11-30T17:00:00Z"}}"#);
        assert!(line.len() <= super::super::MAX_RAW_LINE_BYTES);
        let got = by_fast(line.as_bytes()).expect("the fast parser takes it");
        assert_eq!(Some(&got), by_serde(line.as_bytes()).as_ref());
        assert!(got.2.ends_with(b"\n\x78"));
    }

    /// One fragment of a `log` string as an encoder might write it, or a broken one.
    fn arb_fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<char>().prop_filter("raw", |c| *c != '"' && *c != '\\' && *c >= ' ').prop_map(String::from),
            4 => "[ -~]{1,12}".prop_filter("raw", |s| !s.contains(['"', '\\'])),
            2 => prop::sample::select(vec![r#"\""#, r"\\", r"\/", r"\b", r"\f", r"\n", r"\r", r"\t"]).prop_map(String::from),
            2 => (any::<u16>(), any::<bool>()).prop_map(|(u, upper)| if upper { format!(r"\u{u:04X}") } else { format!(r"\u{u:04x}") }),
            1 => (0xD800u16..0xDC00, 0xDC00u16..0xE000).prop_map(|(h, l)| format!(r"\u{h:04x}\u{l:04X}")),
            1 => prop::sample::select(vec![r"\", r"\x", r"\u", r"\u12", r"\uzzzz", "\"", "\u{1}", "\n", "\u{7f}"]).prop_map(String::from),
        ]
    }

    fn arb_line() -> impl Strategy<Value = Vec<u8>> {
        let log = prop::collection::vec(arb_fragment(), 0..24).prop_map(|f| f.concat());
        let stream = prop::sample::select(vec!["stdout", "stderr", "stdin", "", "stdou"]);
        let time = super::time::arb_time().prop_map(|t| String::from_utf8_lossy(&t).into_owned());
        let shape = prop::sample::select(vec![0u8, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
        let line = (log, stream, time, shape)
            .prop_map(|(log, stream, time, shape)| {
                let (l, s, t) =
                    (format!(r#""log":"{log}""#), format!(r#""stream":"{stream}""#), format!(r#""time":"{time}""#));
                match shape {
                    0 => format!("{{{l},{s},{t}}}"),
                    1 => format!("{{{t},{l},{s}}}"),
                    2 => format!(r#"{{{l},{s},{t},"attrs":{{"k":"v"}}}}"#),
                    3 => format!("{{{l},{t}}}"),
                    4 => format!("{{ {l}, {s}, {t} }}\t"),
                    5 => format!("{{{l},{l},{s},{t}}}"),
                    _ => format!("{{{l},{s},{t}"),
                }
                .into_bytes()
            })
            .boxed();
        let mutated = (line.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut l, at, b)| {
            if !l.is_empty() {
                let i = at.index(l.len());
                l[i] = b;
            }
            l
        });
        prop_oneof![4 => line, 2 => mutated, 1 => prop::collection::vec(any::<u8>(), 0..80)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8192))]

        #[test]
        fn fast_agrees_with_serde(line in arb_line()) {
            agrees(&line)?;
        }

        /// Whatever text dockerd-shaped encoding produces, the fast parser takes the line and
        /// gets the text back.
        #[test]
        fn fast_takes_every_encoded_text(text in any::<String>(), stderr in any::<bool>()) {
            let stream = if stderr { "stderr" } else { "stdout" };
            let line = format!(
                r#"{{"log":{},"stream":"{stream}","time":"2026-11-30T17:00:00.000000042Z"}}"#,
                serde_json::to_string(&text).unwrap()
            );
            prop_assert_eq!(by_fast(line.as_bytes()).map(|p| p.2), Some(text.into_bytes()));
            agrees(line.as_bytes())?;
        }
    }
}
