//! A normalized container event stream that survives a dropped connection.
//!
//! The stream starts at the `events()` call (or `options.since`): the first connection already asks
//! for `since=<that time>`, as bollard only connects when the stream is first polled.
//! When the connection ends (dockerd restarted, a proxy dropped it, the socket broke) the stream
//! reconnects with `since=<time of the last event delivered>`, so events that happened while it was
//! down are replayed from dockerd's event log (which keeps the last 256 events: a longer gap loses
//! the oldest). `since` is inclusive, so the events at exactly that time come again: a cursor of the
//! last time and the events already delivered at it drops those duplicates. After
//! `MAX_RECONNECTS` failed attempts in a row the stream yields `EngineUnavailable` and ends.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyctr_core::model::EventOptions;
use anyctr_core::{Error, ErrorKind, EventStream};
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::client::{Client, ENGINE};
use crate::convert;

const MAX_RECONNECTS: u32 = 6;

/// A connection that lived this long counts as working: its failure starts a fresh retry count.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

pub(crate) fn events(client: Client, options: EventOptions) -> EventStream {
    let start = options.since.and_then(|t| t.timestamp_nanos_opt()).unwrap_or_else(now_nanos);
    let state = State {
        client,
        cursor: Cursor { last_nanos: start, seen_at_last: HashSet::new() },
        current: None,
        failures: 0,
        done: false,
    };
    futures_util::stream::unfold(state, next).boxed()
}

struct State {
    client: Client,
    cursor: Cursor,
    current: Option<(BoxStream<'static, Result<EventMessage, bollard::errors::Error>>, Instant)>,
    failures: u32,
    done: bool,
}

async fn next(mut st: State) -> Option<(anyctr_core::Result<anyctr_core::model::Event>, State)> {
    if st.done {
        return None;
    }
    loop {
        if st.current.is_none() {
            if st.failures > 0 {
                tokio::time::sleep(backoff(st.failures)).await;
            }
            // Always from the cursor: bollard sends the request on the first poll, and events between
            // the `events()` call and that poll must not be lost.
            st.current = Some((open(&st.client, &since_param(st.cursor.last_nanos)), Instant::now()));
        }
        let (stream, opened) = st.current.as_mut()?;
        match stream.next().await {
            Some(Ok(msg)) => {
                if !st.cursor.admit(&msg) {
                    continue;
                }
                if let Some(event) = convert::event(&msg) {
                    st.failures = 0;
                    return Some((Ok(event), st));
                }
            }
            end => {
                if let Some(Err(e)) = &end {
                    tracing::debug!(error = %e, "docker event stream broke; reconnecting");
                }
                if opened.elapsed() > HEALTHY_AFTER {
                    st.failures = 0;
                }
                st.current = None;
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

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// docker's `since`: seconds with a nanosecond fraction.
pub(crate) fn since_param(nanos: i64) -> String {
    format!("{}.{:09}", nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000))
}

/// Where the stream is: events before `last_nanos` were delivered (or predate the stream), and
/// `seen_at_last` are those delivered at exactly `last_nanos`.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub last_nanos: i64,
    pub seen_at_last: HashSet<String>,
}

impl Cursor {
    /// Whether `msg` is new; records it.
    pub fn admit(&mut self, msg: &EventMessage) -> bool {
        let t = msg.time_nano.or_else(|| msg.time.map(|s| s * 1_000_000_000)).unwrap_or(0);
        let key = event_key(msg);
        if t < self.last_nanos {
            return false;
        }
        if t > self.last_nanos {
            self.last_nanos = t;
            self.seen_at_last.clear();
        }
        self.seen_at_last.insert(key)
    }
}

/// Identifies an event across connections. Built from sorted attributes: bollard keeps them in a
/// `HashMap`, whose order differs between two decodings of the same event.
fn event_key(msg: &EventMessage) -> String {
    let actor = msg.actor.as_ref();
    let attributes: std::collections::BTreeMap<_, _> =
        actor.and_then(|a| a.attributes.as_ref()).map(|a| a.iter().collect()).unwrap_or_default();
    let id = actor.and_then(|a| a.id.as_deref()).unwrap_or_default();
    let action = msg.action.as_deref().unwrap_or_default();
    format!("{id}\0{action}\0{:?}\0{attributes:?}", msg.time_nano)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(action: &str, id: &str, nanos: i64) -> EventMessage {
        serde_json::from_value(serde_json::json!({"Type": "container", "Action": action,
            "Actor": {"ID": id, "Attributes": {}}, "time": nanos / 1_000_000_000, "timeNano": nanos}))
        .unwrap()
    }

    #[test]
    fn replayed_events_are_dropped() {
        let mut c = Cursor { last_nanos: 100, seen_at_last: HashSet::new() };
        assert!(!c.admit(&msg("create", "a", 99)), "before the stream started");
        assert!(c.admit(&msg("create", "a", 100)));
        assert!(c.admit(&msg("start", "a", 100)), "another event at the same time");
        assert!(c.admit(&msg("die", "a", 150)));
        // Reconnect with since=150 replays the event at 150 and everything after.
        assert!(!c.admit(&msg("die", "a", 150)));
        assert!(c.admit(&msg("destroy", "a", 151)));
        assert!(!c.admit(&msg("start", "a", 100)));
    }

    #[test]
    fn the_same_event_decoded_twice_has_one_key() {
        let json = serde_json::json!({"Type": "container", "Action": "create", "Actor": {"ID": "a",
            "Attributes": {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7"}}, "timeNano": 9});
        let keys: HashSet<String> =
            (0..20).map(|_| event_key(&serde_json::from_value(json.clone()).unwrap())).collect();
        assert_eq!(keys.len(), 1);
        let mut c = Cursor { last_nanos: 0, seen_at_last: HashSet::new() };
        assert!(c.admit(&serde_json::from_value(json.clone()).unwrap()));
        assert!(!c.admit(&serde_json::from_value(json).unwrap()));
    }

    #[test]
    fn since_has_nanoseconds() {
        assert_eq!(since_param(1_795_412_870_353_588_311), "1795412870.353588311");
        assert_eq!(since_param(5), "0.000000005");
    }

    #[test]
    fn backoff_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
