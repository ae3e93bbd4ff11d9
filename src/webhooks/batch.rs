//! Batching: events for one app's webhook target (a "lane") are collected for a short window
//! or up to a maximum count, then sent as one request. Apps are never mixed: a lane belongs to
//! exactly one app and one of its targets.
//!
//! A lane has at most one request in flight. Events that arrive while it is busy wait in the
//! lane and go out, in order, once it is free; a lane whose backlog reaches its capacity
//! refuses more (the caller counts and logs the drop), so a dead receiver costs bounded
//! memory. Pure state: the caller passes every instant.

use sockwave_protocol::AppId;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::time::{Duration, Instant};

use super::event::WebhookEvent;
use crate::app::App;

/// A lane: an app id and the index of one of its webhook targets.
pub(crate) type LaneKey = (AppId, usize);

/// Events ready to be sent in one request.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The lane, to report back with `Lanes::finish`.
    pub(crate) lane: LaneKey,
    /// The app whose secret signs the request.
    pub(crate) app: Arc<App>,
    /// The events, oldest first.
    pub(crate) events: Vec<WebhookEvent>,
    /// When the oldest event was emitted; the retry budget counts from here.
    pub(crate) oldest: Instant,
}

#[derive(Debug)]
struct Lane {
    app: Arc<App>,
    pending: VecDeque<(WebhookEvent, Instant)>,
    /// When the pending events must go out even if the batch is not full.
    due: Option<Instant>,
    busy: bool,
}

/// Every lane's pending events.
#[derive(Debug)]
pub(crate) struct Lanes {
    window: Duration,
    max_events: usize,
    capacity: usize,
    lanes: HashMap<LaneKey, Lane>,
}

impl Lanes {
    /// Lanes that wait up to `window`, send at most `max_events` per request and keep at
    /// most `capacity` events waiting each.
    pub(crate) fn new(window: Duration, max_events: usize, capacity: usize) -> Lanes {
        Lanes {
            window,
            max_events: max_events.max(1),
            capacity: capacity.max(1),
            lanes: HashMap::new(),
        }
    }

    /// Adds an event emitted at `at` to a lane; gives it back when the lane is full.
    pub(crate) fn push(
        &mut self,
        lane: LaneKey,
        app: &Arc<App>,
        event: WebhookEvent,
        at: Instant,
        now: Instant,
    ) -> Result<(), WebhookEvent> {
        let window = self.window;
        let state = self.lanes.entry(lane).or_insert_with(|| Lane {
            app: app.clone(),
            pending: VecDeque::new(),
            due: None,
            busy: false,
        });
        if state.pending.len() >= self.capacity {
            return Err(event);
        }
        // The window starts with the first waiting event, also while a request is in
        // flight: the lane sends again once it is free and the window has ended.
        if state.pending.is_empty() {
            state.due = Some(now + window);
        }
        state.pending.push_back((event, at));
        Ok(())
    }

    /// Takes every batch that should be sent now: lanes that are free and whose window has
    /// ended or whose batch is full. `flush` ignores the window (shutdown).
    pub(crate) fn take_ready(&mut self, now: Instant, flush: bool) -> Vec<Batch> {
        let max_events = self.max_events;
        let mut ready = Vec::new();
        for (key, lane) in &mut self.lanes {
            let full = lane.pending.len() >= max_events;
            let due = lane.due.is_some_and(|due| due <= now);
            if lane.busy || lane.pending.is_empty() || !(full || due || flush) {
                continue;
            }
            let n_events = lane.pending.len().min(max_events);
            let taken: Vec<(WebhookEvent, Instant)> = lane.pending.drain(..n_events).collect();
            let oldest = taken.iter().map(|(_, at)| *at).min().unwrap_or(now);
            lane.busy = true;
            // What is left has waited already: it goes as soon as this request ends.
            lane.due = (!lane.pending.is_empty()).then_some(now);
            ready.push(Batch {
                lane: key.clone(),
                app: lane.app.clone(),
                events: taken.into_iter().map(|(event, _)| event).collect(),
                oldest,
            });
        }
        ready
    }

    /// Marks a lane's request as finished (delivered or given up), freeing the lane.
    pub(crate) fn finish(&mut self, lane: &LaneKey) {
        if let Some(state) = self.lanes.get_mut(lane) {
            state.busy = false;
        }
    }

