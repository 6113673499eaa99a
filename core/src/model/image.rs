use serde::Serialize;

/// One image the engine holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Strips `docker.io/library/` and `docker.io/` so `busybox:local` compares equal on every engine.
pub fn normalize_image_ref(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    r.strip_prefix("library/").unwrap_or(r).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_refs_normalize() {
        assert_eq!(super::normalize_image_ref("docker.io/library/busybox:local"), "busybox:local");
        assert_eq!(super::normalize_image_ref("docker.io/foo/bar:1"), "foo/bar:1");
        assert_eq!(super::normalize_image_ref("localhost/pause:local"), "localhost/pause:local");
    }
}
