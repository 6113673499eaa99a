//! Moving bytes between the blocking tar code and async engine streams through bounded channels,
//! so an archive is streamed, never held in memory whole.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::tar_safety::{LinkPolicy, TreeWriter, UnpackOptions, WriteRules, unpack_into};
use anyctr_core::engine::ByteStream;
use anyctr_core::error::{Error, Result};

/// Chunks in flight between the two sides.
const CHANNEL_DEPTH: usize = 16;
/// Size of the chunks a [`ChannelWriter`] sends.
const CHUNK: usize = 64 << 10;

/// A blocking writer whose bytes come out of [`ChannelWriter::stream`] on the async side.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    /// The writer (for a blocking thread) and the stream (for the engine).
    pub fn pair() -> (ChannelWriter, mpsc::Receiver<Result<Bytes>>) {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        (ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }, rx)
    }

    /// A handle that can end the stream with an error after the writer was given away.
    pub fn failer(&self) -> Failer {
        Failer(self.tx.clone())
    }

    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the receiving side of the copy went away")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

/// Ends a [`ChannelWriter`]'s stream with an error.
pub(crate) struct Failer(mpsc::Sender<Result<Bytes>>);

impl Failer {
    pub fn fail(self, err: Error) {
        let _ = self.0.blocking_send(Err(err));
    }
}

/// The receiving end as an engine [`ByteStream`].
pub(crate) fn into_stream(rx: mpsc::Receiver<Result<Bytes>>) -> ByteStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// Where a [`ChannelReader`] keeps the stream's own error.
pub(crate) type ErrorSlot = Arc<Mutex<Option<Error>>>;

/// A blocking reader fed from the async side with [`ChannelReader::pair`]'s sender. An error sent
/// down the channel is kept for the caller ([`ChannelReader::take_error`]) and reads fail.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes>>,
    current: Bytes,
    error: ErrorSlot,
}

impl ChannelReader {
    pub fn pair() -> (mpsc::Sender<Result<Bytes>>, ChannelReader, ErrorSlot) {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let error = Arc::new(Mutex::new(None));
        (tx, ChannelReader { rx, current: Bytes::new(), error: error.clone() }, error)
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => {
                    let message = e.to_string();
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return Err(std::io::Error::other(message));
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The stream's own error when it failed, else `fallback`.
pub(crate) fn stream_error_or(slot: &Mutex<Option<Error>>, fallback: Error) -> Error {
    slot.lock().ok().and_then(|mut s| s.take()).unwrap_or(fallback)
}

/// A tar stream being unpacked on a blocking thread into a local directory, fed chunk by chunk
/// from the async side. The unpacked tree is handed back unfinished ([`TreeWriter`]): the caller
/// verifies, then finishes it, or drops it to remove everything.
pub(crate) struct StreamUnpacker {
    tx: Option<mpsc::Sender<Result<Bytes>>>,
    task: tokio::task::JoinHandle<Result<TreeWriter>>,
    error: ErrorSlot,
}

impl StreamUnpacker {
    /// Starts unpacking into `parent`, the archive's single top-level entry renamed to `top`,
    /// under the copy's `rules`.
    pub fn start(parent: PathBuf, top: OsString, rules: WriteRules) -> Self {
        let (tx, reader, error) = ChannelReader::pair();
        let task = tokio::task::spawn_blocking(move || {
            let mut writer = TreeWriter::new(&parent, LinkPolicy::Confined)?.with_rules(rules);
            unpack_into(reader, &mut writer, &UnpackOptions { rename_top: Some(top) })?;
            let s = writer.stats();
            if s.files + s.dirs + s.links + s.skipped == 0 {
                return Err(Error::unexpected("the archive from the container was empty"));
            }
            Ok(writer)
        });
        StreamUnpacker { tx: Some(tx), task, error }
    }

    /// Feeds a chunk. Returns `false` once the unpacker stopped reading (done, or failed); the
    /// caller then drops the rest.
    pub async fn push(&mut self, chunk: Result<Bytes>) -> bool {
        match &self.tx {
            Some(tx) => {
                let ok = tx.send(chunk).await.is_ok();
                if !ok {
                    self.tx = None;
                }
                ok
            }
            None => false,
        }
    }

    /// Ends the stream and waits for the unpacked tree.
    pub async fn finish(mut self) -> Result<TreeWriter> {
        self.tx = None;
        let outcome = self.task.await.map_err(|e| Error::unexpected(format!("the unpack thread failed: {e}")))?;
        outcome.map_err(|e| stream_error_or(&self.error, e))
    }
}
