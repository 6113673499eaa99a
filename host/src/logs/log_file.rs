//! One open log file: reading complete lines from an offset (bounded), finding where the last N
//! records begin by scanning back from the end, and noticing rotation (the name now naming
//! another file, the rotated siblings `<name>.1` …).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::{FileFormat, MAX_RAW_LINE_BYTES};
use crate::hostfs::{Dir, Entry};

const CHUNK: usize = 64 << 10;
/// How many rotated siblings (`<name>.1` …) are looked through for the file being read.
const MAX_ROTATED: usize = 4096;
/// A scan that does not find the file being read is repeated this many times, this far apart,
/// before the file counts as deleted.
const SCAN_ATTEMPTS: usize = 8;
const SCAN_RETRY: std::time::Duration = std::time::Duration::from_millis(2);
/// Scans that found ours but raced a rotation before the reader waits a poll and looks again.
const MAX_RACES: usize = 64;

/// What follows the file being read once it was rotated away.
pub(super) enum Successor {
    /// The next file, to be read from its start.
    Next(File, (u64, u64)),
    /// Ours and possibly more were deleted before being read: lines are lost before this file.
    AfterLoss(File, (u64, u64)),
    /// The file now at the log's name, after a rotation that keeps no numbered copy: files may
    /// have come and gone between ours and it (the reader counts the replacements).
    Replacement(File, (u64, u64)),
    /// The rotation is in progress (the name is not there yet): look again later.
    NotYet,
}

struct RotatedScan {
    ours: Option<usize>,
    oldest: Option<usize>,
}

/// A file's identity: device and inode.
pub(super) fn dev_ino(stat: &rustix::fs::Stat) -> (u64, u64) {
    (stat.st_dev, stat.st_ino)
}

fn ino_of(e: &Entry) -> (u64, u64) {
    dev_ino(e.stat())
}

/// The open log file and the bytes read but not yet consumed (an incomplete last line).
pub(super) struct LogFile {
    pub(super) dir: Dir,
    pub(super) name: OsString,
    pub(super) file: File,
    pub(super) ino: (u64, u64),
    /// Offset up to which the file was read; `buf` holds the unconsumed bytes just before it.
    pub(super) read_pos: u64,
    pub(super) buf: Vec<u8>,
    /// Inside an over-long line: its bytes are dropped up to the next newline.
    pub(super) skipping: bool,
    /// The file's size when the call was made: `tail` counts the lines up to here.
    pub(super) size_at_open: u64,
}

/// What reading found besides lines.
pub(super) enum Found<'a> {
    Line(&'a [u8], u64),
    Overlong(u64),
}

impl LogFile {
    /// Reads `file` from `read_pos` to its end and hands every complete line to `each`.
    pub(super) fn read_from(
        file: &File,
        read_pos: &mut u64,
        buf: &mut Vec<u8>,
        skipping: &mut bool,
        each: &mut dyn FnMut(Found<'_>) -> bool,
    ) -> io::Result<bool> {
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = file.read_at(&mut chunk, *read_pos)?;
            if n == 0 {
                return Ok(true);
            }
            *read_pos += n as u64;
            buf.extend_from_slice(&chunk[..n]);
            let base = *read_pos - buf.len() as u64;
            let mut start = 0;
            while let Some(at) = memchr::memchr(b'\n', &buf[start..]) {
                let line = &buf[start..start + at];
                let offset = base + start as u64;
                let keep_going = if std::mem::take(skipping) {
                    true
                } else if line.len() > MAX_RAW_LINE_BYTES {
                    each(Found::Overlong(offset))
                } else {
                    each(Found::Line(line, offset))
                };
                start += at + 1;
                if !keep_going {
                    buf.drain(..start);
                    return Ok(false);
                }
            }
            buf.drain(..start);
            if buf.len() > MAX_RAW_LINE_BYTES {
                if !*skipping && !each(Found::Overlong(*read_pos - buf.len() as u64)) {
                    buf.clear();
                    *skipping = true;
                    return Ok(false);
                }
                buf.clear();
                *skipping = true;
            }
        }
    }

