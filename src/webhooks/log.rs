//! The delivery log: for each app, a bounded list of its most recent webhook requests (when,
//! where, which events, the last status, how many attempts, the outcome and the last error)
//! and its counters, so an app owner can see why a webhook did not arrive.
//!
//! One `std::sync::Mutex` guards the map: every critical section is a few field updates and
//! no guard crosses an `.await`. Writers are the delivery worker and its requests, plus
//! `emit` only when the queue overflows; the hot path never takes this lock.

use sockwave_protocol::AppId;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

use super::counters::{Counter, CounterSnapshot};

/// Consecutive drops for the same URL within this time share one log record.
const COALESCE_DROPS_MS: u64 = 1000;
/// Most event names one coalesced drop record lists.
const MAX_NAMES_PER_DROP: usize = 100;

/// How a logged request ended, or where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The last attempt failed; another one is scheduled.
    Retrying,
    /// Given up: a permanent error, or the retry budget ran out.
    Failed,
    /// Never sent: the queue or the target's backlog was full.
    Dropped,
}

/// One request (or one run of dropped events) in the log.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    #[serde(skip)]
    id: u64,
    /// When the batch was assembled (or the first event dropped), ms since the Unix epoch.
    pub(crate) time_ms: u64,
    /// The target URL.
    pub(crate) url: String,
    /// The names of the events, one per event.
    pub(crate) events: Vec<&'static str>,
    /// The last HTTP status, `None` when the receiver never answered.
    pub(crate) status: Option<u16>,
    /// Attempts made so far.
    pub(crate) attempts: u32,
    /// Where the request stands.
    pub(crate) outcome: Outcome,
    /// The last error.
    pub(crate) error: Option<String>,
}

impl Record {
    /// A record not yet in the log.
    pub(crate) fn new(time_ms: u64, url: &str, events: Vec<&'static str>) -> Record {
        Record {
            id: 0,
            time_ms,
            url: url.to_string(),
            events,
            status: None,
            attempts: 0,
            outcome: Outcome::Retrying,
            error: None,
        }
    }
}

#[derive(Debug, Default)]
struct AppLog {
    records: VecDeque<Record>,
    counters: CounterSnapshot,
}

/// Every app's recent deliveries and counters.
#[derive(Debug)]
pub(crate) struct DeliveryLog {
    size: usize,
    next_id: AtomicU64,
    apps: Mutex<HashMap<AppId, AppLog>>,
}

impl DeliveryLog {
    /// A log keeping the last `size` records per app.
    pub(crate) fn new(size: usize) -> DeliveryLog {
        DeliveryLog {
            size,
            next_id: AtomicU64::new(1),
            apps: Mutex::new(HashMap::new()),
        }
    }

    fn with_app<T>(&self, app_id: &AppId, f: impl FnOnce(&mut AppLog) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update of a statistic; the log
        // stays usable.
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if !apps.contains_key(app_id) {
            apps.insert(app_id.clone(), AppLog::default());
        }
        f(apps.get_mut(app_id).expect("inserted above"))
    }

    /// Adds a record; returns its id for later updates.
    pub(crate) fn insert(&self, app_id: &AppId, mut record: Record) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        record.id = id;
        let size = self.size;
        self.with_app(app_id, |log| push_bounded(&mut log.records, record, size));
        id
    }

    /// Changes a record, if it is still in the log.
    pub(crate) fn update(&self, app_id: &AppId, id: u64, change: impl FnOnce(&mut Record)) {
        self.with_app(app_id, |log| {
            if let Some(record) = log.records.iter_mut().rev().find(|r| r.id == id) {
                change(record);
            }
        });
    }

    /// Records a dropped event, joining the newest record when it is a recent drop for the
    /// same URL so an overflow does not flush the whole log.
    pub(crate) fn dropped(
        &self,
        app_id: &AppId,
        url: &str,
        event: &'static str,
        reason: &str,
        time_ms: u64,
    ) {
        let size = self.size;
        let next_id = &self.next_id;
        self.with_app(app_id, |log| {
            log.counters.add(Counter::Dropped, 1);
            if let Some(last) = log.records.back_mut() {
                let joinable = last.outcome == Outcome::Dropped
                    && last.url == url
                    && time_ms.saturating_sub(last.time_ms) < COALESCE_DROPS_MS
                    && last.events.len() < MAX_NAMES_PER_DROP;
                if joinable {
                    last.events.push(event);
                    return;
                }
            }
            let mut record = Record::new(time_ms, url, vec![event]);
            record.id = next_id.fetch_add(1, Ordering::Relaxed);
            record.outcome = Outcome::Dropped;
            record.error = Some(reason.to_string());
            push_bounded(&mut log.records, record, size);
        });
    }

    /// Adds to one of an app's counters.
    pub(crate) fn count(&self, app_id: &AppId, counter: Counter, n: u64) {
        self.with_app(app_id, |log| log.counters.add(counter, n));
    }

    /// The app's records, newest first, and its counters.
    pub(crate) fn report(&self, app_id: &AppId) -> Value {
        self.with_app(app_id, |log| {
            let deliveries: Vec<&Record> = log.records.iter().rev().collect();
            json!({ "deliveries": deliveries, "counters": log.counters })
        })
    }
}

