//! The container path of an archive call ([`put_archive`/`get_archive`]-style engine operations):
//! checked once, the same way for every engine, before it reaches a daemon or a `tar` in the
//! container.
//!
//! [`put_archive`/`get_archive`]: crate::ContainerEngine

use std::path::{Component, Path};

use crate::error::{Error, Result};

/// `path` checked and normalized: absolute, no NUL byte, no `..` (a daemon and a `tar` in the
/// container would resolve it differently, and through a symlink), trailing slashes removed (`/`
/// stays `/`).
pub fn archive_path(path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(Error::invalid_argument(format!("container path {path:?} is not absolute")));
    }
    if path.contains('\0') {
        return Err(Error::invalid_argument("container path contains a NUL byte"));
    }
    if Path::new(path).components().any(|c| c == Component::ParentDir) {
        return Err(Error::invalid_argument(format!("container path {path:?} contains `..`")));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn paths_are_checked_and_normalized() {
        assert_eq!(archive_path("/a/b/").unwrap(), "/a/b");
        assert_eq!(archive_path("/").unwrap(), "/");
        assert_eq!(archive_path("//").unwrap(), "/");
        for bad in ["a/b", "", "/a/../b", "/a/\0"] {
            assert_eq!(archive_path(bad).unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad:?}");
        }
    }
}
