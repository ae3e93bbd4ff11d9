//! Prometheus metrics: the handle every task records into, and the exporter endpoint.
//!
//! `Metrics` lives in `Context` and is always present: when metrics are off it is a no-op, so
//! callers never check whether metrics are enabled. Hot paths (the connection read and write
//! loops, the HTTP API) record through an `AppMetrics` resolved once per socket or request,
//! whose counters are pre-labelled with the app id, so a message costs a few relaxed atomic
//! adds and no label lookup.
//!
//! Gauges are never incremented and decremented: `connected`, `channels` and
//! `presence_members` are read from the registry when Prometheus scrapes (`scrape`), so they
//! cannot drift or go negative. Webhook and adapter counters are read from the components that
//! already count them, at scrape time too.
//!
//! Metric names live in `names`; the HTTP listener in `exporter`. This module does not decide
//! whether metrics are enabled (that is `server.rs`, from the config).

pub(crate) mod names;
mod scrape;

pub(crate) use scrape::{AdapterReadings, AppReadings, HistoryReadings, Readings, WebhookReadings};

use sockwave_protocol::AppId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use names::Spec;

/// The recording handle. Cloning is cheap.
#[derive(Clone)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
    disabled_app: Arc<AppMetrics>,
}

struct Inner {
    registry: prometheus::Registry,
    per_app: PerApp,
    apps: DashMap<AppId, Arc<AppMetrics>>,
    scrape: Mutex<scrape::Gauges>,
}

/// The per-app counter families; `AppMetrics` holds children of these.
#[derive(Clone)]
struct PerApp {
    new_connections: IntCounterVec,
    new_disconnections: IntCounterVec,
    socket_received_bytes: IntCounterVec,
    socket_transmitted_bytes: IntCounterVec,
    ws_messages_received: IntCounterVec,
    ws_messages_sent: IntCounterVec,
    http_received_bytes: IntCounterVec,
    http_transmitted_bytes: IntCounterVec,
    http_calls_received: IntCounterVec,
    slow_consumer_closes: IntCounterVec,
    publish_enqueue_seconds: HistogramVec,
    fanout_seconds: HistogramVec,
    subscription_failures: IntCounterVec,
    http_rejections: IntCounterVec,
    rate_limited: IntCounterVec,
}

/// Why a subscription was refused (the `reason` label of `subscription_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionFailure {
    /// Bad or missing signature or channel data.
    Auth,
    /// Invalid or reserved channel name.
    InvalidChannel,
    /// Presence channel full, or member data too large.
    LimitReached,
}

impl SubscriptionFailure {
    fn label(self) -> &'static str {
        match self {
            SubscriptionFailure::Auth => "auth",
            SubscriptionFailure::InvalidChannel => "invalid_channel",
            SubscriptionFailure::LimitReached => "limit_reached",
        }
    }
}

/// Which limit refused something (the `limit` label of `rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_backend_events_per_second`.
    BackendEvents,
    /// `max_read_requests_per_second`.
    ReadRequests,
    /// `max_client_events_per_second` (per socket).
    ClientEvents,
    /// `max_connections` (per app).
    Connections,
    /// `ws_connections_per_ip` (concurrent sockets per client address).
    IpConnections,
    /// `ws_new_connections_per_ip_per_second`.
    IpNewConnections,
    /// Publishes refused while a node is behind (backpressure).
    Backpressure,
}

impl Limit {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Limit::BackendEvents => "backend_events",
            Limit::ReadRequests => "read_requests",
            Limit::ClientEvents => "client_events",
            Limit::Connections => "connections",
            Limit::IpConnections => "ip_connections",
            Limit::IpNewConnections => "ip_new_connections",
            Limit::Backpressure => "cluster_backpressure",
        }
    }
}

impl Metrics {
    /// Metrics off: every recording call does nothing.
    pub fn disabled() -> Metrics {
        Metrics {
            inner: None,
            disabled_app: Arc::new(AppMetrics::default()),
        }
    }

