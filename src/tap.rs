//! The console tap: a bounded broadcast of diagnostic events that costs the hot paths one
//! atomic load while no console is open.
//!
//! Events are built only when somebody listens (`emit` takes a closure). A stream that cannot
//! keep up loses the oldest events and is told how many it missed; the server never waits
//! for a console.

use sockwave_protocol::AppId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// Events buffered per stream before the slowest one starts missing events.
const TAP_CAPACITY: usize = 1024;

/// One console event, already serialised, tagged with its app.
#[derive(Debug)]
pub(crate) struct TapEvent {
    /// The app it belongs to (streams only see their app).
    pub app_id: AppId,
    /// The JSON object sent to the page.
    pub json: String,
}

/// The broadcast side of the console.
#[derive(Debug)]
pub(crate) struct Tap {
    sender: broadcast::Sender<Arc<TapEvent>>,
    /// Frames queued to sockets per app, for the messages-per-second counter; only counted
    /// while a console listens.
    messages: DashMap<AppId, AtomicU64>,
}

impl Default for Tap {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(TAP_CAPACITY);
        Tap {
            sender,
            messages: DashMap::new(),
        }
    }
}

impl Tap {
    /// Whether any console stream is open.
    pub(crate) fn active(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Sends an event of `kind` to the app's open streams; `fields` is only called when
    /// somebody listens.
    pub(crate) fn emit(&self, app_id: &AppId, kind: &str, fields: impl FnOnce() -> Value) {
        self.send(app_id, kind, false, fields);
    }

    /// Like `emit`, for an event whose text a client the server did not authenticate wrote
    /// (a stranger's subscribe, a refused API call): the page marks it `client_supplied`, so
    /// nobody can pass off a convincing fake row as the server's.
    pub(crate) fn emit_client_supplied(
        &self,
        app_id: &AppId,
        kind: &str,
        fields: impl FnOnce() -> Value,
    ) {
        self.send(app_id, kind, true, fields);
    }

    fn send(
        &self,
        app_id: &AppId,
        kind: &str,
        client_supplied: bool,
        fields: impl FnOnce() -> Value,
    ) {
        if !self.active() {
            return;
        }
        let mut object = match fields() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        object.insert("kind".into(), kind.into());
        object.insert("time_ms".into(), now_ms().into());
        object.insert("app_id".into(), app_id.as_str().into());
        if client_supplied {
            object.insert("client_supplied".into(), true.into());
        }
        let event = TapEvent {
            app_id: app_id.clone(),
            json: Value::Object(object).to_string(),
        };
        // No receiver between the check and the send is fine: the event had no audience.
        let _ = self.sender.send(Arc::new(event));
    }

    /// Counts frames queued to an app's sockets (publishes, client events).
    pub(crate) fn count_messages(&self, app_id: &AppId, n: usize) {
        if n == 0 || !self.active() {
            return;
        }
        if let Some(counter) = self.messages.get(app_id) {
            counter.fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        self.messages
            .entry(app_id.clone())
            .or_default()
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Total frames counted for an app so far.
    pub(crate) fn messages(&self, app_id: &AppId) -> u64 {
        self.messages
            .get(app_id)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A new stream's receiver.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<TapEvent>> {
        self.sender.subscribe()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_built_only_for_listeners() {
        let tap = Tap::default();
        tap.emit(&AppId::from("a"), "x", || panic!("nobody listens"));
        let mut rx = tap.subscribe();
        tap.emit(
            &AppId::from("a"),
            "subscribed",
            || serde_json::json!({"channel": "c"}),
        );
        let event = rx.try_recv().unwrap();
        let json: Value = serde_json::from_str(&event.json).unwrap();
        assert_eq!(
            (
                json["kind"].as_str(),
                json["channel"].as_str(),
                event.app_id.as_str()
            ),
            (Some("subscribed"), Some("c"), "a")
        );
        tap.emit_client_supplied(&AppId::from("a"), "subscription_failed", || {
            serde_json::json!({})
        });
        let json: Value = serde_json::from_str(&rx.try_recv().unwrap().json).unwrap();
        assert_eq!(json["client_supplied"], true);
        tap.count_messages(&AppId::from("a"), 3);
        assert_eq!(tap.messages(&AppId::from("a")), 3);
    }

    #[test]
    fn a_slow_stream_is_told_what_it_missed() {
        let tap = Tap::default();
        let mut rx = tap.subscribe();
        for _ in 0..TAP_CAPACITY + 5 {
            tap.emit(&AppId::from("a"), "x", || Value::Null);
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
    }
}
