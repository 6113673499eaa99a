//! What a [`TreeWriter`](super::TreeWriter) lets through, and what it reports.

use serde::Serialize;

/// How a writer treats symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPolicy {
    /// Untrusted input into a local directory: a link must stay inside the root (relative, only
    /// leading `..`, never above the root), and an entry below an existing link is refused. Both
    /// refusals are `InvalidArgument`. Special files are refused and special mode bits dropped
    /// (see [`WriteRules`]).
    Confined,
    /// A trusted source into a container's tree seen from the host: link text is kept verbatim
    /// (the container resolves it in its own namespace), and an existing link on the way is
    /// `Unsupported` (only the container can resolve it; a caller falls back to the engine).
    Verbatim,
}

/// What a [`LinkPolicy::Confined`] writer lets through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteRules {
    /// Keep setuid, setgid and sticky bits (off: a container must not plant a setuid binary).
    pub keep_special_bits: bool,
    /// The most bytes one file may hold; more is an error and the file is not kept. `None`: no
    /// cap beyond the source's own (a tar entry's size; for a file read from a container, its
    /// size when it was opened).
    pub max_file_bytes: Option<u64>,
}

/// What a writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WriteStats {
    /// Regular files written.
    pub files: u64,
    /// Directories written.
    pub dirs: u64,
    /// Symbolic and hard links written.
    pub links: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// Entries left out (devices, fifos, sockets from a trusted local source).
    pub skipped: u64,
}
