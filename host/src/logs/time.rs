//! RFC 3339 times of log lines. Every line carries one, so the layout engines write
//! (`2026-11-30T17:00:00.123456789Z`, CRI-O's `+02:00` offsets) is read by a fixed-layout parser;
//! anything else (lowercase `t`/`z`, a space separator, leap seconds, more than nine fraction
//! digits, bad input) goes to chrono's parser, which decides and explains. The fast parser only
//! accepts what chrono accepts, with the same result (a property test compares the two).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::ParseError;
use super::json_file::truncate;

/// The two ASCII digits at `s[i..i + 2]` as a number.
fn two(s: &[u8], i: usize) -> Option<u32> {
    let (a, b) = (s.get(i)?.wrapping_sub(b'0'), s.get(i + 1)?.wrapping_sub(b'0'));
    (a < 10 && b < 10).then_some(u32::from(a) * 10 + u32::from(b))
}

/// The common layouts only; `None` for anything else (valid or not).
pub(super) fn fast(s: &[u8]) -> Option<DateTime<Utc>> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let year = two(s, 0)? * 100 + two(s, 2)?;
    let (month, day) = (two(s, 5)?, two(s, 8)?);
    let (hour, minute, second) = (two(s, 11)?, two(s, 14)?, two(s, 17)?);
    let mut rest = &s[19..];
    let mut nanos = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let mut n = 0;
        while let Some(d) = frac.get(n).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
            if n == 9 {
                return None; // more than nanoseconds: chrono's to read
            }
            nanos = nanos * 10 + u32::from(d);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (two(&[*h1, *h2], 0)?, two(&[*m1, *m2], 0)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    // Second 60 (a leap second) is chrono's to interpret.
    if second > 59 {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    if offset_secs == 0 {
        return Some(local.and_utc());
    }
    Some(local.checked_sub_signed(TimeDelta::seconds(offset_secs))?.and_utc())
}

/// Parses a log line's time (any RFC 3339 time chrono reads) as UTC.
pub(super) fn parse(s: &[u8]) -> Result<DateTime<Utc>, ParseError> {
    if let Some(t) = fast(s) {
        return Ok(t);
    }
    let s = std::str::from_utf8(s).map_err(|_| ParseError::new("time is not UTF-8".to_owned()))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ParseError::new(format!("bad time {:?}: {e}", truncate(s))))
}

/// Times in the layouts engines write, some of them off by one character (for property tests).
#[cfg(test)]
pub(super) fn arb_time() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let well_formed = (
        0u32..10000,
        0u32..14,
        0u32..33,
        0u32..25,
        0u32..61,
        0u32..62,
        prop::option::of("[0-9]{0,11}"),
        prop_oneof![Just("Z".to_owned()), "[+-][0-9]{2}:[0-9]{2}", "[zZ+-][0-9:]{0,6}"],
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, off)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}").into_bytes()
        });
    let mutated = (well_formed.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut t, at, b)| {
        let i = at.index(t.len());
        t[i] = b;
        t
    });
    prop_oneof![well_formed, mutated, prop::collection::vec(any::<u8>(), 0..40)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono_parse(s: &[u8]) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(std::str::from_utf8(s).ok()?).ok().map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn table() {
        for (s, fast_path) in [
            ("2026-11-30T17:00:00.123456789Z", true),
            ("2026-11-30T17:00:00Z", true),
            ("2026-11-30T17:00:00.5Z", true),
            ("2026-11-30T19:00:00.5+02:00", true),
            ("2026-11-30T15:30:00.000000001-01:30", true),
            ("0000-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59.999999999-23:59", true),
            ("2024-02-29T00:00:00Z", true),
            // Valid, but chrono's to read.
            ("2026-11-30t17:00:00Z", false),
            ("2026-11-30 17:00:00z", false),
            ("2016-12-31T23:59:60Z", false),
            ("2026-11-30T17:00:00.1234567891Z", false),
        ] {
            let want = chrono_parse(s.as_bytes()).unwrap_or_else(|| panic!("chrono rejects {s}"));
            assert_eq!(fast(s.as_bytes()).is_some(), fast_path, "{s}");
            assert_eq!(parse(s.as_bytes()).unwrap(), want, "{s}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-11-30T17:00:00",
            "2026-11-30T17:00:00.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-30T24:00:00Z",
            "2026-11-30T17:60:00Z",
            "2026-11-30T17:00:61Z",
            "2026-11-30T17:00:00+24:00",
            "2026-11-30T17:00:00+02:60",
            "2026-11-30T17:00:00+0200",
            "2026-11-30T17:00:00Zjunk",
            "+026-11-30T17:00:00Z",
            "2026-11-30T17:00:00.12a4Z",
            "2026-11-30T17:00:00.123456789\u{e9}",
        ] {
            assert!(fast(bad.as_bytes()).is_none(), "{bad}");
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse(b"2026-11-30T17:00:00\xffZ").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// The fast parser accepts only what chrono accepts, with the same instant.
        #[test]
        fn fast_agrees_with_chrono(s in arb_time()) {
            let want = chrono_parse(&s);
            if let Some(got) = fast(&s) {
                prop_assert_eq!(Some(got), want);
            }
            prop_assert_eq!(parse(&s).ok(), want);
        }
    }
}
