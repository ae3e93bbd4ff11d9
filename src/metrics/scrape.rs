//! What is read at scrape time instead of counted as it happens: gauges derived from the
//! registry (so they can never drift or go negative, unlike gauges moved by inc/dec), and
//! counters other components already keep (webhooks, cluster adapter), copied over so nothing
//! is counted twice.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use sockwave_protocol::AppId;

use super::names::{self, Spec};
use super::Metrics;

/// What a scrape reads from the rest of the server; the exporter gathers it, so metrics
/// depend on nothing above them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readings {
    /// One entry per app with state on this node.
    pub apps: Vec<AppReadings>,
    /// Webhook events accepted, dropped, delivered and failed, and retries, so far.
    pub webhooks: WebhookReadings,
    /// Cluster messages sent and received, payloads dropped and undecodable, so far.
    pub adapter: AdapterReadings,
    /// Whether the cluster engine is reachable.
    pub engine_up: bool,
    /// Channel history per app.
    pub history: Vec<HistoryReadings>,
}

/// One app's channel history: counters (monotonic) and what this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryReadings {
    /// The app.
    pub app_id: AppId,
    /// Events given a position.
    pub appended: u64,
    /// Resumes served completely.
    pub recovered: u64,
    /// Resumes answered with a gap notice.
    pub gaps: u64,
    /// Events replayed.
    pub replayed: u64,
    /// Channels held in memory.
    pub channels: u64,
    /// Events held in memory.
    pub events: u64,
    /// Bytes held in memory.
    pub bytes: u64,
}

/// One app's gauges on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReadings {
    /// The app.
    pub app_id: AppId,
    /// Connected sockets.
    pub connections: u64,
    /// Channels with subscribers.
    pub channels: usize,
    /// Presence members.
    pub presence_members: usize,
}

/// The webhook sender's counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookReadings {
    /// Events accepted into the queue.
    pub accepted: u64,
    /// Events dropped (queue or backlog full).
    pub dropped: u64,
    /// Events delivered.
    pub delivered: u64,
    /// Events given up on.
    pub failed: u64,
    /// Request retries.
    pub retries: u64,
}

/// The cluster adapter's counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdapterReadings {
    /// Messages sent to other nodes.
    pub sent: u64,
    /// Messages received from other nodes.
    pub received: u64,
    /// Payloads the transport dropped.
    pub dropped: u64,
    /// Payloads that could not be decoded.
    pub undecodable: u64,
}

/// The families refreshed on every scrape.
pub(super) struct Gauges {
    connected: IntGaugeVec,
    channels: IntGaugeVec,
    presence_members: IntGaugeVec,
    webhook_events: IntCounterVec,
    webhook_retries: IntCounter,
    adapter_messages: IntCounterVec,
    adapter_errors: IntCounterVec,
    adapter_engine_up: IntGauge,
    history_appended: IntCounterVec,
    history_resumes: IntCounterVec,
    history_replayed: IntCounterVec,
    history_channels: IntGaugeVec,
    history_events: IntGaugeVec,
    history_bytes: IntGaugeVec,
}

