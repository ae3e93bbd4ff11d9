//! Warnings that point at the usual broken-pipeline causes, logged and shown in the console:
//! a publish to a channel nobody hears while sockets listen on a near-identical name (a
//! missing `private-` prefix or a stray dot), and connected clients with no publishes for a
//! long time (the backend is probably not broadcasting).

use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::context::Context;

/// How often the same hint may repeat for the same channel.
const REPEAT_AFTER: Duration = Duration::from_secs(60);

/// Prefixes Laravel and pusher-js add or expect; a name without them is the "base" name.
const PREFIXES: [&str; 7] = [
    "private-encrypted-cache-",
    "private-encrypted-",
    "private-cache-",
    "presence-cache-",
    "private-",
    "presence-",
    "cache-",
];

/// The name with channel-kind prefixes and a leading dot removed, lower-cased.
pub fn base_name(channel: &str) -> String {
    let mut name = channel;
    for prefix in PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
            break;
        }
    }
    name.trim_start_matches('.').to_ascii_lowercase()
}

/// Remembers publish times and which hints were given recently.
#[derive(Debug, Default)]
pub struct Hints {
    last_publish: DashMap<String, Instant>,
    warned: DashMap<(String, String), Instant>,
}

impl Hints {
    /// Records a publish to an app.
    pub fn note_publish(&self, app_id: &str, now: Instant) {
        self.last_publish.insert(app_id.to_string(), now);
    }

    fn due(&self, app_id: &str, key: &str, now: Instant, every: Duration) -> bool {
        let key = (app_id.to_string(), key.to_string());
        if self
            .warned
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < every)
        {
            return false;
        }
        self.warned.insert(key, now);
        true
    }

    /// After a publish that reached nobody in the cluster: is somebody listening on a
    /// near-identical name?
    pub fn check_unheard(
        &self,
        ctx: &Context,
        app_id: &str,
        channel: &str,
        event: &str,
        now: Instant,
    ) {
        let base = base_name(channel);
        let near: Vec<(String, usize)> = ctx
            .cluster
            .lock()
            .channels(app_id, "")
            .into_iter()
            .filter(|(name, count)| *count > 0 && name != channel && base_name(name) == base)
            .collect();
        let Some((listened, subscribers)) = near.into_iter().max_by_key(|(_, count)| *count) else {
            return;
        };
        if !self.due(app_id, channel, now, REPEAT_AFTER) {
            return;
        }
        let message = format!(
            "event '{event}' was published to '{channel}', which has no subscribers, while {subscribers} socket(s) listen on '{listened}': check the channel name on both sides (PrivateChannel/PresenceChannel add the 'private-'/'presence-' prefix)"
        );
        tracing::warn!(app_id, channel, listened = %listened, "{message}");
        ctx.console_tap.emit(
            app_id,
            "warning",
            || serde_json::json!({ "message": message }),
        );
    }

    /// Periodic check: apps with connected clients and no publish for `after`.
    pub fn check_idle(&self, ctx: &Context, started: Instant, after: Duration, now: Instant) {
        for app_id in ctx.registry.connection_counts().into_keys() {
            let connections = ctx.registry.app(&app_id).connection_count()
                + ctx.cluster.lock().remote_connections(&app_id);
            if connections == 0 {
                continue;
            }
            let last = self.last_publish.get(&app_id).map_or(started, |at| *at);
            if now.duration_since(last) < after || !self.due(&app_id, "", now, after) {
                continue;
            }
            let minutes = now.duration_since(last).as_secs() / 60;
            let message = format!(
                "app '{app_id}' has {connections} connected client(s) but received no HTTP publish for {minutes} minute(s): is the backend broadcasting? Check BROADCAST_CONNECTION/BROADCAST_DRIVER (not log or null), the queue worker, and the backend's PUSHER_HOST/PORT (sockwave doctor --env .env)"
            );
            tracing::warn!(app_id = %app_id, connections, minutes, "{message}");
            ctx.console_tap.emit(
                &app_id,
                "warning",
                || serde_json::json!({ "message": message }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::base_name;

    #[test]
    fn near_identical_names_share_a_base() {
        assert_eq!(
            base_name("private-dashboard-stats"),
            base_name("dashboard-stats")
        );
        assert_eq!(base_name("presence-room.1"), base_name("room.1"));
        assert_eq!(base_name(".orders"), base_name("orders"));
        assert_eq!(base_name("private-encrypted-cache-x"), "x");
        assert_ne!(base_name("private-a"), base_name("private-b"));
    }
}
