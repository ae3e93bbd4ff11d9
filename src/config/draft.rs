//! The draft configuration that every source writes into, and where each value came from.
//!
//! Sources (a file, the environment, flags) turn their input into typed settings and apply
//! them here in precedence order; a later write wins. The draft remembers the origin of
//! every value so validation errors and `config check` can name it. Nothing here parses
//! text or checks ranges: that is the sources' and `validate`'s job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::cluster::{ClusterDraft, ClusterSetting};
use super::{Config, ServerConfig, SubscriptionErrorMode};
use crate::app::App;
use crate::app::WebhookTarget;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A key in a configuration file.
    File {
        /// The file.
        path: PathBuf,
        /// The key, dotted from the top of the file.
        key: String,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// A command-line flag.
    Flag {
        /// The flag without its leading dashes, e.g. `port`.
        flag: &'static str,
    },
}

impl Origin {
    pub(crate) fn file(path: &std::path::Path, key: impl Into<String>) -> Origin {
        Origin::File {
            path: path.to_path_buf(),
            key: key.into(),
        }
    }

    pub(crate) fn env(var: &str) -> Origin {
        Origin::Env {
            var: var.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File { path, key } => write!(f, "'{key}' in {}", path.display()),
            Origin::Env { var } => f.write_str(var),
            Origin::Flag { flag } => write!(f, "--{flag}"),
        }
    }
}

/// Origins of the values that did not come from the defaults, keyed like
/// `server.port` or `apps[0].key`.
pub(crate) type Origins = BTreeMap<String, Origin>;

pub(crate) fn server_field(key: &str) -> String {
    format!("server.{key}")
}

pub(crate) fn app_field(index: usize, key: &str) -> String {
    format!("apps[{index}].{key}")
}

/// One server-wide setting, already in the units `ServerConfig` uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ServerSetting {
    Host(String),
    Port(u16),
    /// Not yet normalised; `validate` does that so it can name the origin.
    PathPrefix(String),
    Debug(bool),
    ActivityTimeout(Duration),
    PongTimeout(Duration),
    ShutdownGracePeriod(Duration),
    AuthTimestampWindow(Duration),
    CorsAllowedOrigins(Vec<String>),
    SocketQueueCapacity(usize),
    MaxWsMessageBytes(usize),
    MaxRequestBodyBytes(usize),
    RequestBodyTimeout(Duration),
    RequestBodyBudgetBytes(usize),
    HandshakeTimeout(Duration),
    MaxHeaderBytes(usize),
    MaxWsMessagesPerSecond(u32),
    WsMessageBurst(u32),
    SubscriptionErrorMode(SubscriptionErrorMode),
    CacheTtl(Duration),
    WebhookBatchWindow(Duration),
    WebhookBatchMaxEvents(usize),
    WebhookLeaveDelay(Duration),
    WebhookRetryBudget(Duration),
    WebhookRequestTimeout(Duration),
    WebhookQueueCapacity(usize),
    WebhookDeliveryLogSize(usize),
    MetricsEnabled(bool),
    MetricsHost(String),
    MetricsPort(u16),
    MetricsPrefix(String),
    TlsCert(PathBuf),
    TlsKey(PathBuf),
    /// `None` turns the limit off.
    WsConnectionsPerIp(Option<u32>),
    /// `None` turns the limit off.
    WsNewConnectionsPerIpPerSecond(Option<u32>),
    ConsoleEnabled(bool),
    ConsoleToken(String),
    /// `None` turns the warning off.
    IdleAppWarning(Option<Duration>),
}

