//! Webhooks: telling an app's backend what happened (channels occupied and vacated, members
//! added and removed, client events, cache misses, subscription counts), reliably.
//!
//! `Webhooks` is the cloneable handle. `emit` is synchronous and never blocks: it checks the
//! app's targets first (an app without webhooks pays one branch), then `try_send`s into one
//! bounded queue; when the queue is full the event is dropped, counted, logged (rate
//! limited) and shown in the delivery log. A single worker task (`worker`) owns everything
//! behind the queue: the leave delay (`delay`), `cache_miss` de-duplication (`dedupe`),
//! per-app-and-target batching (`batch`), and one delivery task per batch (`delivery`) that
//! signs (`sign`) and retries with backoff (`retry`). `log` keeps each app's recent
//! deliveries and `counters` the totals.
//!
//! Guarantee: at-least-once delivery within the retry budget, counted from when the event
//! happened. A request that timed out but reached the receiver is sent again, so a receiver
//! may see a batch twice (same body, same signature).

mod batch;
mod counters;
mod dedupe;
mod delay;
mod delivery;
mod event;
mod log;
mod retry;
mod sign;
mod worker;

use sockwave_protocol::AppId;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{Duration, Instant};

use crate::app::App;
use crate::config::WebhookSettings;
pub(crate) use counters::CounterSnapshot;
use counters::{Counter, Counters};
pub(crate) use event::WebhookEvent;
use log::DeliveryLog;
use worker::Command;

/// Most requests in flight at once, over all apps and targets. Each lane has at most one,
/// so this only matters with many targets; it bounds sockets and memory, not latency.
const MAX_CONCURRENT_REQUESTS: usize = 64;

/// How often a full queue is reported in the log, at most.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Why webhooks could not start.
#[derive(Debug, Error)]
pub enum WebhookError {
    /// The HTTP client could not be built (TLS initialisation).
    #[error("cannot build the webhook HTTP client")]
    Client(#[source] reqwest::Error),
}

/// An event on its way to the worker.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) app: Arc<App>,
    pub(crate) event: WebhookEvent,
    /// When it happened.
    pub(crate) at: Instant,
}

/// What the handle, the worker and the delivery tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    queue: mpsc::Sender<Command>,
    counters: Counters,
    log: DeliveryLog,
    /// When a drop was last logged, and how many were not logged since.
    drop_report: Mutex<(Option<Instant>, u64)>,
}

impl Shared {
    /// Adds to a counter, server-wide and for the app.
    fn count(&self, app_id: &AppId, counter: Counter, n: u64) {
        if n > 0 {
            self.counters.add(counter, n);
            self.log.count(app_id, counter, n);
        }
    }

    /// Counts, records and (at most once per `DROP_REPORT_INTERVAL`) logs a dropped event.
    fn report_drop(&self, app_id: &AppId, url: &str, event: &WebhookEvent, reason: &str) {
        self.counters.add(Counter::Dropped, 1);
        let name = event.kind().name();
        self.log
            .dropped(app_id, url, name, reason, delivery::unix_ms());
        let now = Instant::now();
        // Decide under the lock, log after it: a flood of drops must not queue up behind
        // the log writer.
        let also_dropped = {
            let mut report = self
                .drop_report
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let (last, unreported) = &mut *report;
            if last.is_some_and(|last| now < last + DROP_REPORT_INTERVAL) {
                *unreported += 1;
                return;
            }
            *last = Some(now);
            std::mem::take(unreported)
        };
        tracing::warn!(
            app_id = %app_id,
            url,
            event = name,
            channel = event.channel(),
            reason,
            also_dropped_since_last_report = also_dropped,
            dropped_total = self.counters.snapshot().dropped,
            "webhook event dropped"
        );
    }
}

/// The webhook sender: a cheap, cloneable handle to the delivery worker.
#[derive(Debug, Clone)]
pub struct Webhooks {
    shared: Arc<Shared>,
}

impl Webhooks {
    /// Starts the delivery worker; needs a Tokio runtime.
    pub fn spawn(settings: WebhookSettings) -> Result<Webhooks, WebhookError> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            // A redirected POST turns into a GET without the body: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sockwave/", env!("CARGO_PKG_VERSION"), " webhooks"))
            .build()
            .map_err(WebhookError::Client)?;
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            queue,
            counters: Counters::default(),
            log: DeliveryLog::new(settings.delivery_log_size),
            drop_report: Mutex::new((None, 0)),
        });
        let sender = Arc::new(delivery::Sender {
            client,
            permits: Semaphore::new(MAX_CONCURRENT_REQUESTS),
            retry_budget: settings.retry_budget,
        });
        tokio::spawn(worker::run(shared.clone(), sender, settings, receiver));
        Ok(Webhooks { shared })
    }

    /// Queues `event` for the app's interested targets. Never blocks and never fails: when
    /// the queue is full the event is dropped, counted and logged.
    pub(crate) fn emit(&self, app: &Arc<App>, event: WebhookEvent) {
        let (kind, channel) = (event.kind(), event.channel());
        let Some(first) = app
            .webhooks
            .iter()
            .find(|target| target.concerns(kind, channel))
        else {
            return;
        };
        let item = Queued {
            app: app.clone(),
            event,
            at: Instant::now(),
        };
        match self.shared.queue.try_send(Command::Emit(item)) {
            Ok(()) => self.shared.counters.add(Counter::Accepted, 1),
            Err(err) => {
                let reason = match &err {
                    mpsc::error::TrySendError::Full(_) => "the webhook queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the webhook worker has stopped",
                };
                let url = first.url.shown().to_string();
                if let Command::Emit(item) = err.into_inner() {
                    self.shared.report_drop(&app.id, &url, &item.event, reason);
                }
            }
        }
    }

    /// Shutdown: sends everything pending at once (held leaves included, no batch window) and
    /// waits until it is delivered or given up, or until `deadline`. Returns whether
    /// everything settled in time.
    pub(crate) async fn drain(&self, deadline: Instant) -> bool {
        let (reply, settled) = oneshot::channel();
        let asked =
            tokio::time::timeout_at(deadline, self.shared.queue.send(Command::Drain(reply)));
        if !matches!(asked.await, Ok(Ok(()))) {
            return false;
        }
        matches!(tokio::time::timeout_at(deadline, settled).await, Ok(Ok(())))
    }

    /// The app's recent deliveries (newest first) and its counters, as JSON:
    /// `{"deliveries": [{time_ms, url, events, status, attempts, outcome, error}], "counters": {…}}`.
    pub(crate) fn recent_deliveries(&self, app_id: &AppId) -> Value {
        self.shared.log.report(app_id)
    }

    /// Server-wide counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }
}
