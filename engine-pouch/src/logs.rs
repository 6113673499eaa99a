//! `logs` from pouchd's logs API (`/containers/{id}/logs`, Docker's multiplexed stream), for when
//! its json-file is not visible from this host. Not following: no following log stream of pouchd
//! has been recorded, so following is refused as `Unsupported` rather than shipped untested.
//! Each frame is `<RFC3339Nano> <text>` (timestamps requested); a frame without a trailing newline
//! is a piece of a longer line and is rejoined.

use anyctr_core::log_join::{Joiner, timestamped_frame};
use anyctr_core::model::{LogOptions, LogRecord, LogSource, LogStream, LogStreamKind, OutputStream};
use anyctr_core::{Error, Result};
use hyper::Method;

use crate::client::{self, Client};
use crate::hijack::Demux;

const MAX_RECORD_BYTES: usize = 1 << 20;

pub(crate) async fn logs(client: &Client, id: &str, options: &LogOptions) -> Result<LogStream> {
    options.validate()?;
    if options.follow {
        return Err(Error::unsupported("pouch", "logs (follow, over the API)"));
    }
    let mut path = format!("/containers/{}/logs?stdout=1&stderr=1", client::encode_segment(id));
    if let Some(n) = options.tail {
        path += &format!("&tail={n}");
    }
    path += "&timestamps=1";
    if let Some(s) = options.since {
        path += &format!("&since={}", s.timestamp());
    }
    let (_, body) = client.call_bytes(Method::GET, &path, client::empty()).await?;
    let mut demux = Demux::default();
    let mut joiner = Joiner::new(MAX_RECORD_BYTES);
    let mut records: Vec<Result<LogRecord>> = Vec::new();
    // The whole answer in one push: each chunk is one frame's payload, one line or piece.
    for chunk in demux.push(&body) {
        let stream = match chunk.stream {
            OutputStream::Stdout => LogStreamKind::Stdout,
            OutputStream::Stderr => LogStreamKind::Stderr,
        };
        match timestamped_frame(stream, &chunk.data).map_err(|why| Error::unexpected(format!("pouch logs frame {why}")))
        {
            Ok(p) => records.extend(joiner.push(p).map(Ok)),
            Err(e) => records.push(Err(e)),
        }
    }
    records.extend(joiner.flush().into_iter().map(Ok));
    let options = options.clone();
    records.retain(|r| r.as_ref().map_or(true, |r| options.admits(&r.time)));
    Ok(LogStream { source: LogSource::EngineApi, records: Box::pin(futures_util::stream::iter(records)) })
}