fn push_bounded(records: &mut VecDeque<Record>, record: Record, size: usize) {
    if size == 0 {
        return;
    }
    while records.len() >= size {
        records.pop_front();
    }
    records.push_back(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(log: &DeliveryLog, app: &AppId) -> Vec<(String, Vec<String>)> {
        let report = log.report(app);
        report["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let events = r["events"].as_array().unwrap().iter();
                (
                    r["outcome"].as_str().unwrap().to_string(),
                    events.map(|e| e.as_str().unwrap().to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn bounded_newest_first_and_updatable() {
        let log = DeliveryLog::new(2);
        let first = log.insert(
            &AppId::from("a"),
            Record::new(1, "http://x", vec!["channel_occupied"]),
        );
        let second = log.insert(
            &AppId::from("a"),
            Record::new(2, "http://x", vec!["member_added"]),
        );
        log.update(&AppId::from("a"), second, |r| {
            r.outcome = Outcome::Delivered
        });
        log.insert(
            &AppId::from("a"),
            Record::new(3, "http://x", vec!["cache_miss"]),
        );
        log.update(&AppId::from("a"), first, |r| r.outcome = Outcome::Failed);
        assert_eq!(
            outcomes(&log, &AppId::from("a")),
            [
                ("retrying".to_string(), vec!["cache_miss".to_string()]),
                ("delivered".to_string(), vec!["member_added".to_string()]),
            ]
        );
        assert_eq!(outcomes(&log, &AppId::from("b")), []);
    }

    #[test]
    fn drops_coalesce_and_count() {
        let log = DeliveryLog::new(10);
        log.dropped(
            &AppId::from("a"),
            "http://x",
            "client_event",
            "queue full",
            1000,
        );
        log.dropped(
            &AppId::from("a"),
            "http://x",
            "channel_vacated",
            "queue full",
            1500,
        );
        log.dropped(
            &AppId::from("a"),
            "http://y",
            "client_event",
            "queue full",
            1500,
        );
        log.dropped(
            &AppId::from("a"),
            "http://y",
            "client_event",
            "queue full",
            2600,
        );
        let found = outcomes(&log, &AppId::from("a"));
        assert_eq!(found.len(), 3);
        assert_eq!(found[2].1, ["client_event", "channel_vacated"]);
        assert_eq!(log.report(&AppId::from("a"))["counters"]["dropped"], 4);
        assert_eq!(
            log.report(&AppId::from("a"))["deliveries"][0]["error"],
            "queue full"
        );
        assert_eq!(
            log.report(&AppId::from("a"))["deliveries"][0]["status"],
            Value::Null
        );
    }

    #[test]
    fn size_zero_keeps_counters_only() {
        let log = DeliveryLog::new(0);
        log.insert(
            &AppId::from("a"),
            Record::new(1, "http://x", vec!["channel_occupied"]),
        );
        log.count(&AppId::from("a"), Counter::Delivered, 3);
        assert_eq!(outcomes(&log, &AppId::from("a")), []);
        assert_eq!(log.report(&AppId::from("a"))["counters"]["delivered"], 3);
    }
}
