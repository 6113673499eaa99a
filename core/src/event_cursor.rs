//! Where a reconnecting event stream stands, for engines whose daemon replays history on request
//! (docker and pouch: `GET /events?since=<time>`).
//!
//! Two facts shape it:
//! - Live events arrive out of timestamp order. dockerd stamps an event before it takes its
//!   publish lock, so of two concurrent events the later-stamped one can be sent first. A live
//!   event is therefore never judged by its time: every live event is delivered.
//! - A reconnect asks the daemon to replay from a time, and the replay repeats events already
//!   delivered. Those, and only those, are dropped: by identity (container, action, exact time,
//!   attributes), among the events delivered within [`REPLAY_WINDOW`] of the newest one.
//!
//! The reconnect asks for `since = newest - REPLAY_WINDOW` (never before the stream's start), so
//! an event stamped up to that long before the newest delivered one but published after the break
//! is still replayed. Every event the cursor remembers is in that window, so every replayed
//! duplicate is recognized.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::model::Event;

/// How far behind the newest delivered event a reconnect starts its replay, and how long
/// delivered events are remembered for recognizing replayed ones. Far above the skew seen between
/// dockerd's stamping and publishing (milliseconds under a burst); a replay this long costs at
/// most the daemon's retained history (dockerd keeps 256 events).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(5);

/// What identifies one event across two deliveries of it.
type Identity = (i64, String, String, Vec<(String, String)>);

/// The cursor of one event stream (see the module docs).
#[derive(Debug)]
pub struct EventCursor {
    /// The stream's start: events before it predate the stream; never replayed from before it.
    start: i64,
    window: i64,
    /// The newest event time delivered.
    newest: Option<i64>,
    /// Events delivered within `window` of `newest`, ordered by time for pruning.
    delivered: BTreeSet<Identity>,
    /// Set by a reconnect: the newest time delivered before it. Only events at or before it can be
    /// replays; later ones are new whatever the set says.
    replay_horizon: Option<i64>,
}

impl EventCursor {
    /// A cursor for a stream that starts at `start` (the `since` asked for, or now).
    pub fn new(start: DateTime<Utc>) -> EventCursor {
        EventCursor::with_window(start, REPLAY_WINDOW)
    }

    /// A cursor starting at `start` that drops duplicates within `window`.
    pub fn with_window(start: DateTime<Utc>, window: Duration) -> EventCursor {
        EventCursor {
            start: nanos(start),
            window: i64::try_from(window.as_nanos()).unwrap_or(i64::MAX),
            newest: None,
            delivered: BTreeSet::new(),
            replay_horizon: None,
        }
    }

    /// Where the first connection starts.
    pub fn start(&self) -> DateTime<Utc> {
        Utc.timestamp_nanos(self.start)
    }

    /// Where a reconnect asks the daemon to replay from; from now on, replayed duplicates of
    /// delivered events are dropped by [`admit`](Self::admit).
    pub fn reconnect_from(&mut self) -> DateTime<Utc> {
        self.replay_horizon = self.newest.or(self.replay_horizon);
        let from = self.newest.map_or(self.start, |n| n.saturating_sub(self.window).max(self.start));
        Utc.timestamp_nanos(from)
    }

    /// Whether `event` is to be delivered (and records it): `false` only for a replay of an event
    /// already delivered.
    pub fn admit(&mut self, event: &Event) -> bool {
        let identity = identity(event);
        let t = identity.0;
        if self.replay_horizon.is_some_and(|h| t <= h) && self.delivered.contains(&identity) {
            return false;
        }
        self.delivered.insert(identity);
        let newest = self.newest.map_or(t, |n| n.max(t));
        self.newest = Some(newest);
        let keep_from = newest.saturating_sub(self.window);
        // Forget what no reconnect can replay any more (a replay starts at newest - window).
        while self.delivered.first().is_some_and(|oldest| oldest.0 < keep_from) {
            self.delivered.pop_first();
        }
        true
    }