    /// Where the last `n` records begin: scans back from the end over complete lines, counting
    /// the lines that end a record, and starts after the one that ends record n+1.
    pub(super) fn tail_start(&self, n: usize, format: FileFormat) -> io::Result<u64> {
        let size = self.size_at_open;
        let mut win: Vec<u8> = Vec::new();
        let mut win_start = size;
        let extend = |win: &mut Vec<u8>, win_start: &mut u64| -> io::Result<bool> {
            if *win_start == 0 {
                return Ok(false);
            }
            let from = win_start.saturating_sub(CHUNK as u64);
            let mut chunk = vec![0u8; (*win_start - from) as usize];
            self.file.read_exact_at(&mut chunk, from)?;
            chunk.extend_from_slice(win);
            *win = chunk;
            *win_start = from;
            Ok(true)
        };
        // The end of the last complete line.
        let mut line_end = loop {
            if let Some(p) = memchr::memrchr(b'\n', &win) {
                break win_start + p as u64;
            }
            if !extend(&mut win, &mut win_start)? {
                return Ok(0);
            }
            if win.len() > MAX_RAW_LINE_BYTES + CHUNK {
                win.truncate(CHUNK); // an over-long incomplete tail: only its beginning can hold a newline
            }
        };
        let mut ended = 0;
        loop {
            win.truncate((line_end - win_start) as usize);
            let line_start = loop {
                if let Some(q) = memchr::memrchr(b'\n', &win) {
                    break Some(win_start + q as u64 + 1);
                }
                if !extend(&mut win, &mut win_start)? {
                    break None;
                }
            };
            let begin = line_start.unwrap_or(0);
            let line = &win[(begin - win_start) as usize..];
            // A line that does not parse ends no record; an over-long one is skipped forward too.
            if line.len() <= MAX_RAW_LINE_BYTES && format.is_partial(line) == Ok(false) {
                ended += 1;
                if ended > n {
                    return Ok(line_end + 1);
                }
            }
            match line_start {
                Some(s) if s > 0 => line_end = s - 1,
                _ => return Ok(0),
            }
        }
    }

    /// The identity of the file the log's name names now, if any.
    pub(super) fn named_ino(&self) -> io::Result<Option<(u64, u64)>> {
        Ok(self.dir.lookup(&self.name)?.map(|e| ino_of(&e)))
    }

    /// Whether the log's name now names another file than ours (rename-and-create).
    pub(super) fn replaced(&self) -> io::Result<bool> {
        Ok(self.named_ino()?.is_some_and(|named| named != self.ino))
    }

    /// The file written after ours, once ours was renamed away (rename-and-create). dockerd
    /// numbers rotated files `<name>.1` (newest) … `<name>.N`, renaming from the oldest down, so
    /// ours at `.k` is followed by the file at `.k-1` (`<name>` itself when k is 1). The scan is
    /// repeated when it races a rotation: ours must still be at `.k` after its successor was
    /// opened, which proves the successor was not moved in between (ours moves first).
    pub(super) fn successor(&self) -> io::Result<Successor> {
        let (mut misses, mut races) = (0, 0);
        loop {
            let scan = self.scan_rotated()?;
            let Some(k) = scan.ours else {
                let Some(oldest) = scan.oldest else {
                    // No numbered siblings: a rotation that does not number (kubelet's
                    // timestamped names, logrotate `create`, conmon's replacement).
                    return Ok(match self.dir.lookup(&self.name)? {
                        Some(e) => Successor::Replacement(e.open_file()?, ino_of(&e)),
                        None => Successor::NotYet,
                    });
                };
                misses += 1;
                if misses < SCAN_ATTEMPTS {
                    std::thread::sleep(SCAN_RETRY);
                    continue;
                }
                // Ours is gone from every scan: it was deleted (max-file) before it was
                // finished; the oldest file still there is where reading goes on.
                return Ok(match self.dir.lookup(&self.sibling(oldest))? {
                    Some(e) => Successor::AfterLoss(e.open_file()?, ino_of(&e)),
                    None => Successor::NotYet,
                });
            };
            let before = if k == 1 { self.name.clone() } else { self.sibling(k - 1) };
            if let Some(e) = self.dir.lookup(&before)? {
                let (next, ino) = (e.open_file()?, ino_of(&e));
                if self.dir.lookup(&self.sibling(k))?.is_some_and(|e| ino_of(&e) == self.ino) {
                    return Ok(Successor::Next(next, ino));
                }
            }
            // A rotation moved ours, or the name is between a rename and its creation. Ours is
            // still there, so nothing is lost by looking again later if the writer keeps racing.
            races += 1;
            if races == MAX_RACES {
                return Ok(Successor::NotYet);
            }
        }
    }

    fn sibling(&self, k: usize) -> OsString {
        let mut name = self.name.clone();
        name.push(format!(".{k}"));
        name
    }

    /// Where ours is, or else the oldest rotated sibling. A rotation in progress leaves at most
    /// one index vacant, so the scan ends at the second missing index in a row.
    fn scan_rotated(&self) -> io::Result<RotatedScan> {
        let mut scan = RotatedScan { ours: None, oldest: None };
        let mut missing = 0;
        for k in 1..=MAX_ROTATED {
            match self.dir.lookup(&self.sibling(k))? {
                None => {
                    missing += 1;
                    if missing == 2 {
                        break;
                    }
                }
                Some(e) => {
                    missing = 0;
                    scan.oldest = Some(k);
                    if ino_of(&e) == self.ino {
                        scan.ours = Some(k);
                        break;
                    }
                }
            }
        }
        Ok(scan)
    }

    /// The rotated copy of a copy-truncated file, by logrotate's naming (`<name>.1`).
    pub(super) fn rotated_copy(&self) -> Option<File> {
        let mut copy = self.name.clone();
        copy.push(OsStr::new(".1"));
        self.dir.open_file(&copy).ok().map(|(f, _)| f)
    }
}
