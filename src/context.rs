//! What every connection task and HTTP handler shares: configuration, the app store, the
//! registry, the webhook sender and the shutdown signals. Built once in `server.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapter::Cluster;
use crate::app::AppStore;
use crate::config::ServerConfig;
use crate::hints::Hints;
use crate::history::History;
use crate::http::body::BodyBudget;
use crate::metrics::Metrics;
use crate::pressure::Pressure;
use crate::rate_limit::RateLimits;
use crate::registry::{Registry, SocketIdGenerator};
use crate::tap::Tap;
use crate::webhooks::Webhooks;

/// Shared server state.
pub struct Context {
    /// Server-wide settings.
    pub(crate) config: ServerConfig,
    /// App lookup by id and key.
    pub apps: Arc<dyn AppStore>,
    /// Node-local sockets, channels and presence.
    pub registry: Registry,
    /// Unique socket ids.
    pub socket_ids: SocketIdGenerator,
    /// The webhook sender; `emit` never blocks.
    pub webhooks: Webhooks,
    /// This node's place in the cluster (a cluster of one by default).
    pub cluster: Cluster,
    /// Diagnostic events for open console streams.
    pub(crate) console_tap: Tap,
    /// Broken-pipeline hints.
    pub(crate) hints: Hints,
    /// Backpressure: this node's and the other nodes' (`pressure`).
    pub(crate) pressure: Arc<Pressure>,
    /// Channel history for recovery: in memory, or in the cluster's Redis (`server.rs`).
    pub(crate) history: History,
    /// Prometheus metrics; a no-op unless enabled (`server.rs` replaces it).
    pub metrics: Metrics,
    /// HTTP API and per-IP limits; local unless `server.rs` picks the Redis limiter.
    pub rate_limits: RateLimits,
    /// Native TLS, when a certificate is configured (`server.rs` sets it).
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// Request body bytes in flight, server-wide (`request_body_budget_kb`).
    pub(crate) body_budget: BodyBudget,
    /// Cancelled when sockets must close with 4200 (shutdown).
    pub(crate) close_sockets: CancellationToken,
    /// Every socket task, so shutdown can wait until their close frames are out.
    pub(crate) socket_tasks: TaskTracker,
    draining: AtomicBool,
}

impl Context {
    /// A context with an empty registry.
    pub fn new(
        config: ServerConfig,
        apps: Arc<dyn AppStore>,
        webhooks: Webhooks,
        cluster: Cluster,
    ) -> Context {
        let body_budget = BodyBudget::new(config.request_body_budget_bytes);
        let pressure = Arc::new(Pressure::new(std::time::Duration::from_millis(
            config.backpressure_fanout_ms as u64,
        )));
        Context {
            config,
            apps,
            registry: Registry::default(),
            socket_ids: SocketIdGenerator::default(),
            webhooks,
            cluster,
            console_tap: Tap::default(),
            hints: Hints::default(),
            history: History::memory(),
            pressure,
            metrics: Metrics::disabled(),
            rate_limits: RateLimits::default(),
            tls: None,
            body_budget,
            close_sockets: CancellationToken::new(),
            socket_tasks: TaskTracker::new(),
            draining: AtomicBool::new(false),
        }
    }

    /// Flushes a fan-out and, once its last socket was written, records how long it took
    /// since `accepted`: in `fanout_seconds` (metrics on) and as a backpressure signal
    /// (`pressure`).
    pub(crate) fn finish_fanout(
        &self,
        app: &sockwave_protocol::AppId,
        flushes: crate::outbox::Flushes,
        accepted: tokio::time::Instant,
    ) {
        let metrics = self.metrics.app(app);
        let pressure = self.pressure.clone();
        // A batch with nothing to flush (no local subscriber, or all frames joined queues
        // already being written) says nothing about how long fan-outs take.
        // Every publish counts as started, flushed or not: one whose frames all joined queues
        // already being written is still work behind the fan-outs in progress.
        let ticket = pressure.fanout_started();
        if !flushes.is_empty() && (metrics.is_enabled() || pressure.enabled()) {
            flushes.flush_then(move || {
                let elapsed = accepted.elapsed();
                metrics.fanout_finished(elapsed);
                pressure.note_fanout(ticket, elapsed);
            });
        } else {
            flushes.flush();
        }
    }

    /// Marks the server as shutting down: `/ready` answers 503 and upgrades are refused.
    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the server is shutting down.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}
