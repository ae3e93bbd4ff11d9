//! Every metric sockwave exports: base name, help text and labels, in one table.
//!
//! The exported name is the configured prefix (`metrics_prefix`, default `sockwave_`) followed
//! by the base name. The first ten are Soketi's names with Soketi's `app_id` label, so a
//! dashboard written for `soketi_*` works unchanged with `metrics_prefix = "soketi_"`. Every
//! series also carries the constant label `port` (the WebSocket port), as Soketi's do.

/// One metric: its base name (without prefix), help text and variable labels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Name without the prefix.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Variable label names.
    pub labels: &'static [&'static str],
}

const APP: &[&str] = &["app_id"];

/// Sockets connected to this node, per app (derived from the registry at scrape time).
pub(crate) const CONNECTED: Spec = Spec {
    name: "connected",
    help: "Sockets currently connected to this node.",
    labels: APP,
};
/// Sockets admitted since start.
pub(crate) const NEW_CONNECTIONS: Spec = Spec {
    name: "new_connections_total",
    help: "WebSocket connections admitted (after app and quota checks).",
    labels: APP,
};
/// Sockets closed since start.
pub(crate) const NEW_DISCONNECTIONS: Spec = Spec {
    name: "new_disconnections_total",
    help: "WebSocket connections closed, for any reason.",
    labels: APP,
};
/// Payload bytes of WebSocket messages received.
pub(crate) const SOCKET_RECEIVED_BYTES: Spec = Spec {
    name: "socket_received_bytes",
    help: "Payload bytes of WebSocket messages received from clients (after decompression).",
    labels: APP,
};
/// Payload bytes of WebSocket messages sent.
pub(crate) const SOCKET_TRANSMITTED_BYTES: Spec = Spec {
    name: "socket_transmitted_bytes",
    help: "Payload bytes of WebSocket messages written to clients (before compression).",
    labels: APP,
};
/// WebSocket messages received.
pub(crate) const WS_MESSAGES_RECEIVED: Spec = Spec {
    name: "ws_messages_received_total",
    help: "WebSocket text and binary messages received from clients.",
    labels: APP,
};
/// WebSocket messages sent.
pub(crate) const WS_MESSAGES_SENT: Spec = Spec {
    name: "ws_messages_sent_total",
    help: "WebSocket messages written to clients (events, replies, errors; not server pings).",
    labels: APP,
};
/// HTTP API request body bytes.
pub(crate) const HTTP_RECEIVED_BYTES: Spec = Spec {
    name: "http_received_bytes",
    help: "Body bytes of HTTP API requests to a known app.",
    labels: APP,
};
/// HTTP API response body bytes.
pub(crate) const HTTP_TRANSMITTED_BYTES: Spec = Spec {
    name: "http_transmitted_bytes",
    help: "Body bytes of HTTP API responses to requests for a known app.",
    labels: APP,
};
/// HTTP API requests.
pub(crate) const HTTP_CALLS_RECEIVED: Spec = Spec {
    name: "http_calls_received_total",
    help: "HTTP API requests for a known app, answered or rejected.",
    labels: APP,
};

/// Channels with at least one subscriber on this node (scrape time).
pub(crate) const CHANNELS: Spec = Spec {
    name: "channels",
    help: "Channels with at least one subscriber on this node.",
    labels: APP,
};
/// Presence members on this node (scrape time).
pub(crate) const PRESENCE_MEMBERS: Spec = Spec {
    name: "presence_members",
    help: "Presence channel members (user per channel) with a socket on this node.",
    labels: APP,
};
/// Refused subscriptions.
pub(crate) const SUBSCRIPTION_FAILURES: Spec = Spec {
    name: "subscription_failures_total",
    help: "Refused subscriptions, by reason (auth, invalid_channel, limit_reached).",
    labels: &["app_id", "reason"],
};
/// Rejected HTTP API requests.
pub(crate) const HTTP_REJECTIONS: Spec = Spec {
    name: "http_rejections_total",
    help: "Rejected HTTP API requests, by reason; app_id is empty when the app is unknown.",
    labels: &["app_id", "reason"],
};
/// Requests, events and connections refused by a rate limit or quota.
pub(crate) const RATE_LIMITED: Spec = Spec {
    name: "rate_limited_total",
    help: "Requests, events and connections refused by a rate limit or quota, by limit.",
    labels: &["app_id", "limit"],
};
/// Slow-consumer closes (4100).
pub(crate) const SLOW_CONSUMER_CLOSES: Spec = Spec {
    name: "slow_consumer_closes_total",
    help: "Sockets closed with 4100 because their outbound queue was full.",
    labels: APP,
};
/// Latency from an HTTP publish arriving to its frames sitting in every local socket queue.
pub(crate) const PUBLISH_ENQUEUE_SECONDS: Spec = Spec {
    name: "publish_enqueue_seconds",
    help: "Time from an HTTP publish request arriving to its frames being queued for every local subscriber.",
    labels: APP,
};
/// Fan-out time of one broadcast on this node.
pub(crate) const FANOUT_SECONDS: Spec = Spec {
    name: "fanout_seconds",
    help: "Time from a broadcast accepted on this node (an HTTP publish validated, or a cluster message received) to its frame written to, or queued for, the last local subscriber.",
    labels: APP,
};
/// Webhook events by outcome (read from the webhook sender at scrape time).
pub(crate) const WEBHOOK_EVENTS: Spec = Spec {
    name: "webhook_events_total",
    help: "Webhook events by outcome: accepted (queued), dropped (queue full), delivered (2xx), failed (gave up).",
    labels: &["outcome"],
};
/// Webhook retries (scrape time).
pub(crate) const WEBHOOK_RETRIES: Spec = Spec {
    name: "webhook_retries_total",
    help: "Webhook request attempts after the first.",
    labels: &[],
};
/// Cluster adapter messages (scrape time).
pub(crate) const ADAPTER_MESSAGES: Spec = Spec {
    name: "adapter_messages_total",
    help: "Node-to-node messages, by direction (sent, received).",
    labels: &["direction"],
};
/// Cluster adapter errors (scrape time).
pub(crate) const ADAPTER_ERRORS: Spec = Spec {
    name: "adapter_errors_total",
    help: "Node-to-node messages lost, by kind (dropped: queue full or engine down; undecodable).",
    labels: &["kind"],
};
/// Whether the cluster engine is reachable (scrape time).
pub(crate) const ADAPTER_ENGINE_UP: Spec = Spec {
    name: "adapter_engine_up",
    help: "1 when the cluster engine (Redis/NATS) is reachable or the node runs alone, else 0.",
    labels: &[],
};

