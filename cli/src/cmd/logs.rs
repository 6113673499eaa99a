//! `anyctr logs`: a container's log, from its log file where the host can read it, else the
//! engine's API (the library chooses).

use std::process::ExitCode;

use anyctr::{Error, LogOptions, LogStreamKind, Result};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::args::LogsArgs;
use crate::node::Node;

/// `--since`: an RFC 3339 time, or an age (`30s`, `10m`, `2h`, `1d`) before now.
fn since(arg: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(arg) {
        return Ok(time.with_timezone(&Utc));
    }
    let bad = || Error::invalid_argument(format!("--since {arg:?}: expected an RFC 3339 time or an age like 10m"));
    let split = arg.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = arg.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(bad()),
    };
    Ok(now - chrono::Duration::seconds(seconds))
}

pub async fn run(node: &Node, args: &LogsArgs) -> Result<ExitCode> {
    let mut options = LogOptions::new().follow(args.follow);
    if let Some(arg) = &args.since {
        options = options.since(since(arg, Utc::now())?);
    }
    if let Some(n) = args.tail {
        options = options.tail(n);
    }
    options.validate()?;
    let row = node.resolve(&args.container)?;
    let mut stream = node.inner.logs(&row.detail.id, &options).await?;
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    // A bad line or a gap in the log (lines lost to a rotation) is said on stderr and reading goes
    // on; an error that ends the stream ends the command with it.
    let mut last_error = None;
    while let Some(record) = stream.records.next().await {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                eprintln!("anyctr logs: warning: {}", e.to_string().replace('\n', "; "));
                last_error = Some(e);
                continue;
            }
        };
        last_error = None;
        let mut line = Vec::with_capacity(record.bytes.len() + 40);
        if args.timestamps {
            line.extend_from_slice(record.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&record.bytes);
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        let written = match record.stream {
            LogStreamKind::Stderr => stderr.write_all(&line).await.and(stderr.flush().await),
            LogStreamKind::Stdout => stdout.write_all(&line).await.and(stdout.flush().await),
        };
        if written.is_err() {
            break;
        }
    }
    match last_error {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T20:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(since("10m", now).unwrap(), now - chrono::Duration::minutes(10));
        assert_eq!(since("2026-11-30T19:00:00Z", now).unwrap(), now - chrono::Duration::hours(1));
        for bad in ["", "10", "m", "10y", "yesterday"] {
            assert_eq!(since(bad, now).unwrap_err().kind(), anyctr::ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
