//! The `Read` rules both stores share, and the in-memory store's bounds.

use super::*;
use crate::app::HistoryPolicy;
use std::time::Duration;

fn app(max_events: usize) -> App {
    let mut app = App::default_dev();
    app.history = HistoryPolicy {
        channels: vec!["history-*".into()],
        max_events,
        ..HistoryPolicy::default()
    };
    app
}

/// The events after `position`, as a resume reads them.
fn after(store: &MemoryStore, app: &App, channel: &str, position: &Position) -> Read {
    store.read(
        app,
        channel,
        Since::After(position),
        MAX_READ,
        &AllStats::default(),
    )
}

fn publish(store: &MemoryStore, app: &App, channel: &str, n: usize) -> Vec<Position> {
    let stats = AllStats::default();
    (0..n)
        .map(|i| {
            let frame = sockwave_protocol::messages::channel_event("e", channel, &i.to_string());
            store.append(app, channel, &frame, &stats, |_, _| {})
        })
        .collect()
}

#[test]
fn resume_returns_what_came_after_in_order() {
    let store = MemoryStore::default();
    let app = app(100);
    let stats = AllStats::default();
    let fresh = store.read(&app, "history-a", Since::Now, MAX_READ, &stats);
    assert_eq!(
        fresh.latest.seq, 0,
        "a history exists before its first event"
    );
    let positions = publish(&store, &app, "history-a", 5);
    assert_eq!(positions[0].epoch, fresh.latest.epoch);
    assert_eq!(positions[4].seq, 5);
    let read = after(&store, &app, "history-a", &positions[1]);
    assert_eq!(read.gap, None);
    let seqs: Vec<u64> = read.events.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [3, 4, 5]);
    let frame: serde_json::Value = serde_json::from_str(read.events[0].1.as_str()).unwrap();
    assert_eq!(frame["position"], positions[2].to_string());
    assert_eq!(frame["data"], "2");
    let all = store.read(&app, "history-a", Since::Start, 2, &stats);
    let seqs: Vec<u64> = all.events.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [4, 5], "the last ones");
    let up_to_date = after(&store, &app, "history-a", &positions[4]);
    assert!(up_to_date.events.is_empty() && up_to_date.gap.is_none());
}

#[test]
fn a_history_that_no_longer_reaches_back_says_so() {
    let store = MemoryStore::default();
    let app = app(3);
    let positions = publish(&store, &app, "history-a", 6);
    let read = after(&store, &app, "history-a", &positions[0]);
    assert_eq!(read.gap, Some(Gap::TooOld));
    assert!(read.events.is_empty(), "no partial replay with a gap");
    let read = after(&store, &app, "history-a", &positions[2]);
    assert_eq!(read.gap, None, "events 4-6 are all kept");
    let other_epoch = Position {
        epoch: "0000beef".into(),
        seq: 1,
    };
    let read = after(&store, &app, "history-a", &other_epoch);
    assert_eq!(read.gap, Some(Gap::HistoryLost));
    let ahead = Position {
        seq: 99,
        ..positions[0].clone()
    };
    let read = after(&store, &app, "history-a", &ahead);
    assert_eq!(read.gap, Some(Gap::UnknownPosition));
}

#[test]
fn old_events_expire() {
    let store = MemoryStore::default();
    let mut app = app(100);
    app.history.max_age = Duration::from_millis(30);
    let positions = publish(&store, &app, "history-a", 2);
    std::thread::sleep(Duration::from_millis(60));
    let read = after(&store, &app, "history-a", &positions[0]);
    assert_eq!(read.gap, Some(Gap::TooOld));
    let read = after(&store, &app, "history-a", &positions[1]);
    assert_eq!(
        read.gap, None,
        "up to date when the events expired: nothing missed"
    );
    assert_eq!(store.held(&app.id).1, 0);
}

#[test]
fn the_app_budget_evicts_the_least_recently_used_channel() {
    let store = MemoryStore::default();
    let mut app = app(1000);
    app.history.max_app_bytes = 8 * 1024;
    let old = publish(&store, &app, "history-old", 10);
    for i in 0..200 {
        publish(&store, &app, &format!("history-{}", i % 4), 1);
    }
    let (_, _, bytes) = store.held(&app.id);
    assert!(bytes <= 8 * 1024, "{bytes} bytes held");
    let read = after(&store, &app, "history-old", &old[9]);
    assert_eq!(
        read.gap,
        Some(Gap::HistoryLost),
        "evicted whole: a new epoch"
    );
}

#[test]
fn per_channel_bytes_are_bounded() {
    let store = MemoryStore::default();
    let mut app = app(1000);
    app.history.max_channel_bytes = 1000;
    publish(&store, &app, "history-a", 100);
    let (_, events, _) = store.held(&app.id);
    assert!(events < 100 && events > 5, "{events} events kept");
}

#[test]
fn subscribes_to_many_names_never_push_out_histories_with_events() {
    let store = MemoryStore::default();
    let mut app = app(100);
    app.history.max_app_bytes = 1024 * 1024;
    let stats = AllStats::default();
    let kept = publish(&store, &app, "history-real", 3);
    for i in 0..30_000 {
        store.read(&app, &format!("history-x{i}"), Since::Now, MAX_READ, &stats);
    }
    let (channels, events, bytes) = store.held(&app.id);
    assert!(channels <= 10_001, "{channels} histories held");
    assert_eq!(events, 3);
    assert!(bytes <= 1024 * 1024);
    let read = after(&store, &app, "history-real", &kept[0]);
    assert_eq!(read.gap, None, "the published channel kept its history");
    assert_eq!(read.events.len(), 2);
}