    /// How many delivered events are remembered (bounded by the window).
    pub fn remembered(&self) -> usize {
        self.delivered.len()
    }
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

fn identity(e: &Event) -> Identity {
    let attributes = e.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    (nanos(e.time), e.container_id.clone(), e.action.clone(), attributes)
}

/// Distinct identities delivered, for tests that check a stream for duplicates.
pub fn distinct(events: &[Event]) -> usize {
    events.iter().map(identity).collect::<HashSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::EventKind;

    fn ev(id: &str, action: &str, t: i64) -> Event {
        Event {
            kind: EventKind::Other(action.to_owned()),
            container_id: id.to_owned(),
            time: Utc.timestamp_nanos(t),
            exit_code: None,
            exec_id: None,
            namespace: None,
            action: action.to_owned(),
            attributes: BTreeMap::from([("name".to_owned(), format!("n-{id}"))]),
        }
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn out_of_order_live_events_are_all_delivered() {
        let mut c = EventCursor::new(Utc.timestamp_nanos(100 * S));
        // dockerd's order under a burst: stamped 3, 1, 2 (and one older than the stream's start,
        // which the daemon sent, so it is delivered too: the cursor never judges by time).
        let order = [(3, "a"), (1, "b"), (2, "c"), (0, "d")];
        for (t, id) in order {
            assert!(c.admit(&ev(id, "create", 100 * S + t)), "{id} at {t}");
        }
        // Identical twins on the live stream (same time, same everything) are not replays either.
        assert!(c.admit(&ev("a", "create", 100 * S + 3)));
    }

    #[test]
    fn a_reconnect_replays_and_only_duplicates_are_dropped() {
        let mut c = EventCursor::new(Utc.timestamp_nanos(100 * S));
        for (id, t) in [("a", 3), ("b", 1), ("c", 2)] {
            assert!(c.admit(&ev(id, "create", 100 * S + t)));
        }
        let from = c.reconnect_from();
        // Not before the stream's start, even though the window reaches further back.
        assert_eq!(from, Utc.timestamp_nanos(100 * S));
        // The replay, in the daemon's (stamp) order, then a late event stamped before the newest
        // delivered one that was published only after the break, then live events.
        let replay = [("b", 1), ("c", 2), ("late", 2), ("a", 3), ("d", 4)];
        let admitted: Vec<&str> =
            replay.iter().filter(|(id, t)| c.admit(&ev(id, "create", 100 * S + t))).map(|(id, _)| *id).collect();
        assert_eq!(admitted, ["late", "d"]);
        // The same container's other action at the same instant is a different event.
        assert!(c.admit(&ev("a", "start", 100 * S + 3)));
    }

    #[test]
    fn the_replay_starts_a_window_before_the_newest_event() {
        let mut c = EventCursor::with_window(Utc.timestamp_nanos(0), Duration::from_secs(2));
        assert!(c.admit(&ev("a", "create", 10 * S)));
        assert!(c.admit(&ev("b", "create", 11 * S)));
        assert_eq!(c.reconnect_from(), Utc.timestamp_nanos(9 * S));
        assert!(!c.admit(&ev("a", "create", 10 * S)));
        assert!(!c.admit(&ev("b", "create", 11 * S)));
        // A second break before anything new: the horizon stays.
        assert_eq!(c.reconnect_from(), Utc.timestamp_nanos(9 * S));
        assert!(!c.admit(&ev("b", "create", 11 * S)));
        assert!(c.admit(&ev("c", "create", 12 * S)));
    }

    #[test]
    fn memory_is_bounded_by_the_window() {
        let mut c = EventCursor::with_window(Utc.timestamp_nanos(0), Duration::from_secs(1));
        for i in 0..10_000 {
            assert!(c.admit(&ev(&format!("c{i}"), "create", i * (S / 1000))));
        }
        // 1 ms apart, a 1 s window: about 1,000 remembered.
        assert!((1000..=1001).contains(&c.remembered()), "{}", c.remembered());
        assert_eq!(c.reconnect_from(), Utc.timestamp_nanos(9_999 * (S / 1000) - S));
    }

    #[test]
    fn attributes_are_part_of_the_identity() {
        let mut c = EventCursor::new(Utc.timestamp_nanos(0));
        let a = ev("a", "die", 5);
        let mut b = a.clone();
        b.attributes.insert("exitCode".into(), "1".into());
        assert!(c.admit(&a));
        c.reconnect_from();
        assert!(c.admit(&b));
        assert!(!c.admit(&a));
        assert!(!c.admit(&b));
        assert_eq!(distinct(&[a.clone(), b, a]), 2);
    }
}
