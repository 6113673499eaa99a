//! Container logs read straight from the engine's log file on the host: Docker's json-file and
//! the CRI format, split lines rejoined, tail/since/until, and follow through rotation
//! (rename-and-create and copy-truncate). [`container_logs`] picks the file where the engine's
//! log is host-visible and in a known format, else the engine's logs API, and says which served.
//!
//! Log lines are written by the container: every line and every joined record is bounded, and a
//! line that does not parse is reported as an error item and skipped — the stream goes on.

mod cri;
mod json_file;
mod log_file;
mod reader;
mod replacements;
mod select;
mod time;

use anyctr_core::model::{LogFormat, LogRecord};

pub use anyctr_core::log_join::{Joiner, Piece};
pub use reader::{FileLogOptions, read_log_file};
pub use select::{container_logs, container_logs_of};

/// The longest record kept: a longer (rejoined) line is cut here and marked `truncated`.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The longest raw line read from a file: a longer one is skipped and reported (engines split
/// lines at 16 KiB; a line this long is not theirs).
pub const MAX_RAW_LINE_BYTES: usize = 256 << 10;

/// A line that is not valid in its log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl ParseError {
    fn new(why: String) -> Self {
        ParseError(why)
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The log file formats anyctr reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    JsonFile,
    Cri,
}

impl FileFormat {
    /// The file format of an engine-reported log format, `None` for one anyctr cannot read.
    pub fn of(format: &LogFormat) -> Option<FileFormat> {
        match format {
            LogFormat::JsonFile => Some(FileFormat::JsonFile),
            LogFormat::Cri => Some(FileFormat::Cri),
            // Formats anyctr cannot read, and any a later core adds before this reader knows it.
            _ => None,
        }
    }

    /// Whether `line` is a piece of a longer line (cheap: used when scanning backwards for tail).
    fn is_partial(self, line: &[u8]) -> Result<bool, ParseError> {
        match self {
            FileFormat::JsonFile => Ok(json_file::parse(line, &mut Vec::new())?.piece().partial),
            FileFormat::Cri => Ok(cri::parse(line)?.partial),
        }
    }
}

/// Parses lines of one format and rejoins split lines.
#[derive(Debug)]
pub struct Decoder {
    format: FileFormat,
    joiner: Joiner,
    /// json-file text with escapes decoded, reused from line to line.
    scratch: Vec<u8>,
}

impl Decoder {
    pub fn new(format: FileFormat) -> Self {
        Decoder::with_limit(format, MAX_RECORD_BYTES)
    }

    /// A decoder keeping at most `max_record` bytes of a line.
    pub fn with_limit(format: FileFormat, max_record: usize) -> Self {
        Decoder { format, joiner: Joiner::new(max_record), scratch: Vec::new() }
    }

    /// One line of the file (without its newline): the record it completes, if any.
    pub fn line(&mut self, line: &[u8]) -> Result<Option<LogRecord>, ParseError> {
        Ok(match self.format {
            FileFormat::JsonFile => {
                let parsed = json_file::parse(line, &mut self.scratch)?;
                self.joiner.push(parsed.piece())
            }
            FileFormat::Cri => self.joiner.push(cri::parse(line)?),
        })
    }

    /// Lines left open at the end of the log, ended as they stand.
    pub fn finish(&mut self) -> Vec<LogRecord> {
        self.joiner.flush()
    }
}

#[cfg(test)]
mod tests;
