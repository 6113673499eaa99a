use serde::Serialize;

/// One image the engine holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImageSummary {
    /// The image id (content digest).
    pub id: String,
    /// `name:tag` references, normalized without a `docker.io/library/` prefix where the engine
    /// adds one.
    pub tags: Vec<String>,
    /// Its size in bytes, when the engine says.
    pub size: Option<u64>,
    /// The containerd namespace (containerd engines only).
    pub namespace: Option<String>,
}

impl ImageSummary {
    /// An image with its tags, without size or namespace; set those public fields when the engine
    /// reports them.
    pub fn new(id: impl Into<String>, tags: Vec<String>) -> Self {
        ImageSummary { id: id.into(), tags, size: None, namespace: None }
    }
}

/// Strips `docker.io/library/` and `docker.io/` so `busybox:local` compares equal on every engine.
pub fn normalize_image_ref(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    r.strip_prefix("library/").unwrap_or(r).to_owned()
}

/// Checks an image reference before it reaches a daemon (and a URL path): registry, name, tag
/// and digest use `[A-Za-z0-9._:/@-]` only, and a reference is at most 512 bytes.
pub fn check_image_ref(reference: &str) -> crate::Result<()> {
    let ok = !reference.is_empty()
        && reference.len() <= 512
        && !reference.starts_with(['/', '-', ':', '@', '.'])
        && !reference.contains("..")
        && reference.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/' | b'@'));
    if ok { Ok(()) } else { Err(crate::Error::invalid_argument(format!("{reference:?} is not an image reference"))) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_refs_are_checked() {
        for good in ["busybox:local", "127.0.0.1:5000/anyctr/busybox:local", "x@sha256:0123abcd", "sha256:0123"] {
            super::check_image_ref(good).unwrap();
        }
        for bad in ["", "a b", "../x", "/x", "-x", "x?y=1", "x#y", "a/../b"] {
            assert!(super::check_image_ref(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn image_refs_normalize() {
        assert_eq!(super::normalize_image_ref("docker.io/library/busybox:local"), "busybox:local");
        assert_eq!(super::normalize_image_ref("docker.io/foo/bar:1"), "foo/bar:1");
        assert_eq!(super::normalize_image_ref("localhost/pause:local"), "localhost/pause:local");
    }
}
