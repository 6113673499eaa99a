//! Reading one log file: tail N from the end without reading the whole file, since/until, and
//! follow through rotation. The file is opened by descriptor beneath its (engine-owned) directory:
//! a symlink or special file in its place is refused. The reading runs on its own thread and
//! hands records over a bounded channel, so a slow consumer slows the reader, never loses lines.
//! Records cross the channel in batches: a hand-off (and a wake of the consumer) per record cost
//! more than parsing the line.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::task::Poll;
use std::time::Duration;

use anyctr_core::model::{LogOptions, LogRecord};
use anyctr_core::{Error, ErrorKind, Result};
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

use super::log_file::{Found, LogFile, Successor, dev_ino};
use super::replacements::{Count, Replacements};
use super::{Decoder, FileFormat, MAX_RAW_LINE_BYTES};
use crate::hostfs::Dir;

/// How a log file is read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileLogOptions {
    pub options: LogOptions,
    /// How often a followed file is checked for new lines and rotation.
    pub poll: Duration,
}

impl FileLogOptions {
    pub fn new(options: LogOptions) -> Self {
        FileLogOptions { options, poll: Duration::from_millis(20) }
    }
}

/// A batch is sent once it holds this many records or bytes of text, and whenever the reader
/// reaches the end of the file (so a quiet log's lines are not held back).
const BATCH_RECORDS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Batches the channel holds. A batch is under [`BATCH_BYTES`] plus one record
/// ([`super::MAX_RECORD_BYTES`]), so what a slow consumer leaves queued — these, the batch being
/// filled and the one being drained — stays under ~20 MiB of text.
const BATCHES: usize = 8;
/// Polls the follower waits for a replaced file's writer to stop before moving to the new file.
const MAX_LOOKS_AFTER_REPLACED: u32 = 50;

fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("{what} log file {}: {e}", path.display()))
}

/// Reads the log file at `path` (a host path) in `format`. Fails at once if the file cannot be
/// opened; afterwards a bad line is an error item and the stream goes on.
pub fn read_log_file(
    path: &Path,
    format: FileFormat,
    options: FileLogOptions,
) -> Result<BoxStream<'static, Result<LogRecord>>> {
    options.options.validate()?;
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) if path.is_absolute() => (p, n.to_owned()),
        _ => return Err(Error::invalid_argument(format!("log path {} is not an absolute file path", path.display()))),
    };
    let dir = Dir::open(parent).map_err(|e| io_error("opening the directory of", path, e))?;
    // A follower counts replacements of the file from before it is opened (see `replacements`).
    // Only CRI logs are rotated without numbered copies (kubelet's timestamped renames, conmon's
    // replacement); json-file rotation numbers the old files, found by inode, and a watch on its
    // busy directories would only fill the shared event queue.
    let mut replacements = match (options.options.follow, format) {
        (false, _) => None,
        (true, FileFormat::Cri) => Some(Replacements::watch(&dir, &name).map_err(|e| e.to_string())),
        (true, FileFormat::JsonFile) => Some(Err("json-file logs are expected to rotate by numbering".into())),
    };
    let (file, stat) = dir.open_file(&name).map_err(|e| io_error("opening", path, e))?;
    if let Some(Ok(watch)) = &mut replacements {
        // What was counted so far made the file we opened (or one before it): forgotten. Should
        // the name have been given another file meanwhile, its count is forgotten with it, so the
        // first replacement is then not trusted to be the only one.
        let _ = watch.take();
        let settled = dir.lookup(&name).ok().flatten().is_some_and(|e| dev_ino(e.stat()) == dev_ino(&stat));
        if !settled {
            replacements = Some(Err("the log was replaced while it was being opened".into()));
        }
    }
    let log = LogFile {
        dir,
        name,
        file,
        ino: dev_ino(&stat),
        read_pos: 0,
        buf: Vec::new(),
        skipping: false,
        size_at_open: stat.st_size as u64,
    };
    let (tx, mut rx) = mpsc::channel::<Vec<Result<LogRecord>>>(BATCHES);
    let shown = path.display().to_string();
    let sink = Sink { tx, batch: Vec::new(), bytes: 0 };
    std::thread::Builder::new()
        .name("anyctr-logs".into())
        .spawn(move || {
            Reader {
                log,
                decoder: Decoder::new(format),
                format,
                options,
                sink,
                path: shown,
                replacements,
                pending: Count::Exact(0),
                looks_since_replaced: 0,
            }
            .run()
        })
        .map_err(|e| Error::new(ErrorKind::Unexpected, format!("starting the log reader: {e}")))?;
    let mut batch = Vec::new().into_iter();
    Ok(Box::pin(futures_util::stream::poll_fn(move |cx| {
        loop {
            if let Some(r) = batch.next() {
                return Poll::Ready(Some(r));
            }
            match std::task::ready!(rx.poll_recv(cx)) {
                Some(b) => batch = b.into_iter(),
                None => return Poll::Ready(None),
            }
        }
    })))
}