impl Gauges {
    pub(super) fn register(registry: &Registry, prefix: &str) -> prometheus::Result<Gauges> {
        let opts = |spec: Spec| Opts::new(format!("{prefix}{}", spec.name), spec.help);
        let gauge_vec = |spec: Spec| -> prometheus::Result<IntGaugeVec> {
            let vec = IntGaugeVec::new(opts(spec), spec.labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let counter_vec = |spec: Spec| -> prometheus::Result<IntCounterVec> {
            let vec = IntCounterVec::new(opts(spec), spec.labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let webhook_retries = IntCounter::with_opts(opts(names::WEBHOOK_RETRIES))?;
        registry.register(Box::new(webhook_retries.clone()))?;
        let adapter_engine_up = IntGauge::with_opts(opts(names::ADAPTER_ENGINE_UP))?;
        registry.register(Box::new(adapter_engine_up.clone()))?;
        Ok(Gauges {
            connected: gauge_vec(names::CONNECTED)?,
            channels: gauge_vec(names::CHANNELS)?,
            presence_members: gauge_vec(names::PRESENCE_MEMBERS)?,
            webhook_events: counter_vec(names::WEBHOOK_EVENTS)?,
            webhook_retries,
            adapter_messages: counter_vec(names::ADAPTER_MESSAGES)?,
            adapter_errors: counter_vec(names::ADAPTER_ERRORS)?,
            adapter_engine_up,
            history_appended: counter_vec(names::HISTORY_APPENDED)?,
            history_resumes: counter_vec(names::HISTORY_RESUMES)?,
            history_replayed: counter_vec(names::HISTORY_REPLAYED)?,
            history_channels: gauge_vec(names::HISTORY_CHANNELS)?,
            history_events: gauge_vec(names::HISTORY_HELD_EVENTS)?,
            history_bytes: gauge_vec(names::HISTORY_BYTES)?,
        })
    }

    fn refresh(&self, readings: &Readings) {
        for app in &readings.apps {
            let labels = [app.app_id.as_str()];
            let set = |vec: &IntGaugeVec, value: usize| {
                vec.with_label_values(&labels)
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            set(&self.connected, app.connections as usize);
            set(&self.channels, app.channels);
            set(&self.presence_members, app.presence_members);
        }
        let webhooks = readings.webhooks;
        for (outcome, value) in [
            ("accepted", webhooks.accepted),
            ("dropped", webhooks.dropped),
            ("delivered", webhooks.delivered),
            ("failed", webhooks.failed),
        ] {
            catch_up(&self.webhook_events.with_label_values(&[outcome]), value);
        }
        catch_up(&self.webhook_retries, webhooks.retries);
        let adapter = readings.adapter;
        catch_up(
            &self.adapter_messages.with_label_values(&["sent"]),
            adapter.sent,
        );
        catch_up(
            &self.adapter_messages.with_label_values(&["received"]),
            adapter.received,
        );
        catch_up(
            &self.adapter_errors.with_label_values(&["dropped"]),
            adapter.dropped,
        );
        catch_up(
            &self.adapter_errors.with_label_values(&["undecodable"]),
            adapter.undecodable,
        );
        self.adapter_engine_up.set(i64::from(readings.engine_up));
        for history in &readings.history {
            let app = history.app_id.as_str();
            catch_up(
                &self.history_appended.with_label_values(&[app]),
                history.appended,
            );
            catch_up(
                &self.history_resumes.with_label_values(&[app, "recovered"]),
                history.recovered,
            );
            catch_up(
                &self.history_resumes.with_label_values(&[app, "gap"]),
                history.gaps,
            );
            catch_up(
                &self.history_replayed.with_label_values(&[app]),
                history.replayed,
            );
            let gauge = |vec: &IntGaugeVec, value: u64| {
                vec.with_label_values(&[app])
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            gauge(&self.history_channels, history.channels);
            gauge(&self.history_events, history.events);
            gauge(&self.history_bytes, history.bytes);
        }
    }
}

/// Moves a counter up to a monotonic source's value (never down).
fn catch_up(counter: &IntCounter, value: u64) {
    let current = counter.get();
    if value > current {
        counter.inc_by(value - current);
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric, with the scrape-time ones refreshed
    /// from `readings`; `None` when metrics are off.
    pub fn render(&self, readings: &Readings) -> Option<String> {
        let inner = self.inner.as_ref()?;
        // One scrape at a time, so two refreshes cannot interleave their updates.
        let gauges = inner
            .scrape
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        gauges.refresh(readings);
        let families = inner.registry.gather();
        drop(gauges);
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&families, &mut text)
            .expect("the text encoder only fails on invalid metric families, which registration refuses");
        Some(text)
    }
}
