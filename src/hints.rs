//! Warnings that point at the usual broken-pipeline causes, logged and shown in the console:
//! a publish to a channel nobody hears while sockets listen on a near-identical name (a
//! missing `private-` prefix or a stray dot), and connected clients with no publishes for a
//! long time (the backend is probably not broadcasting).

use sockwave_protocol::AppId;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::adapter::view::ClusterView;
use crate::adapter::Cluster;
use crate::registry::Registry;
use crate::tap::Tap;

/// How often the same hint may repeat for the same channel.
const REPEAT_AFTER: Duration = Duration::from_secs(60);

/// Prefixes Laravel and pusher-js add or expect, longest first; a name without them is the
/// "base" name.
const PREFIXES: [&str; 7] = [
    "private-encrypted-cache-",
    "private-encrypted-",
    "private-cache-",
    "presence-cache-",
    "private-",
    "presence-",
    "cache-",
];

/// Most hint records kept; past it the oldest are forgotten (they only suppress repeats).
const MAX_WARNED: usize = 10_000;

/// The name with its channel-kind prefix and leading dots removed, case kept.
fn strip(channel: &str) -> &str {
    let rest = PREFIXES
        .iter()
        .find_map(|prefix| channel.strip_prefix(prefix))
        .unwrap_or(channel);
    rest.trim_start_matches('.')
}

/// The names a channel is commonly confused with: the same base name under every prefix,
/// with and without one leading dot, as written and lower-cased. At most 32 names, so the
/// lookup costs the same however many channels the app has (it is done on the publish
/// path, under the cluster view lock).
pub(crate) fn near_names(channel: &str) -> Vec<String> {
    let base = strip(channel);
    let lower = base.to_ascii_lowercase();
    let bases: &[&str] = if lower == base {
        &[base]
    } else {
        &[base, &lower]
    };
    let mut names = Vec::with_capacity(bases.len() * (PREFIXES.len() + 1) * 2);
    for base in bases {
        for prefix in std::iter::once("").chain(PREFIXES) {
            for dot in ["", "."] {
                let name = format!("{prefix}{dot}{base}");
                if name != channel && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// The most-listened channel, other than `channel`, among its near names; `(name, subscribers)`.
pub(crate) fn listened_near(
    view: &ClusterView,
    app_id: &AppId,
    channel: &str,
) -> Option<(String, usize)> {
    near_names(channel)
        .into_iter()
        .map(|name| {
            let count = view.subscription_count(app_id, &name);
            (name, count)
        })
        .filter(|(_, count)| *count > 0)
        .max_by_key(|(_, count)| *count)
}

/// Remembers publish times and which hints were given recently.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    last_publish: DashMap<AppId, Instant>,
    warned: DashMap<(AppId, String), Instant>,
}

impl Hints {
    /// Records a publish to an app.
    pub(crate) fn note_publish(&self, app_id: &AppId, now: Instant) {
        match self.last_publish.get_mut(app_id) {
            Some(mut at) => *at = now,
            None => {
                self.last_publish.insert(app_id.clone(), now);
            }
        }
    }

    fn due(&self, app_id: &AppId, key: &str, now: Instant, every: Duration) -> bool {
        let key = (app_id.clone(), key.to_string());
        if self
            .warned
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < every)
        {
            return false;
        }
        if self.warned.len() >= MAX_WARNED {
            self.warned
                .retain(|_, at| now.duration_since(*at) < REPEAT_AFTER);
        }
        self.warned.insert(key, now);
        true
    }

    /// After a publish that reached nobody in the cluster while `listened` (from
    /// `listened_near`) has subscribers: warns in the log and the console, at most once a
    /// minute per channel.
    pub(crate) fn report_unheard(
        &self,
        tap: &Tap,
        app_id: &AppId,
        channel: &str,
        event: &str,
        (listened, subscribers): (String, usize),
        now: Instant,
    ) {
        if !self.due(app_id, channel, now, REPEAT_AFTER) {
            return;
        }
        let message = format!(
            "event '{event}' was published to '{channel}', which has no subscribers, while {subscribers} socket(s) listen on '{listened}': check the channel name on both sides (PrivateChannel/PresenceChannel add the 'private-'/'presence-' prefix)"
        );
        tracing::warn!(app_id = %app_id, channel, listened = %listened, "{message}");
        tap.emit(
            app_id,
            "warning",
            || serde_json::json!({ "message": message }),
        );
    }

    /// Periodic check: apps with connected clients and no publish for `after`.
    pub(crate) fn check_idle(
        &self,
        (registry, cluster, tap): (&Registry, &Cluster, &Tap),
        started: Instant,
        after: Duration,
        now: Instant,
    ) {
        for (app_id, local) in registry.connection_counts() {
            let connections = local + cluster.lock().remote_connections(&app_id);
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
            tap.emit(
                &app_id,
                "warning",
                || serde_json::json!({ "message": message }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_cover_prefixes_dots_and_case() {
        let near = near_names("dashboard-stats");
        for name in [
            "private-dashboard-stats",
            ".dashboard-stats",
            "presence-dashboard-stats",
            "private-encrypted-cache-dashboard-stats",
        ] {
            assert!(near.contains(&name.to_string()), "{name} in {near:?}");
        }
        assert!(!near.contains(&"dashboard-stats".to_string()));
        assert!(near_names("private-Orders").contains(&"orders".to_string()));
        assert!(near_names("..room.1").contains(&"presence-room.1".to_string()));
        assert!(near_names("Private-X").len() <= 32);
        assert!(!near_names("private-a").contains(&"private-b".to_string()));
    }

    #[test]
    fn the_most_listened_near_channel_is_named() {
        let now = Instant::now();
        let mut view = ClusterView::new("a");
        let count = |channel: &str, n| crate::adapter::wire::Change::Count {
            channel: channel.into(),
            count: n,
        };
        view.apply("a", &AppId::from("app"), count("private-stats", 3), now);
        view.apply("a", &AppId::from("app"), count("stats", 1), now);
        view.apply("a", &AppId::from("app"), count("other", 9), now);
        assert_eq!(
            listened_near(&view, &AppId::from("app"), "stats"),
            Some(("private-stats".to_string(), 3))
        );
        assert_eq!(
            listened_near(&view, &AppId::from("app"), "presence-stats"),
            Some(("private-stats".to_string(), 3))
        );
        assert_eq!(listened_near(&view, &AppId::from("app"), "nothing"), None);
    }
}