/// The reader's end of the channel: collects records into batches.
struct Sink {
    tx: mpsc::Sender<Vec<Result<LogRecord>>>,
    batch: Vec<Result<LogRecord>>,
    bytes: usize,
}

impl Sink {
    /// Adds an item; false once the consumer left.
    fn push(&mut self, r: Result<LogRecord>) -> bool {
        self.bytes += r.as_ref().map_or(0, |r| r.bytes.len());
        self.batch.push(r);
        if self.batch.len() >= BATCH_RECORDS || self.bytes >= BATCH_BYTES { self.flush() } else { true }
    }

    /// Sends what is collected (waiting while the channel is full); false once the consumer left.
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return !self.tx.is_closed();
        }
        self.bytes = 0;
        let next = Vec::with_capacity(self.batch.len());
        self.tx.blocking_send(std::mem::replace(&mut self.batch, next)).is_ok()
    }
}

/// What one line (or the end of the log) gave.
enum Step {
    /// Nothing to hand on: a piece of a longer line, or a record outside since.
    Nothing,
    /// A record or an error item.
    Item(Result<LogRecord>),
    /// A record at or past `until`: reading ends.
    Until,
}

struct Reader {
    log: LogFile,
    decoder: Decoder,
    format: FileFormat,
    options: FileLogOptions,
    sink: Sink,
    path: String,
    /// Following: the count of the log's replacements, or why it cannot be kept.
    replacements: Option<std::result::Result<Replacements, String>>,
    /// Replacements counted while the name did not hold still, not yet accounted for.
    pending: Count,
    /// Looks at the old file since its name was seen to name a new one (see [`Reader::follow`]).
    looks_since_replaced: u32,
}

