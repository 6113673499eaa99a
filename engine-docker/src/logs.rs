//! `logs` from docker's logs API (`/containers/{id}/logs`, demultiplexed by bollard), for when
//! the json-file log is not visible from this host or the container logs to another driver.
//! `anyctr_host::logs::container_logs` prefers the file and falls back to this.
//!
//! Each frame is `<RFC3339Nano> <text>` (timestamps requested); a frame whose text has no trailing
//! newline is a piece of a longer line (docker splits at 16 KiB) and is rejoined. The API's
//! since/until take whole seconds: the request widens to whole seconds and the exact bounds are
//! applied here.

use anyctr_core::log_join::{Joiner, Piece};
use anyctr_core::model::{LogOptions, LogRecord, LogSource, LogStream, LogStreamKind};
use anyctr_core::{Error, ErrorKind, Result};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::client::{Client, ENGINE, map_bollard};

/// A record is never kept longer than this (the rest is dropped and the record says so).
const MAX_RECORD_BYTES: usize = 1 << 20;

pub(crate) async fn logs(client: &Client, container: &str, options: &LogOptions) -> Result<LogStream> {
    options.validate()?;
    // Resolves the name (NotFound, ambiguous prefix) before the stream starts.
    let id = crate::containers::inspect(client, container).await?.id;
    let query = LogsOptions {
        follow: options.follow,
        stdout: true,
        stderr: true,
        since: options.since.map_or(0, |s| s.timestamp() as i32),
        until: options.until.map_or(0, |u| (u.timestamp() + 1) as i32),
        timestamps: true,
        tail: options.tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
    };
    let frames = client.docker.logs(&id, Some(query));
    let state = (frames.boxed(), Joiner::new(MAX_RECORD_BYTES), options.clone(), Vec::<Result<LogRecord>>::new());
    // Frames in, records out; at the end, lines left open (the container exited mid-line) are ended.
    let records = futures_util::stream::unfold(state, |(mut frames, mut joiner, options, mut ready)| async move {
        loop {
            if let Some(r) = ready.pop() {
                return Some((r, (frames, joiner, options, ready)));
            }
            let (stream, message) = match frames.next().await {
                Some(Ok(LogOutput::StdOut { message })) => (LogStreamKind::Stdout, message),
                Some(Ok(LogOutput::StdErr { message })) => (LogStreamKind::Stderr, message),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some((Err(map_bollard(e, "logs")), (frames, joiner, options, ready))),
                None if joiner.is_open() => {
                    ready = joiner.flush().into_iter().rev().filter(|r| options.admits(&r.time)).map(Ok).collect();
                    continue;
                }
                None => return None,
            };
            match piece(stream, &message) {
                Ok(p) => ready.extend(joiner.push(p).filter(|r| options.admits(&r.time)).map(Ok)),
                Err(e) => ready.push(Err(e)),
            }
        }
    });
    Ok(LogStream { source: LogSource::EngineApi, records: records.boxed() })
}

fn piece(stream: LogStreamKind, frame: &[u8]) -> Result<Piece<'_>> {
    let bad = |why: &str| Error::new(ErrorKind::Unexpected, format!("docker logs frame {why}")).with_engine(ENGINE);
    let at = frame.iter().position(|&b| b == b' ').ok_or_else(|| bad("without a timestamp"))?;
    let time = std::str::from_utf8(&frame[..at])
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| bad("with a bad timestamp"))?
        .with_timezone(&Utc);
    let text = &frame[at + 1..];
    let (bytes, partial) = match text.strip_suffix(b"\n") {
        Some(line) => (line, false),
        None => (text, true),
    };
    Ok(Piece { time, stream, bytes, partial })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_pieces() {
        let p = piece(LogStreamKind::Stdout, b"2026-11-30T17:00:00.5Z hello\n").unwrap();
        assert_eq!((p.bytes, p.partial), (&b"hello"[..], false));
        let p = piece(LogStreamKind::Stderr, b"2026-11-30T17:00:00.5Z a b").unwrap();
        assert_eq!((p.bytes, p.partial), (&b"a b"[..], true));
        assert!(piece(LogStreamKind::Stdout, b"nospace").is_err());
        assert!(piece(LogStreamKind::Stdout, b"yesterday x\n").is_err());
    }
}