    /// Metrics on, names starting with `prefix`; `port` is the constant `port` label.
    pub fn new(prefix: &str, port: u16) -> Result<Metrics, prometheus::Error> {
        let labels = HashMap::from([("port".to_string(), port.to_string())]);
        let registry = prometheus::Registry::new_custom(None, Some(labels))?;
        let counter = |spec: Spec| -> Result<IntCounterVec, prometheus::Error> {
            let vec = IntCounterVec::new(opts(prefix, spec), spec.labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let latency = HistogramVec::new(
            HistogramOpts::from(opts(prefix, names::PUBLISH_ENQUEUE_SECONDS))
                .buckets(names::LATENCY_BUCKETS.to_vec()),
            names::PUBLISH_ENQUEUE_SECONDS.labels,
        )?;
        registry.register(Box::new(latency.clone()))?;
        let fanout = HistogramVec::new(
            HistogramOpts::from(opts(prefix, names::FANOUT_SECONDS))
                .buckets(names::FANOUT_BUCKETS.to_vec()),
            names::FANOUT_SECONDS.labels,
        )?;
        registry.register(Box::new(fanout.clone()))?;
        let per_app = PerApp {
            new_connections: counter(names::NEW_CONNECTIONS)?,
            new_disconnections: counter(names::NEW_DISCONNECTIONS)?,
            socket_received_bytes: counter(names::SOCKET_RECEIVED_BYTES)?,
            socket_transmitted_bytes: counter(names::SOCKET_TRANSMITTED_BYTES)?,
            ws_messages_received: counter(names::WS_MESSAGES_RECEIVED)?,
            ws_messages_sent: counter(names::WS_MESSAGES_SENT)?,
            http_received_bytes: counter(names::HTTP_RECEIVED_BYTES)?,
            http_transmitted_bytes: counter(names::HTTP_TRANSMITTED_BYTES)?,
            http_calls_received: counter(names::HTTP_CALLS_RECEIVED)?,
            slow_consumer_closes: counter(names::SLOW_CONSUMER_CLOSES)?,
            publish_enqueue_seconds: latency,
            fanout_seconds: fanout,
            subscription_failures: counter(names::SUBSCRIPTION_FAILURES)?,
            http_rejections: counter(names::HTTP_REJECTIONS)?,
            rate_limited: counter(names::RATE_LIMITED)?,
        };
        let gauges = scrape::Gauges::register(&registry, prefix)?;
        #[cfg(target_os = "linux")]
        {
            // Process metrics (CPU, memory, file descriptors) under the same prefix, as
            // Soketi's default metrics are.
            let namespace = prefix.trim_end_matches('_');
            let pid = i32::try_from(std::process::id()).unwrap_or_default();
            registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::new(pid, namespace),
            ))?;
        }
        Ok(Metrics {
            inner: Some(Arc::new(Inner {
                registry,
                per_app,
                apps: DashMap::new(),
                scrape: Mutex::new(gauges),
            })),
            disabled_app: Arc::new(AppMetrics::default()),
        })
    }

    /// Whether metrics are recorded.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The pre-labelled counters of one app. Resolve once per socket or request and keep it.
    pub fn app(&self, app_id: &AppId) -> Arc<AppMetrics> {
        let Some(inner) = &self.inner else {
            return self.disabled_app.clone();
        };
        if let Some(app) = inner.apps.get(app_id) {
            return app.clone();
        }
        inner
            .apps
            .entry(app_id.clone())
            .or_insert_with(|| Arc::new(AppMetrics::new(&inner.per_app, app_id)))
            .clone()
    }

    /// Counts a rejected HTTP API request; `app_id` is `None` when the app is unknown, so
    /// made-up ids cannot create series.
    pub fn http_rejected(&self, app_id: Option<&AppId>, reason: &str) {
        if let Some(inner) = &self.inner {
            inner
                .per_app
                .http_rejections
                .with_label_values(&[app_id.map_or("", AppId::as_str), reason])
                .inc();
        }
    }

    /// Counts a connection refused by a per-IP limit (before any app is known).
    pub fn ip_limited(&self, limit: Limit) {
        if let Some(inner) = &self.inner {
            inner
                .per_app
                .rate_limited
                .with_label_values(&["", limit.label()])
                .inc();
        }
    }
}

fn opts(prefix: &str, spec: Spec) -> Opts {
    Opts::new(format!("{prefix}{}", spec.name), spec.help)
}

/// One app's counters, already labelled. Every method is a no-op when metrics are off.
#[derive(Default)]
pub struct AppMetrics {
    counters: Option<AppCounters>,
}

struct AppCounters {
    app_id: AppId,
    families: PerApp,
    new_connections: IntCounter,
    new_disconnections: IntCounter,
    socket_received_bytes: IntCounter,
    socket_transmitted_bytes: IntCounter,
    ws_messages_received: IntCounter,
    ws_messages_sent: IntCounter,
    http_received_bytes: IntCounter,
    http_transmitted_bytes: IntCounter,
    http_calls_received: IntCounter,
    slow_consumer_closes: IntCounter,
    publish_enqueue_seconds: Histogram,
    fanout_seconds: Histogram,
}