impl Reader {
    fn bad_line(&self, offset: u64, why: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::Unexpected, format!("log file {} at byte {offset}: {why}", self.path))
    }

    fn run(mut self) {
        if let Err(e) = self.read_all() {
            self.sink.push(Err(e));
        }
        self.sink.flush();
    }

    /// Decodes one found line: the record it completes (if it passes since/until) or an error.
    fn decode(&mut self, found: Found<'_>) -> Step {
        match found {
            Found::Overlong(at) => {
                Step::Item(Err(self.bad_line(at, format!("a line over {MAX_RAW_LINE_BYTES} bytes, skipped"))))
            }
            Found::Line(line, at) => match self.decoder.line(line) {
                Ok(Some(r)) => self.admit(r),
                Ok(None) => Step::Nothing,
                Err(e) => Step::Item(Err(self.bad_line(at, e))),
            },
        }
    }

    fn admit(&self, r: LogRecord) -> Step {
        let o = &self.options.options;
        if o.until.is_some_and(|u| r.time >= u) {
            return Step::Until;
        }
        if o.admits(&r.time) { Step::Item(Ok(r)) } else { Step::Nothing }
    }

    fn read_all(&mut self) -> Result<()> {
        let io = |e: io::Error| Error::new(ErrorKind::Unexpected, format!("reading log file: {e}"));
        let tail = self.options.options.tail;
        if let Some(n) = tail {
            self.log.read_pos = self.log.tail_start(n, self.format).map_err(io)?;
        }
        // The lines present at the call: with tail, only the last n records are kept (held back
        // until the last of them is read). Lines written since (the file grows while we read) are
        // all new and all pass; without tail every line goes on as it is read.
        let at_open = self.log.size_at_open;
        let mut kept: VecDeque<Result<LogRecord>> = VecDeque::new();
        let mut kept_ok = 0;
        let mut holding = tail.is_some();
        let mut within = true;
        let mut gone = false;
        {
            // Routes one item; false once the consumer left.
            let mut take = |sink: &mut Sink, r: Result<LogRecord>, is_new: bool| -> bool {
                if holding && !is_new {
                    kept_ok += usize::from(r.is_ok());
                    kept.push_back(r);
                    while tail.is_some_and(|n| kept_ok > n) {
                        if kept.pop_front().is_some_and(|r| r.is_ok()) {
                            kept_ok -= 1;
                        }
                    }
                    return true;
                }
                if std::mem::take(&mut holding) {
                    for k in kept.drain(..) {
                        if !sink.push(k) {
                            return false;
                        }
                    }
                }
                sink.push(r)
            };
            let file = self.log.file.try_clone().map_err(io)?;
            let (mut pos, mut buf, mut skipping) =
                (self.log.read_pos, std::mem::take(&mut self.log.buf), self.log.skipping);
            let mut is_new = false;
            LogFile::read_from(&file, &mut pos, &mut buf, &mut skipping, &mut |f| {
                is_new = match f {
                    Found::Line(_, at) | Found::Overlong(at) => at >= at_open,
                };
                match self.decode(f) {
                    Step::Nothing => true,
                    Step::Until => {
                        within = false;
                        false
                    }
                    Step::Item(r) => {
                        gone = !take(&mut self.sink, r, is_new);
                        !gone
                    }
                }
            })
            .map_err(io)?;
            (self.log.read_pos, self.log.buf, self.log.skipping) = (pos, buf, skipping);
            if !self.options.options.follow && !gone {
                for r in self.decoder.finish() {
                    match self.admit(r) {
                        Step::Nothing => {}
                        Step::Until => break,
                        Step::Item(r) => {
                            if !take(&mut self.sink, r, is_new) {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
        if gone {
            return Ok(());
        }
        for r in kept {
            if !self.sink.push(r) {
                return Ok(());
            }
        }
        if !self.sink.flush() {
            return Ok(());
        }
        if self.options.options.follow && within {
            self.follow().map_err(io)?;
        }
        Ok(())
    }

    /// Sends what `file` holds from `pos` on; false once the consumer left or `until` passed.
    fn pump(&mut self, file: &File, pos: &mut u64, buf: &mut Vec<u8>, skipping: &mut bool) -> io::Result<bool> {
        let mut go = true;
        LogFile::read_from(file, pos, buf, skipping, &mut |f| {
            go = match self.decode(f) {
                Step::Nothing => true,
                Step::Until => false,
                Step::Item(r) => self.sink.push(r),
            };
            go
        })?;
        // The end of what was written so far: hand on what is collected before waiting.
        Ok(self.sink.flush() && go)
    }

    /// Hands on an error item and what is collected; false once the consumer left.
    fn report(&mut self, offset: u64, why: &str) -> bool {
        let e = self.bad_line(offset, why);
        self.sink.push(Err(e)) && self.sink.flush()
    }

    fn follow(&mut self) -> io::Result<()> {
        loop {
            let file = self.log.file.try_clone()?;
            let read_before = self.log.read_pos;
            let (mut pos, mut buf, mut skipping) =
                (self.log.read_pos, std::mem::take(&mut self.log.buf), self.log.skipping);
            let go = self.pump(&file, &mut pos, &mut buf, &mut skipping)?;
            (self.log.read_pos, self.log.buf, self.log.skipping) = (pos, buf, skipping);
            if !go {
                return Ok(());
            }
            let size = file.metadata()?.len();
            if size < self.log.read_pos {
                // Copy-truncate: what was written after our last read is in the copy.
                let consumed = self.log.read_pos - self.log.buf.len() as u64;
                if let Some(copy) = self.log.rotated_copy() {
                    let (mut p, mut b, mut s) = (consumed, Vec::new(), self.log.skipping);
                    if !self.pump(&copy, &mut p, &mut b, &mut s)? {
                        return Ok(());
                    }
                }
                self.log.read_pos = 0;
                self.log.buf.clear();
                self.log.skipping = false;
                continue;
            }
            if self.log.replaced()? {
                // The old file may still get its last lines after the new one appeared:
                // containerd's ReopenContainerLog (kubelet's rotation) creates the new file, then
                // closes the old writer, which writes what it holds. Move on once a look a poll
                // later found the old file grown no further (bounded: a writer that never stops
                // cannot hold the follower on the old file).
                let grew = self.log.read_pos != read_before;
                let looks = self.looks_since_replaced;
                if looks == 0 || (grew && looks < MAX_LOOKS_AFTER_REPLACED) {
                    self.looks_since_replaced += 1;
                    std::thread::sleep(self.options.poll);
                    continue;
                }
                // Rename-and-create: finish the old file (the writer is done with it), then go on
                // with the one written after it, one rotation at a time.
                let file = self.log.file.try_clone()?;
                let (mut pos, mut buf, mut skipping) =
                    (self.log.read_pos, std::mem::take(&mut self.log.buf), self.log.skipping);
                if !self.pump(&file, &mut pos, &mut buf, &mut skipping)? {
                    return Ok(());
                }
                (self.log.read_pos, self.log.skipping) = (pos, skipping);
                let (next, ino) = match self.log.successor()? {
                    Successor::Next(f, ino) => (f, ino),
                    Successor::Replacement(f, ino) => match self.skipped_replacements(ino)? {
                        Skipped::None => (f, ino),
                        Skipped::Unsettled => {
                            // The name is being replaced again: look once it holds still.
                            self.log.buf = buf;
                            std::thread::sleep(self.options.poll);
                            continue;
                        }
                        Skipped::Some(why) => {
                            if !self.report(0, &why) {
                                return Ok(());
                            }
                            (f, ino)
                        }
                    },
                    Successor::AfterLoss(f, ino) => {
                        let gap = "the log rotated past files that were deleted before they were read: lines are missing here";
                        if !self.report(0, gap) {
                            return Ok(());
                        }
                        (f, ino)
                    }
                    Successor::NotYet => {
                        self.log.buf = buf;
                        std::thread::sleep(self.options.poll);
                        continue;
                    }
                };
                if !buf.is_empty() && !self.report(pos, "the rotated file ends mid-line; its last bytes are dropped") {
                    return Ok(());
                }
                self.log.file = next;
                self.log.ino = ino;
                self.looks_since_replaced = 0;
                self.log.read_pos = 0;
                self.log.buf.clear();
                self.log.skipping = false;
                continue;
            }
            // The name is ours again (kubelet renames the log back when the reopen fails): the
            // next replacement gets its own look a poll later.
            self.looks_since_replaced = 0;
            std::thread::sleep(self.options.poll);
        }
    }

    /// Whether files came and went between ours and `next` (the file at the log's name) in a
    /// rotation that keeps no numbered copy. The count is only read while the name holds still:
    /// the replacements counted are then exactly those up to `next`.
    fn skipped_replacements(&mut self, next: (u64, u64)) -> io::Result<Skipped> {
        let count = match &mut self.replacements {
            Some(Ok(watch)) => watch.take()?,
            Some(Err(why)) => {
                let why = format!(
                    "the log was replaced and its replacements cannot be counted ({why}): lines may be missing here"
                );
                // Said once; later replacements are counted from here on if the watch is renewed.
                self.replacements = Some(Replacements::watch(&self.log.dir, &self.log.name).map_err(|e| e.to_string()));
                return Ok(Skipped::Some(why));
            }
            None => Count::Unknown,
        };
        if self.log.named_ino()? != Some(next) {
            // Replaced again since `next` was opened: its count is in what was just taken, so
            // the next look cannot tell how many it skipped. Keep it to be added then.
            self.pending = self.pending.saturating_add(count);
            return Ok(Skipped::Unsettled);
        }
        let total = std::mem::replace(&mut self.pending, Count::Exact(0)).saturating_add(count);
        Ok(match total {
            Count::Exact(0 | 1) => Skipped::None,
            Count::Exact(n) => Skipped::Some(format!(
                "the log was replaced {n} times before it was read again (a rotation that keeps no copy): the lines of {} files are missing here",
                n - 1
            )),
            Count::Unknown => Skipped::Some(
                "the log was replaced and its replacements could not all be counted (the event queue overflowed): lines may be missing here".into(),
            ),
        })
    }
}

/// What [`Reader::skipped_replacements`] found.
enum Skipped {
    None,
    Unsettled,
    Some(String),
}