    /// When the next free lane's window ends.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lanes
            .values()
            .filter(|lane| !lane.busy && !lane.pending.is_empty())
            .filter_map(|lane| lane.due)
            .min()
    }

    /// Whether no event waits and no request is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.lanes
            .values()
            .all(|lane| !lane.busy && lane.pending.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(50);

    fn event(n: usize) -> WebhookEvent {
        WebhookEvent::ChannelOccupied {
            channel: format!("c{n}"),
        }
    }

    fn app(id: &str) -> Arc<App> {
        let mut app = App::default_dev();
        app.id = AppId::from(id);
        Arc::new(app)
    }

    fn lane(app: &str) -> LaneKey {
        (AppId::from(app), 0)
    }

    fn sizes(batches: &[Batch]) -> Vec<(String, usize)> {
        let mut sizes: Vec<(String, usize)> = batches
            .iter()
            .map(|batch| (batch.app.id.to_string(), batch.events.len()))
            .collect();
        sizes.sort();
        sizes
    }

    #[tokio::test(start_paused = true)]
    async fn events_wait_for_the_window_and_apps_never_mix() {
        let mut lanes = Lanes::new(WINDOW, 100, 1000);
        let (a, b) = (app("a"), app("b"));
        let now = Instant::now();
        for n in 0..3 {
            lanes.push(lane("a"), &a, event(n), now, now).unwrap();
        }
        lanes.push(lane("b"), &b, event(9), now, now).unwrap();
        assert!(lanes.take_ready(now, false).is_empty(), "window still open");
        assert_eq!(lanes.next_deadline(), Some(now + WINDOW));
        tokio::time::advance(WINDOW).await;
        let batches = lanes.take_ready(Instant::now(), false);
        assert_eq!(sizes(&batches), [("a".into(), 3), ("b".into(), 1)]);
        let a_batch = batches.iter().find(|batch| batch.app.id == "a").unwrap();
        assert_eq!(a_batch.events, [event(0), event(1), event(2)], "in order");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once_and_a_busy_lane_waits() {
        let mut lanes = Lanes::new(WINDOW, 100, 1000);
        let a = app("a");
        let now = Instant::now();
        for n in 0..250 {
            lanes.push(lane("a"), &a, event(n), now, now).unwrap();
        }
        let first = lanes.take_ready(now, false);
        assert_eq!(sizes(&first), [("a".into(), 100)]);
        assert!(
            lanes.take_ready(now, false).is_empty(),
            "one request in flight per lane"
        );
        assert_eq!(lanes.next_deadline(), None);
        assert!(!lanes.is_idle());
        lanes.finish(&lane("a"));
        assert_eq!(sizes(&lanes.take_ready(now, false)), [("a".into(), 100)]);
        lanes.finish(&lane("a"));
        let last = lanes.take_ready(now, false);
        assert_eq!(last[0].events.first(), Some(&event(200)));
        assert_eq!(last[0].events.len(), 50);
        lanes.finish(&lane("a"));
        assert!(lanes.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn events_that_arrive_during_a_request_go_out_after_it() {
        let mut lanes = Lanes::new(WINDOW, 100, 1000);
        let a = app("a");
        let now = Instant::now();
        lanes.push(lane("a"), &a, event(0), now, now).unwrap();
        assert_eq!(
            sizes(&lanes.take_ready(now + WINDOW, false)),
            [("a".into(), 1)]
        );
        tokio::time::advance(WINDOW * 2).await;
        let later = Instant::now();
        lanes.push(lane("a"), &a, event(1), later, later).unwrap();
        lanes.push(lane("a"), &a, event(2), later, later).unwrap();
        assert!(
            lanes.take_ready(later + WINDOW, false).is_empty(),
            "still busy"
        );
        lanes.finish(&lane("a"));
        assert_eq!(lanes.next_deadline(), Some(later + WINDOW));
        assert!(lanes.take_ready(later, false).is_empty(), "window not over");
        let batch = lanes.take_ready(later + WINDOW, false).pop().unwrap();
        assert_eq!(batch.events, [event(1), event(2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_refuses_and_flush_ignores_the_window() {
        let mut lanes = Lanes::new(WINDOW, 100, 2);
        let a = app("a");
        let now = Instant::now();
        lanes.push(lane("a"), &a, event(0), now, now).unwrap();
        lanes.push(lane("a"), &a, event(1), now, now).unwrap();
        assert_eq!(lanes.push(lane("a"), &a, event(2), now, now), Err(event(2)));
        assert_eq!(sizes(&lanes.take_ready(now, true)), [("a".into(), 2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn oldest_is_the_first_emission() {
        let mut lanes = Lanes::new(WINDOW, 100, 100);
        let a = app("a");
        let emitted = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        let now = Instant::now();
        lanes.push(lane("a"), &a, event(0), emitted, now).unwrap();
        lanes.push(lane("a"), &a, event(1), now, now).unwrap();
        let batch = lanes.take_ready(now + WINDOW, false).pop().unwrap();
        assert_eq!(batch.oldest, emitted);
    }
}