impl ServerSetting {
    /// The TOML key under `[server]`.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ServerSetting::Host(_) => "host",
            ServerSetting::Port(_) => "port",
            ServerSetting::PathPrefix(_) => "path_prefix",
            ServerSetting::Debug(_) => "debug",
            ServerSetting::ActivityTimeout(_) => "activity_timeout",
            ServerSetting::PongTimeout(_) => "pong_timeout",
            ServerSetting::ShutdownGracePeriod(_) => "shutdown_grace_period",
            ServerSetting::AuthTimestampWindow(_) => "auth_timestamp_window",
            ServerSetting::CorsAllowedOrigins(_) => "cors_allowed_origins",
            ServerSetting::SocketQueueCapacity(_) => "socket_queue_capacity",
            ServerSetting::MaxWsMessageBytes(_) => "max_ws_message_kb",
            ServerSetting::MaxRequestBodyBytes(_) => "max_request_body_kb",
            ServerSetting::RequestBodyTimeout(_) => "request_body_timeout",
            ServerSetting::RequestBodyBudgetBytes(_) => "request_body_budget_kb",
            ServerSetting::HandshakeTimeout(_) => "handshake_timeout",
            ServerSetting::MaxHeaderBytes(_) => "max_header_kb",
            ServerSetting::MaxWsMessagesPerSecond(_) => "max_ws_messages_per_second",
            ServerSetting::WsMessageBurst(_) => "ws_message_burst",
            ServerSetting::SubscriptionErrorMode(_) => "subscription_error_mode",
            ServerSetting::CacheTtl(_) => "cache_ttl",
            ServerSetting::WebhookBatchWindow(_) => "webhook_batch_window_ms",
            ServerSetting::WebhookBatchMaxEvents(_) => "webhook_batch_max_events",
            ServerSetting::WebhookLeaveDelay(_) => "webhook_leave_delay_ms",
            ServerSetting::WebhookRetryBudget(_) => "webhook_retry_budget",
            ServerSetting::WebhookRequestTimeout(_) => "webhook_request_timeout",
            ServerSetting::WebhookQueueCapacity(_) => "webhook_queue_capacity",
            ServerSetting::WebhookDeliveryLogSize(_) => "webhook_delivery_log_size",
            ServerSetting::MetricsEnabled(_) => "metrics_enabled",
            ServerSetting::MetricsHost(_) => "metrics_host",
            ServerSetting::MetricsPort(_) => "metrics_port",
            ServerSetting::MetricsPrefix(_) => "metrics_prefix",
            ServerSetting::TlsCert(_) => "tls_cert",
            ServerSetting::TlsKey(_) => "tls_key",
            ServerSetting::WsConnectionsPerIp(_) => "ws_connections_per_ip",
            ServerSetting::WsNewConnectionsPerIpPerSecond(_) => {
                "ws_new_connections_per_ip_per_second"
            }
            ServerSetting::ConsoleEnabled(_) => "console.enabled",
            ServerSetting::ConsoleToken(_) => "console.token",
            ServerSetting::IdleAppWarning(_) => "idle_app_warning",
        }
    }

    fn apply(self, server: &mut ServerConfig) {
        match self {
            ServerSetting::Host(host) => server.host = host,
            ServerSetting::Port(port) => server.port = port,
            ServerSetting::PathPrefix(prefix) => server.path_prefix = prefix,
            ServerSetting::Debug(debug) => server.debug = debug,
            ServerSetting::ActivityTimeout(timeout) => server.activity_timeout = timeout,
            ServerSetting::PongTimeout(timeout) => server.pong_timeout = timeout,
            ServerSetting::ShutdownGracePeriod(period) => server.shutdown_grace_period = period,
            ServerSetting::AuthTimestampWindow(window) => server.auth_timestamp_window = window,
            ServerSetting::CorsAllowedOrigins(origins) => server.cors_allowed_origins = origins,
            ServerSetting::SocketQueueCapacity(n_frames) => server.socket_queue_capacity = n_frames,
            ServerSetting::MaxWsMessageBytes(n_bytes) => server.max_ws_message_bytes = n_bytes,
            ServerSetting::MaxRequestBodyBytes(n_bytes) => server.max_request_body_bytes = n_bytes,
            ServerSetting::RequestBodyTimeout(timeout) => server.request_body_timeout = timeout,
            ServerSetting::RequestBodyBudgetBytes(n_bytes) => {
                server.request_body_budget_bytes = n_bytes
            }
            ServerSetting::HandshakeTimeout(timeout) => server.handshake_timeout = timeout,
            ServerSetting::MaxHeaderBytes(n_bytes) => server.max_header_bytes = n_bytes,
            ServerSetting::MaxWsMessagesPerSecond(rate) => server.max_ws_messages_per_second = rate,
            ServerSetting::WsMessageBurst(n_messages) => server.ws_message_burst = n_messages,
            ServerSetting::SubscriptionErrorMode(mode) => server.subscription_error_mode = mode,
            ServerSetting::CacheTtl(ttl) => server.cache_ttl = ttl,
            ServerSetting::ConsoleEnabled(on) => server.console.enabled = on,
            ServerSetting::ConsoleToken(token) => server.console.token = Some(token),
            ServerSetting::IdleAppWarning(after) => server.idle_app_warning = after,
            ServerSetting::WebhookBatchWindow(window) => server.webhooks.batch_window = window,
            ServerSetting::WebhookBatchMaxEvents(max) => server.webhooks.batch_max_events = max,
            ServerSetting::WebhookLeaveDelay(delay) => server.webhooks.leave_delay = delay,
            ServerSetting::WebhookRetryBudget(budget) => server.webhooks.retry_budget = budget,
            ServerSetting::WebhookRequestTimeout(timeout) => {
                server.webhooks.request_timeout = timeout
            }
            ServerSetting::WebhookQueueCapacity(n_events) => {
                server.webhooks.queue_capacity = n_events
            }
            ServerSetting::WebhookDeliveryLogSize(n_records) => {
                server.webhooks.delivery_log_size = n_records
            }
            ServerSetting::MetricsEnabled(on) => server.metrics.enabled = on,
            ServerSetting::MetricsHost(host) => server.metrics.host = host,
            ServerSetting::MetricsPort(port) => server.metrics.port = port,
            ServerSetting::MetricsPrefix(prefix) => server.metrics.prefix = prefix,
            ServerSetting::TlsCert(path) => server.tls_cert = Some(path),
            ServerSetting::TlsKey(path) => server.tls_key = Some(path),
            ServerSetting::WsConnectionsPerIp(max) => server.ws_connections_per_ip = max,
            ServerSetting::WsNewConnectionsPerIpPerSecond(max) => {
                server.ws_new_connections_per_ip_per_second = max
            }
        }
    }
}

