//! Percent-encoding for request URLs, by the `percent-encoding` crate.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// As [`COMPONENT`], but `/` stays: a path given as a query value (`?path=/etc/x`) reads as sent.
const PATH_VALUE: &AsciiSet = &COMPONENT.remove(b'/');

/// One path segment or query value (a container name, an exec id, a JSON filter): every reserved
/// character, `/` included, is encoded.
pub fn component(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// A file path as a query value: as [`component`], keeping `/`.
pub fn path_value(value: &str) -> String {
    utf8_percent_encode(value, PATH_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(component(r#"{"label":["a=b"]}"#), "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
        assert_eq!(component("a/b c~d"), "a%2Fb%20c~d");
        assert_eq!(path_value("/a b/c&d"), "/a%20b/c%26d");
        assert_eq!(path_value("/é"), "/%C3%A9");
    }
}