/// Events given a history position (scrape time).
pub(crate) const HISTORY_APPENDED: Spec = Spec {
    name: "history_events_total",
    help: "Events published on history channels (each given a position and kept).",
    labels: APP,
};
/// Resumes by outcome (scrape time).
pub(crate) const HISTORY_RESUMES: Spec = Spec {
    name: "history_resumes_total",
    help: "Clients that resumed a history channel: recovered (got every missed event) or gap (told to refetch).",
    labels: &["app_id", "outcome"],
};
/// Events replayed to resuming clients (scrape time).
pub(crate) const HISTORY_REPLAYED: Spec = Spec {
    name: "history_replayed_events_total",
    help: "Missed events replayed to resuming clients.",
    labels: APP,
};
/// History channels held in memory (scrape time).
pub(crate) const HISTORY_CHANNELS: Spec = Spec {
    name: "history_channels",
    help: "Channels with history held in this process (0 when history is kept in Redis).",
    labels: APP,
};
/// History events held in memory (scrape time).
pub(crate) const HISTORY_HELD_EVENTS: Spec = Spec {
    name: "history_held_events",
    help: "Events of history channels held in this process (0 when history is kept in Redis).",
    labels: APP,
};
/// History bytes held in memory (scrape time).
pub(crate) const HISTORY_BYTES: Spec = Spec {
    name: "history_bytes",
    help: "Bytes of history held in this process, counted against history_max_app_kb (0 when history is kept in Redis).",
    labels: APP,
};

/// Every metric, for the documentation test.
#[cfg(test)]
pub(crate) const ALL: &[Spec] = &[
    CONNECTED,
    NEW_CONNECTIONS,
    NEW_DISCONNECTIONS,
    SOCKET_RECEIVED_BYTES,
    SOCKET_TRANSMITTED_BYTES,
    WS_MESSAGES_RECEIVED,
    WS_MESSAGES_SENT,
    HTTP_RECEIVED_BYTES,
    HTTP_TRANSMITTED_BYTES,
    HTTP_CALLS_RECEIVED,
    CHANNELS,
    PRESENCE_MEMBERS,
    SUBSCRIPTION_FAILURES,
    HTTP_REJECTIONS,
    RATE_LIMITED,
    SLOW_CONSUMER_CLOSES,
    PUBLISH_ENQUEUE_SECONDS,
    FANOUT_SECONDS,
    WEBHOOK_EVENTS,
    WEBHOOK_RETRIES,
    ADAPTER_MESSAGES,
    ADAPTER_ERRORS,
    ADAPTER_ENGINE_UP,
    HISTORY_APPENDED,
    HISTORY_RESUMES,
    HISTORY_REPLAYED,
    HISTORY_CHANNELS,
    HISTORY_HELD_EVENTS,
    HISTORY_BYTES,
];

/// Histogram buckets for `fanout_seconds`: 100 µs to 2 s, dense from 10 to 100 ms, where a
/// large fan-out's tail lies.
pub(crate) const FANOUT_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08,
    0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0,
];

/// Histogram buckets for `publish_enqueue_seconds`: 25 µs to about 1.6 s.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 1.6,
];

#[cfg(test)]
mod tests {
    use super::ALL;

    /// docs/metrics.md lists every metric with its labels, so the docs cannot fall behind.
    #[test]
    fn every_metric_is_documented() {
        let doc = include_str!("../../docs/metrics.md");
        for spec in ALL {
            let row = doc
                .lines()
                .find(|line| line.starts_with(&format!("| `{}` |", spec.name)))
                .unwrap_or_else(|| panic!("docs/metrics.md has no row for {}", spec.name));
            for label in spec.labels {
                assert!(
                    row.contains(&format!("`{label}`")),
                    "{}: label {label}",
                    spec.name
                );
            }
        }
    }

    /// The Grafana dashboard queries only metrics that exist.
    #[test]
    fn the_dashboard_uses_real_names() {
        let dashboard = include_str!("../../docs/grafana/sockwave.json");
        let mut n_queries = 0;
        for occurrence in dashboard.split("${prefix}").skip(1) {
            let name: String = occurrence
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let known = name.starts_with("process_")
                || ALL.iter().any(|spec| {
                    name == spec.name
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| name == format!("{}{suffix}", spec.name))
                });
            assert!(known, "the dashboard queries unknown metric {name}");
            n_queries += 1;
        }
        assert!(n_queries > 20);
    }
}