/// One per-app setting, already in the units `App` uses (`None` = unlimited).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AppSetting {
    Id(String),
    Key(String),
    Secret(String),
    Enabled(bool),
    EnableClientMessages(bool),
    EnableUserAuthentication(bool),
    EnableSubscriptionCount(bool),
    /// `None` turns the check off.
    AuthorizedConnectionsTimeout(Option<Duration>),
    Webhooks(Vec<WebhookTarget>),
    MaxConnections(Option<u64>),
    MaxClientEventsPerSecond(Option<u32>),
    MaxBackendEventsPerSecond(Option<u32>),
    MaxReadRequestsPerSecond(Option<u32>),
    MaxEventPayloadBytes(usize),
    MaxChannelsPerEvent(usize),
    MaxBatchSize(usize),
    MaxEventNameLength(usize),
    MaxChannelNameLength(usize),
    MaxPresenceMembers(usize),
    MaxPresenceMemberSizeBytes(usize),
}

impl AppSetting {
    /// The TOML key inside `[[apps]]`.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            AppSetting::Id(_) => "id",
            AppSetting::Key(_) => "key",
            AppSetting::Secret(_) => "secret",
            AppSetting::Enabled(_) => "enabled",
            AppSetting::EnableClientMessages(_) => "enable_client_messages",
            AppSetting::EnableUserAuthentication(_) => "enable_user_authentication",
            AppSetting::EnableSubscriptionCount(_) => "enable_subscription_count",
            AppSetting::AuthorizedConnectionsTimeout(_) => "authorized_connections_timeout",
            AppSetting::Webhooks(_) => "webhooks",
            AppSetting::MaxConnections(_) => "max_connections",
            AppSetting::MaxClientEventsPerSecond(_) => "max_client_events_per_second",
            AppSetting::MaxBackendEventsPerSecond(_) => "max_backend_events_per_second",
            AppSetting::MaxReadRequestsPerSecond(_) => "max_read_requests_per_second",
            AppSetting::MaxEventPayloadBytes(_) => "max_event_payload_kb",
            AppSetting::MaxChannelsPerEvent(_) => "max_channels_per_event",
            AppSetting::MaxBatchSize(_) => "max_batch_size",
            AppSetting::MaxEventNameLength(_) => "max_event_name_length",
            AppSetting::MaxChannelNameLength(_) => "max_channel_name_length",
            AppSetting::MaxPresenceMembers(_) => "max_presence_members",
            AppSetting::MaxPresenceMemberSizeBytes(_) => "max_presence_member_size_kb",
        }
    }

    fn apply(self, app: &mut App) {
        let limits = &mut app.limits;
        match self {
            AppSetting::Id(id) => app.id = id,
            AppSetting::Key(key) => app.key = key,
            AppSetting::Secret(secret) => app.secret = secret,
            AppSetting::Enabled(enabled) => app.enabled = enabled,
            AppSetting::EnableClientMessages(on) => app.enable_client_messages = on,
            AppSetting::EnableUserAuthentication(on) => app.enable_user_authentication = on,
            AppSetting::EnableSubscriptionCount(on) => app.enable_subscription_count = on,
            AppSetting::AuthorizedConnectionsTimeout(timeout) => {
                app.authorized_connections_timeout = timeout
            }
            AppSetting::Webhooks(targets) => app.webhooks = targets,
            AppSetting::MaxConnections(max) => app.max_connections = max,
            AppSetting::MaxClientEventsPerSecond(max) => limits.max_client_events_per_second = max,
            AppSetting::MaxBackendEventsPerSecond(max) => {
                limits.max_backend_events_per_second = max
            }
            AppSetting::MaxReadRequestsPerSecond(max) => limits.max_read_requests_per_second = max,
            AppSetting::MaxEventPayloadBytes(max) => limits.max_event_payload_bytes = max,
            AppSetting::MaxChannelsPerEvent(max) => limits.max_channels_per_event = max,
            AppSetting::MaxBatchSize(max) => limits.max_batch_size = max,
            AppSetting::MaxEventNameLength(max) => limits.max_event_name_length = max,
            AppSetting::MaxChannelNameLength(max) => limits.max_channel_name_length = max,
            AppSetting::MaxPresenceMembers(max) => limits.max_presence_members = max,
            AppSetting::MaxPresenceMemberSizeBytes(max) => {
                limits.max_presence_member_size_bytes = max
            }
        }
    }
}