impl std::fmt::Debug for AppMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppMetrics")
            .field("enabled", &self.counters.is_some())
            .finish()
    }
}

impl AppMetrics {
    fn new(families: &PerApp, app_id: &AppId) -> AppMetrics {
        let labels = [app_id];
        AppMetrics {
            counters: Some(AppCounters {
                app_id: app_id.clone(),
                new_connections: families.new_connections.with_label_values(&labels),
                new_disconnections: families.new_disconnections.with_label_values(&labels),
                socket_received_bytes: families.socket_received_bytes.with_label_values(&labels),
                socket_transmitted_bytes: families
                    .socket_transmitted_bytes
                    .with_label_values(&labels),
                ws_messages_received: families.ws_messages_received.with_label_values(&labels),
                ws_messages_sent: families.ws_messages_sent.with_label_values(&labels),
                http_received_bytes: families.http_received_bytes.with_label_values(&labels),
                http_transmitted_bytes: families.http_transmitted_bytes.with_label_values(&labels),
                http_calls_received: families.http_calls_received.with_label_values(&labels),
                slow_consumer_closes: families.slow_consumer_closes.with_label_values(&labels),
                publish_enqueue_seconds: families
                    .publish_enqueue_seconds
                    .with_label_values(&labels),
                fanout_seconds: families.fanout_seconds.with_label_values(&labels),
                families: families.clone(),
            }),
        }
    }

    /// A socket was admitted.
    pub fn connection_opened(&self) {
        if let Some(c) = &self.counters {
            c.new_connections.inc();
        }
    }

    /// An admitted socket closed.
    pub fn connection_closed(&self) {
        if let Some(c) = &self.counters {
            c.new_disconnections.inc();
        }
    }

    /// One WebSocket message of `n_bytes` payload bytes arrived.
    pub fn ws_received(&self, n_bytes: usize) {
        if let Some(c) = &self.counters {
            c.ws_messages_received.inc();
            c.socket_received_bytes.inc_by(n_bytes as u64);
        }
    }

    /// `n_messages` WebSocket messages with `n_bytes` payload bytes in total were written.
    pub fn ws_sent(&self, n_messages: usize, n_bytes: usize) {
        if let Some(c) = &self.counters {
            c.ws_messages_sent.inc_by(n_messages as u64);
            c.socket_transmitted_bytes.inc_by(n_bytes as u64);
        }
    }

    /// An HTTP API request for this app was answered (or rejected).
    pub fn http_call(&self, received_bytes: u64, transmitted_bytes: u64) {
        if let Some(c) = &self.counters {
            c.http_calls_received.inc();
            c.http_received_bytes.inc_by(received_bytes);
            c.http_transmitted_bytes.inc_by(transmitted_bytes);
        }
    }

    /// A socket was closed as a slow consumer (4100).
    pub fn slow_consumer_closed(&self) {
        if let Some(c) = &self.counters {
            c.slow_consumer_closes.inc();
        }
    }

    /// An HTTP publish reached every local socket queue `elapsed` after it arrived.
    pub fn publish_enqueued(&self, elapsed: Duration) {
        if let Some(c) = &self.counters {
            c.publish_enqueue_seconds.observe(elapsed.as_secs_f64());
        }
    }

    /// A broadcast reached its last local subscriber `elapsed` after it was accepted.
    pub fn fanout_finished(&self, elapsed: Duration) {
        if let Some(c) = &self.counters {
            c.fanout_seconds.observe(elapsed.as_secs_f64());
        }
    }

    /// Whether anything is recorded (callers skip timing work otherwise).
    pub fn is_enabled(&self) -> bool {
        self.counters.is_some()
    }

    /// A subscription was refused.
    pub fn subscription_failed(&self, reason: SubscriptionFailure) {
        if let Some(c) = &self.counters {
            c.families
                .subscription_failures
                .with_label_values(&[c.app_id.as_str(), reason.label()])
                .inc();
        }
    }

    /// Something was refused by `limit`.
    pub fn rate_limited(&self, limit: Limit) {
        if let Some(c) = &self.counters {
            c.families
                .rate_limited
                .with_label_values(&[c.app_id.as_str(), limit.label()])
                .inc();
        }
    }
}
