//! A normalized container event stream that survives a dropped connection.
//!
//! The stream starts at the `events()` call (or `options.since`): the first connection already asks
//! for `since=<that time>`, as bollard only connects when the stream is first polled.
//! When the connection ends (dockerd restarted, a proxy dropped it, the socket broke) the stream
//! yields an [`EventKind::Gap`](anyctr_core::model::EventKind::Gap) and reconnects with the
//! `since` the shared [`EventCursor`] gives (a replay window before the newest delivered event),
//! so events that happened while it was down are replayed from dockerd's event log (which keeps
//! the last 256 events: a longer gap loses the oldest, hence the announcement). Live events are
//! never filtered by time (dockerd sends them out of timestamp order under concurrency); only
//! replayed duplicates are dropped, by identity. After `MAX_RECONNECTS` failed attempts in a row
//! the stream yields `EngineUnavailable` and ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyctr_core::model::{Event, EventOptions};
use anyctr_core::{Error, ErrorKind, EventCursor, EventStream};
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use anyctr_docker_api::actions::since_param;

use crate::client::{Client, ENGINE};
use crate::convert;

const MAX_RECONNECTS: u32 = 6;

/// A connection that lived this long counts as working: its failure starts a fresh retry count.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

pub(crate) fn events(client: Client, options: EventOptions) -> EventStream {
    let cursor = EventCursor::new(options.since.unwrap_or_else(chrono::Utc::now));
    let since = since_param(cursor.start());
    let state = State { client, cursor, since, current: None, failures: 0, done: false };
    futures_util::stream::unfold(state, next).boxed()
}

struct State {
    client: Client,
    cursor: EventCursor,
    /// What the next connection asks for.
    since: String,
    current: Option<(BoxStream<'static, Result<EventMessage, bollard::errors::Error>>, Instant)>,
    failures: u32,
    done: bool,
}

async fn next(mut st: State) -> Option<(anyctr_core::Result<Event>, State)> {
    if st.done {
        return None;
    }
    loop {
        if st.current.is_none() {
            if st.failures > 0 {
                tokio::time::sleep(backoff(st.failures)).await;
            }
            // Always with `since`: bollard sends the request on the first poll, and events between
            // the `events()` call and that poll must not be lost.
            st.current = Some((open(&st.client, &st.since), Instant::now()));
        }
        let (stream, opened) = st.current.as_mut()?;
        match stream.next().await {
            Some(Ok(msg)) => {
                st.failures = 0;
                if let Some(event) = convert::event(&msg)
                    && st.cursor.admit(&event)
                {
                    return Some((Ok(event), st));
                }
            }
            end => {
                let why = match &end {
                    Some(Err(e)) => format!("the docker event stream broke: {e}"),
                    _ => "the docker event stream ended".to_owned(),
                };
                tracing::debug!(%why, "reconnecting");
                if opened.elapsed() > HEALTHY_AFTER {
                    st.failures = 0;
                }
                st.current = None;
                st.since = since_param(st.cursor.reconnect_from());
                st.failures += 1;
                if st.failures > MAX_RECONNECTS {
                    st.done = true;
                    let err = Error::new(
                        ErrorKind::EngineUnavailable,
                        format!("the docker event stream broke and {MAX_RECONNECTS} reconnects failed"),
                    )
                    .with_engine(ENGINE)
                    .with_operation("events");
                    return Some((Err(err), st));
                }
                if st.failures == 1 {
                    // Once per outage: what dockerd's log no longer holds is lost.
                    return Some((Ok(Event::gap(why)), st));
                }
            }
        }
    }
}

fn open(client: &Client, since: &str) -> BoxStream<'static, Result<EventMessage, bollard::errors::Error>> {
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("type", vec!["container"])]);
    let options = EventsOptionsBuilder::default().filters(&filters).since(since).build();
    client.docker.events(Some(options)).boxed()
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