/// A setting from the environment or a flag: server-wide, or for the first ("default") app.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Override {
    Server(ServerSetting),
    FirstApp(AppSetting),
    Cluster(ClusterSetting),
}

/// The configuration being assembled, with the origin of each non-default value.
#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) config: Config,
    pub(crate) origins: Origins,
    /// Soketi's server-wide limits: they apply to every app that does not set its own.
    app_defaults: Vec<(AppSetting, Origin)>,
    /// What last replaced the app list, to name it if the list ends up empty.
    pub(crate) apps_origin: Origin,
    /// The `[cluster]` settings, turned into `ServerConfig::cluster` by validation.
    pub(crate) cluster: ClusterDraft,
}

impl Draft {
    /// The built-in defaults, with the development app.
    pub(crate) fn new() -> Draft {
        Draft {
            config: Config::default(),
            origins: Origins::new(),
            app_defaults: Vec::new(),
            apps_origin: Origin::Default,
            cluster: ClusterDraft::default(),
        }
    }

    pub(crate) fn set_server(&mut self, setting: ServerSetting, origin: Origin) {
        self.origins.insert(server_field(setting.key()), origin);
        setting.apply(&mut self.config.server);
    }

    pub(crate) fn set_cluster(&mut self, setting: ClusterSetting, origin: Origin) {
        self.cluster.apply(setting, origin, &mut self.origins);
    }

    /// Changes one field of an existing app; `index` must be below the number of apps.
    pub(crate) fn set_app(&mut self, index: usize, setting: AppSetting, origin: Origin) -> bool {
        let Some(app) = self.config.apps.get_mut(index) else {
            return false;
        };
        self.origins.insert(app_field(index, setting.key()), origin);
        setting.apply(app);
        true
    }

    pub(crate) fn apply(&mut self, setting: Override, origin: Origin) {
        match setting {
            Override::Server(setting) => self.set_server(setting, origin),
            Override::Cluster(setting) => self.set_cluster(setting, origin),
            Override::FirstApp(setting) => {
                // Validation refuses an empty app list, so a missing first app is reported
                // there, naming the key that emptied the list.
                self.set_app(0, setting, origin);
            }
        }
    }

    /// Replaces every app. Each app starts from the development app's switches and limits;
    /// the source checks that credentials are present.
    pub(crate) fn replace_apps(&mut self, apps: Vec<Vec<(AppSetting, Origin)>>, origin: Origin) {
        self.config.apps = Vec::with_capacity(apps.len());
        self.origins.retain(|field, _| !field.starts_with("apps["));
        self.apps_origin = origin;
        for (index, settings) in apps.into_iter().enumerate() {
            self.config.apps.push(App::default_dev());
            for (setting, origin) in settings {
                self.set_app(index, setting, origin);
            }
        }
    }

    /// A limit for every app that does not set its own; a later call for the same limit wins.
    pub(crate) fn set_app_default(&mut self, setting: AppSetting, origin: Origin) {
        self.app_defaults
            .retain(|(existing, _)| existing.key() != setting.key());
        self.app_defaults.push((setting, origin));
    }

    /// Applies the server-wide app limits to the apps that did not set their own.
    pub(crate) fn apply_app_defaults(&mut self) {
        for (setting, origin) in std::mem::take(&mut self.app_defaults) {
            for index in 0..self.config.apps.len() {
                if !self.origins.contains_key(&app_field(index, setting.key())) {
                    self.set_app(index, setting.clone(), origin.clone());
                }
            }
        }
    }

    pub(crate) fn origin(&self, field: &str) -> Origin {
        self.origins.get(field).cloned().unwrap_or(Origin::Default)
    }
}
