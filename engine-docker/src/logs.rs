//! `logs` from docker's logs API (`/containers/{id}/logs`, demultiplexed by bollard), for when
//! the json-file log is not visible from this host or the container logs to another driver.
//! `anyctr_host::logs::container_logs` prefers the file and falls back to this.
//!
//! Each frame is `<RFC3339Nano> <text>` (timestamps requested); a frame whose text has no trailing
//! newline is a piece of a longer line (docker splits at 16 KiB) and is rejoined. The API's
//! since/until take whole seconds: the request widens to whole seconds and the exact bounds are
//! applied here.

use anyctr_core::log_join::{Joiner, timestamped_frame};
use anyctr_core::model::{LogOptions, LogRecord, LogSource, LogStream, LogStreamKind};
use anyctr_core::{Error, ErrorKind, Result};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::{FutureExt, StreamExt};

use crate::client::{Client, ENGINE, map_bollard};

/// A record is never kept longer than this (the rest is dropped and the record says so).
const MAX_RECORD_BYTES: usize = 1 << 20;

type Frames = futures_util::stream::BoxStream<'static, std::result::Result<LogOutput, bollard::errors::Error>>;

fn query(options: &LogOptions, follow: bool, tail: Option<usize>) -> LogsOptions {
    LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        since: options.since.map_or(0, |s| s.timestamp() as i32),
        until: options.until.map_or(0, |u| (u.timestamp() + 1) as i32),
        timestamps: true,
        tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
    }
}

pub(crate) async fn logs(client: &Client, container: &str, options: &LogOptions) -> Result<LogStream> {
    options.validate()?;
    // Resolves the name (NotFound, ambiguous prefix) before the stream starts.
    let id = crate::containers::inspect(client, container).await?.id;
    let records = match options.tail {
        // The API's tail counts pieces, not lines: find how many pieces hold the last n lines.
        Some(n) if n > 0 => {
            let (frames, probed) = tail_frames(client, &id, options, n).await?;
            if options.follow {
                let stream = client.docker.logs(&id, Some(query(options, true, frames))).boxed();
                decode(stream, options.clone()).skip(probed.saturating_sub(n)).boxed()
            } else {
                let start = probed.saturating_sub(n);
                let stream = client.docker.logs(&id, Some(query(options, false, frames))).boxed();
                decode(stream, options.clone()).skip(start).boxed()
            }
        }
        tail => decode(client.docker.logs(&id, Some(query(options, options.follow, tail))).boxed(), options.clone()),
    };
    Ok(LogStream { source: LogSource::EngineApi, records })
}

/// How many pieces (`None`: all) to ask for so that the last `n` lines are whole, and how many
/// records those pieces make. Asks for more until the answer holds n+1 line ends or the whole log.
async fn tail_frames(client: &Client, id: &str, options: &LogOptions, n: usize) -> Result<(Option<usize>, usize)> {
    let mut m = n + 1;
    loop {
        let fetch = client.docker.logs(id, Some(query(options, false, Some(m)))).collect::<Vec<_>>();
        let frames = crate::client::bounded(client.call_timeout, "logs", fetch.map(Ok)).await?;
        let got = frames.len();
        let ended = frames
            .iter()
            .filter(|f| matches!(f, Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) if message.ends_with(b"\n")))
            .count();
        let records = decode(futures_util::stream::iter(frames).boxed(), options.clone()).count().await;
        if got < m {
            return Ok((None, records));
        }
        if ended > n {
            // The first records may be pieces cut from a line begun earlier: only whole ones are counted.
            return Ok((Some(m), records));
        }
        m = m.saturating_mul(4);
    }
}

fn bad_frame(why: &str) -> Error {
    Error::new(ErrorKind::Unexpected, format!("docker logs frame {why}")).with_engine(ENGINE)
}

/// Frames in, records out; at the end, lines left open (the container exited mid-line) are ended.
fn decode(frames: Frames, options: LogOptions) -> futures_util::stream::BoxStream<'static, Result<LogRecord>> {
    let state = (frames, Joiner::new(MAX_RECORD_BYTES), options, Vec::<Result<LogRecord>>::new());
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
            match timestamped_frame(stream, &message).map_err(bad_frame) {
                Ok(p) => ready.extend(joiner.push(p).filter(|r| options.admits(&r.time)).map(Ok)),
                Err(e) => ready.push(Err(e)),
            }
        }
    });
    records.boxed()
}
