//! Packing a local tree into a tar stream for the container, with a manifest of every regular
//! file's size and sha256 for verification afterwards.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::paths::Sink;
use super::verify::{Manifest, ManifestEntry};
use crate::tar_safety::{WriteStats, io_err};
use anyctr_core::error::{Error, Result};

/// A [`Sink`] that appends to a tar archive and records a manifest.
pub(crate) struct TarSink<W: Write> {
    builder: tar::Builder<W>,
    pub manifest: Manifest,
    pub stats: WriteStats,
}

impl<W: Write> TarSink<W> {
    pub fn new(out: W) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        TarSink { builder, manifest: Manifest::default(), stats: WriteStats::default() }
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub fn finish(self) -> Result<(W, Manifest, WriteStats)> {
        let out = self.builder.into_inner().map_err(|e| io_err(e, Path::new("tar")))?;
        Ok((out, self.manifest, self.stats))
    }

    fn header(meta: &fs::Metadata, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        h.set_entry_type(kind);
        h.set_size(size);
        h
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<()> {
        let mut h = Self::header(meta, tar::EntryType::Directory, 0);
        self.stats.dirs += 1;
        self.builder.append_data(&mut h, rel, std::io::empty()).map_err(|e| io_err(e, rel))
    }

    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut fs::File) -> Result<()> {
        // The header is written before the data: the size must be what is sent, even if the
        // file grows meanwhile; a file that shrank fails the copy.
        let size = meta.len();
        let mut h = Self::header(meta, tar::EntryType::Regular, size);
        let mut hashing = HashingReader::new(data.take(size));
        self.builder.append_data(&mut h, rel, &mut hashing).map_err(|e| io_err(e, rel))?;
        if hashing.count != size {
            return Err(Error::unexpected(format!(
                "{} shrank while it was copied ({} of {size} bytes)",
                rel.display(),
                hashing.count
            )));
        }
        self.stats.files += 1;
        self.stats.bytes += size;
        self.manifest.entries.push(ManifestEntry {
            rel: PathBuf::from(rel),
            size,
            sha256: hashing.hash.finalize().into(),
        });
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, meta: &fs::Metadata, target: &Path) -> Result<()> {
        let mut h = Self::header(meta, tar::EntryType::Symlink, 0);
        self.stats.links += 1;
        self.builder.append_link(&mut h, rel, target).map_err(|e| io_err(e, rel))
    }

    /// The local source's FIFOs, sockets and devices are left out and counted.
    fn special(&mut self, _rel: &Path, _what: &str) -> Result<()> {
        self.stats.skipped += 1;
        Ok(())
    }
}

/// A reader that hashes (SHA-256) and counts what passes through it.
pub(super) struct HashingReader<R> {
    inner: R,
    pub(super) hash: Sha256,
    pub(super) count: u64,
}

impl<R> HashingReader<R> {
    pub(super) fn new(inner: R) -> Self {
        HashingReader { inner, hash: Sha256::new(), count: 0 }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(&out[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Packs the local tree `src` as `top` into `out`; on failure the error goes down the stream, so
/// the receiver never mistakes a cut-off archive for a whole one.
pub(crate) fn pack_into_channel(
    src: &Path,
    top: &str,
    out: super::bridge::ChannelWriter,
) -> Result<(Manifest, WriteStats)> {
    let failer = out.failer();
    let packed = (|| -> Result<(Manifest, WriteStats)> {
        let mut sink = TarSink::new(out);
        super::paths::walk_local(src, Path::new(top), true, &mut sink)?;
        let (mut out, manifest, stats) = sink.finish()?;
        out.flush().map_err(|e| io_err(e, src))?;
        Ok((manifest, stats))
    })();
    if let Err(e) = &packed {
        failer.fail(Error::new(e.kind(), e.message().to_owned()));
    }
    packed
}
