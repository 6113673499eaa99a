//! Events: `GET /events` streams one JSON object per line. The stream is normalized to anyctr's
//! events, and when pouchd closes it (a daemon restart, a proxy timeout) it yields an
//! [`EventKind::Gap`] and is reopened with the `since` the shared [`EventCursor`] gives (a replay
//! window before the newest delivered event); live events are never filtered by time, only
//! replayed duplicates are dropped, by identity.

use std::collections::BTreeMap;
use std::time::Duration;

use anyctr_core::model::{Event, EventKind, EventOptions};
use anyctr_core::{Error, ErrorKind, EventCursor, EventStream, Result};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::Method;
use http_body_util::BodyExt;

use crate::client::{self, Client};
use crate::models::EventMessage;

/// Reconnect attempts in a row that may fail before the stream ends with the error.
const MAX_RECONNECT_FAILURES: u32 = 5;

/// Normalizes one pouch event; `None` for events that are not about a container.
pub fn normalize(message: &EventMessage) -> Option<Event> {
    if !(message.kind.is_empty() || message.kind == "container") {
        return None;
    }
    let container_id = if message.actor.id.is_empty() { message.id.clone() } else { message.actor.id.clone() };
    if container_id.is_empty() {
        return None;
    }
    let action = if message.action.is_empty() { message.status.clone() } else { message.action.clone() };
    let attributes: BTreeMap<String, String> = message
        .actor
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
        .collect();
    let exit_code = attributes.get("exitCode").and_then(|c| c.parse().ok());
    let kind = anyctr_docker_api::actions::event_kind(&action);
    let exec_id = attributes.get("execID").or_else(|| attributes.get("execId")).cloned();
    let exit_code = matches!(kind, EventKind::Exit | EventKind::ExecExit).then_some(exit_code).flatten();
    let mut event = Event::new(kind, container_id, event_time(message), action);
    event.exit_code = exit_code;
    event.exec_id = exec_id;
    event.attributes = attributes;
    Some(event)
}

fn event_time(m: &EventMessage) -> DateTime<Utc> {
    match (m.time_nano, m.time) {
        (Some(n), _) if n > 0 => Utc.timestamp_nanos(n),
        (_, Some(s)) => Utc.timestamp_opt(s, 0).single().unwrap_or_default(),
        _ => Utc::now(),
    }
}

/// Splits a byte stream into lines.
#[derive(Default)]
struct Lines {
    buf: BytesMut,
}

impl Lines {
    fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line = self.buf.split_to(pos + 1).freeze();
            lines.push(line.slice(..pos));
        }
        lines
    }
}

struct State {
    client: Client,
    cursor: EventCursor,
    body: Option<BoxStream<'static, Result<Bytes>>>,
    lines: Lines,
    pending: std::collections::VecDeque<Event>,
    failures: u32,
    quiet_reopens: u32,
    ended: bool,
}

async fn open(client: &Client, since: Option<DateTime<Utc>>) -> Result<BoxStream<'static, Result<Bytes>>> {
    let path = match since {
        Some(t) => format!("/events?since={}", anyctr_docker_api::actions::since_param(t)),
        None => "/events".to_owned(),
    };
    let response = client.call(Method::GET, &path, &[], client::empty()).await?;
    let body = response.into_body().into_data_stream();
    Ok(body.map(|r| r.map_err(|e| client::unavailable("the pouchd event stream broke", e))).boxed())
}

/// The event stream for `options`.
pub async fn events(client: Client, options: EventOptions) -> Result<EventStream> {
    // The first connection asks for `since` only when the caller did (pouchd then replays);
    // reconnects always do, from the cursor.
    let body = open(&client, options.since).await?;
    let state = State {
        client,
        cursor: EventCursor::new(options.since.unwrap_or_else(Utc::now)),
        body: Some(body),
        lines: Lines::default(),
        pending: Default::default(),
        failures: 0,
        quiet_reopens: 0,
        ended: false,
    };
    Ok(futures_util::stream::unfold(state, next).boxed())
}

async fn next(mut s: State) -> Option<(Result<Event>, State)> {
    loop {
        if let Some(event) = s.pending.pop_front() {
            return Some((Ok(event), s));
        }
        if s.ended {
            return None;
        }
        let Some(body) = s.body.as_mut() else {
            // Reopen from the last event, after a pause that grows with failures.
            let backoff = (s.failures + s.quiet_reopens).min(5);
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(backoff))).await;
            let since = s.cursor.reconnect_from();
            match open(&s.client, Some(since)).await {
                Ok(body) => {
                    s.body = Some(body);
                    s.lines = Lines::default();
                }
                Err(e) => {
                    s.failures += 1;
                    if s.failures >= MAX_RECONNECT_FAILURES {
                        s.ended = true;
                        let e = Error::new(
                            ErrorKind::EngineUnavailable,
                            format!("reopening pouchd's event stream failed: {e}"),
                        )
                        .with_engine(crate::ENGINE)
                        .with_operation("events");
                        return Some((Err(e), s));
                    }
                }
            }
            continue;
        };
        match body.next().await {
            Some(Ok(data)) => {
                for line in s.lines.push(&data) {
                    s.accept(&line);
                }
                if !s.pending.is_empty() {
                    s.failures = 0;
                    s.quiet_reopens = 0;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "pouch event stream broke; reopening");
                s.body = None;
                s.pending.push_back(Event::gap(format!("the pouchd event stream broke: {e}")));
            }
            None => {
                s.body = None;
                // A stream that keeps closing without news is reopened ever more slowly, and the
                // gap is announced once for the run of quiet reopens.
                if s.quiet_reopens == 0 {
                    s.pending.push_back(Event::gap("pouchd closed the event stream"));
                }
                s.quiet_reopens += 1;
            }
        }
    }
}

impl State {
    fn accept(&mut self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let message: EventMessage = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, line = %String::from_utf8_lossy(line), "skipping an event pouchd sent that is not JSON");
                return;
            }
        };
        let Some(event) = normalize(&message) else { return };
        if self.cursor.admit(&event) {
            self.pending.push_back(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pouch_event_lines_normalize() {
        let line = r#"{"action":"exec_die","actor":{"Attributes":{"execID":"5cae","exitCode":"0","name":"pev"},"ID":"6b13"},"id":"6b13","status":"exec_die","time":1795411223,"timeNano":1795411223636399610,"type":"container"}"#;
        let m: EventMessage = serde_json::from_str(line).unwrap();
        let e = normalize(&m).unwrap();
        assert_eq!(e.kind, EventKind::ExecExit);
        assert_eq!(e.exec_id.as_deref(), Some("5cae"));
        assert_eq!(e.exit_code, Some(0));
        assert_eq!(e.container_id, "6b13");
        assert_eq!(e.time.timestamp_nanos_opt(), Some(1795411223636399610));
        let image: EventMessage = serde_json::from_str(r#"{"type":"image","action":"pull","id":"busybox"}"#).unwrap();
        assert!(normalize(&image).is_none());
    }

    #[test]
    fn lines_split_across_chunks() {
        let mut l = Lines::default();
        assert!(l.push(b"{\"a\":").is_empty());
        let got = l.push(b"1}\n{\"b\":2}\n{");
        assert_eq!(got, [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"{\"b\":2}")]);
    }
}
