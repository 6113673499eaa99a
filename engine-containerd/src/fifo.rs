//! The FIFOs an exec's stdio goes through. containerd's shim opens them by path, so they live in
//! a directory the shim can see (the configured FIFO dir, a host path). The shim has opened every
//! end once `Tasks.Start` returned, so the directory is removed right then: no FIFO outlives the
//! start of its exec, whatever happens to the process later.

use std::path::{Path, PathBuf};

use anyctr_core::{Error, Result};
use nix::sys::stat::Mode;
use tokio::net::unix::pipe;

/// One exec's FIFO directory, removed when dropped.
#[derive(Debug)]
pub struct FifoDir {
    /// The directory as containerd's shim sees it (a host path).
    host_dir: PathBuf,
    /// The same directory as this process opens it (host-root prefix applied).
    local_dir: PathBuf,
    stdin: bool,
}

impl FifoDir {
    /// Creates `<root>/<exec_id>/{stdin,stdout,stderr}` (stdin only when asked). `local_root` is
    /// `host_root` as this process sees it.
    pub fn create(host_root: &Path, local_root: &Path, exec_id: &str, stdin: bool) -> Result<Self> {
        let local_dir = local_root.join(exec_id);
        std::fs::create_dir_all(local_root).map_err(|e| fifo_error(e, local_root, "create the FIFO dir"))?;
        std::fs::create_dir(&local_dir).map_err(|e| fifo_error(e, &local_dir, "create the exec's FIFO dir"))?;
        let dir = FifoDir { host_dir: host_root.join(exec_id), local_dir, stdin };
        let names: &[&str] = if stdin { &["stdin", "stdout", "stderr"] } else { &["stdout", "stderr"] };
        for name in names {
            let path = dir.local_dir.join(name);
            nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
                .map_err(|e| fifo_error(std::io::Error::from(e), &path, "mkfifo"))?;
        }
        Ok(dir)
    }

    /// The path containerd gets for `name` (`stdin`, `stdout`, `stderr`); empty for a stdin that
    /// was not asked for.
    pub fn host_path(&self, name: &str) -> String {
        if name == "stdin" && !self.stdin {
            return String::new();
        }
        self.host_dir.join(name).to_string_lossy().into_owned()
    }

    /// Opens the read end of `stdout`/`stderr` without blocking: it succeeds before the shim
    /// opened the write end, and epoll reports nothing until it did (no premature EOF).
    pub fn open_reader(&self, name: &str) -> Result<pipe::Receiver> {
        let path = self.local_dir.join(name);
        pipe::OpenOptions::new().open_receiver(&path).map_err(|e| fifo_error(e, &path, "open the FIFO for reading"))
    }

    /// Opens the write end of `stdin`; the shim must already hold the read end (after Start).
    pub fn open_writer(&self) -> Result<pipe::Sender> {
        let path = self.local_dir.join("stdin");
        pipe::OpenOptions::new().open_sender(&path).map_err(|e| fifo_error(e, &path, "open the stdin FIFO for writing"))
    }

    /// The directory as this process sees it.
    #[cfg(test)]
    pub fn local_dir(&self) -> &Path {
        &self.local_dir
    }
}

impl Drop for FifoDir {
    fn drop(&mut self) {
        // Unlinking does not disturb ends that are already open.
        let _ = std::fs::remove_dir_all(&self.local_dir);
    }
}

fn fifo_error(err: std::io::Error, path: &Path, what: &str) -> Error {
    let message = format!("cannot {what} at {}: {err}", path.display());
    let kind = Error::from(err).kind();
    Error::new(kind, message).with_operation("exec")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fifos_are_created_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let fifo_root = root.path().join("fifo");
        let dir = FifoDir::create(Path::new("/host/fifo"), &fifo_root, "exec-1", true).unwrap();
        assert_eq!(dir.host_path("stdout"), "/host/fifo/exec-1/stdout");
        assert_eq!(dir.host_path("stdin"), "/host/fifo/exec-1/stdin");
        use std::os::unix::fs::FileTypeExt;
        for name in ["stdin", "stdout", "stderr"] {
            assert!(std::fs::metadata(dir.local_dir().join(name)).unwrap().file_type().is_fifo());
        }
        // a reader opens before any writer exists
        let _r = dir.open_reader("stdout").unwrap();
        // a writer needs a reader: stdin has none yet
        assert!(dir.open_writer().is_err());
        let local = dir.local_dir().to_path_buf();
        drop(dir);
        assert!(!local.exists());

        let no_stdin = FifoDir::create(Path::new("/h"), &fifo_root, "exec-2", false).unwrap();
        assert_eq!(no_stdin.host_path("stdin"), "");
        assert!(!no_stdin.local_dir().join("stdin").exists());
        // the same exec id twice is refused
        assert!(FifoDir::create(Path::new("/h"), &fifo_root, "exec-2", false).is_err());
    }
}
