//! Validated configuration: what the rest of the server trusts.
//!
//! Sources, in increasing precedence: a config file (TOML, or a Soketi-style JSON file),
//! environment variables (sockwave's own, Soketi's and Laravel's `PUSHER_APP_*` names), and
//! CLI flags. This module never opens sockets or talks to services.
//!
//! Layout: `table` declares every setting once (key, kind, bounds, Soketi names, flag, doc)
//! and `value` reads and writes the kinds. `toml_file` reads sockwave TOML, `soketi` Soketi's
//! JSON file and `SOKETI_*` variables, `env` the environment, `cli` the flags; each hands raw
//! values to the `draft`, which stores them through the table and remembers where every value
//! came from. `validate` turns the draft into a `Config`, `show` renders it for
//! `sockwave config check`, `docs` writes the tables of `docs/configuration.md`, and `load`
//! runs the sequence. `webhooks` reads webhook targets, a shape every source shares;
//! `cluster` assembles and checks the engine address from its parts.

use std::path::PathBuf;
use std::time::Duration;

use crate::app::App;

mod app_manager;
mod cli;
mod cluster;
#[cfg(test)]
mod docs;
mod draft;
mod env;
mod error;
mod load;
mod settings;
mod show;
mod soketi;
mod table;
mod toml_file;
mod validate;
mod value;
mod webhooks;

pub use cli::CliOverrides;
pub use draft::Origin;
pub use error::ConfigError;
pub use load::{check, from_text, load, migrate, FileFormat};
pub(crate) use soketi::app_from_row;

/// A URL with its password (or a lone user, which may be a token) masked, for logs.
pub(crate) fn masked_url(url: &str) -> String {
    cluster::mask_url(url, true)
}
pub use settings::{
    ClusterSettings, ConsoleSettings, Driver, MetricsSettings, RedisSentinel, RedisTls,
    WebhookSettings,
};

/// The whole, validated server configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listener, protocol timing and HTTP settings.
    pub server: ServerConfig,
    /// Every app served; ids and keys are unique. Empty with a SQL app manager.
    pub apps: Vec<App>,
    /// What a SQL app manager's rows start from: the app defaults with the server-wide app
    /// limits applied.
    pub app_template: App,
    /// True when the built-in `app-id` / `app-key` / `app-secret` credentials are in effect,
    /// so the server can warn loudly at startup.
    pub(crate) uses_default_credentials: bool,
}

/// Listener, protocol timing and HTTP settings shared by every app.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind, e.g. `0.0.0.0`.
    pub host: String,
    /// Port serving both WebSocket and HTTP API; 0 picks a free port.
    pub port: u16,
    /// Optional prefix in front of `/app/{key}` and `/apps/{id}`: empty, or `/something`
    /// with a leading slash and no trailing slash.
    pub path_prefix: String,
    /// More verbose logging.
    pub debug: bool,
    /// Advertised in `connection_established`; also how long a silent socket waits before
    /// the server pings it.
    pub activity_timeout: Duration,
    /// How long the server waits for any traffic after its own `pusher:ping` before closing
    /// with 4201.
    pub pong_timeout: Duration,
    /// How long shutdown waits for sockets and in-flight requests before exiting.
    pub shutdown_grace_period: Duration,
    /// Accepted distance between a signed request's `auth_timestamp` and the server clock.
    pub(crate) auth_timestamp_window: Duration,
    /// Origins allowed by CORS on the HTTP API; empty means no CORS headers at all.
    /// `*` allows any origin.
    pub cors_allowed_origins: Vec<String>,
    /// Whether pusher-js's HTTP fallback transports (`xhr_streaming`, `xhr_polling`) are
    /// served on the WebSocket port.
    pub http_transports: bool,
    /// Origins whose pages may use the HTTP transports cross-origin; `*` allows any.
    pub http_transport_origins: Vec<String>,
    /// Frames queued per socket before it is closed as a slow consumer (4100).
    pub socket_queue_capacity: usize,
    /// Backpressure: a fan-out slower than this many milliseconds makes every node refuse
    /// publishes (429) until this node caught up; 0 turns backpressure off.
    pub backpressure_fanout_ms: usize,
    /// Largest WebSocket message accepted from a client, in bytes.
    pub max_ws_message_bytes: usize,
    /// Whether `permessage-deflate` is negotiated with clients that offer it.
    pub ws_compression: bool,
    /// Frames shorter than this are sent uncompressed even where compression was agreed.
    pub ws_compression_min_bytes: usize,
    /// Largest HTTP API request body accepted, in bytes; checked before the body is read.
    pub max_request_body_bytes: usize,
    /// Time a request body may take from its first byte to its last (it must also keep a
    /// minimum rate, see `http::body`).
    pub(crate) request_body_timeout: Duration,
    /// Request body bytes the whole server holds at once (being read or handled); past it
    /// requests get 503 with `Retry-After` before their body is read.
    pub(crate) request_body_budget_bytes: usize,
    /// Time from TCP accept to a complete HTTP request head (also the idle limit of a
    /// keep-alive HTTP connection between requests); a slower client is disconnected.
    pub handshake_timeout: Duration,
    /// Largest HTTP request head (request line and headers) accepted, in bytes; a larger
    /// one gets 431 and the connection is closed.
    pub max_header_bytes: usize,
    /// Sustained rate of WebSocket messages (all kinds) a socket may send per second.
    pub max_ws_messages_per_second: u32,
    /// Messages a socket may send at once above the sustained rate; past it the socket is
    /// closed with 4100 (pusher-js reconnects after a back-off).
    pub ws_message_burst: u32,
    /// How a refused subscription is reported to the client.
    pub subscription_error_mode: SubscriptionErrorMode,
    /// How log lines are written to stdout.
    pub log_format: LogFormat,
    /// Where apps come from: the configuration, or a MySQL/PostgreSQL table.
    pub app_manager: AppManager,
    /// The database URL of a SQL app manager (`mysql://…` or `postgres://…`).
    pub app_manager_url: String,
    /// The table a SQL app manager reads, in Soketi's schema.
    pub app_manager_table: String,
    /// How long an app read from the database is used before it is read again.
    pub app_manager_cache_ttl: Duration,
    /// How long the last event of a cache channel is kept.
    pub(crate) cache_ttl: Duration,
    /// Webhook batching, delay, retry and queue settings.
    pub webhooks: WebhookSettings,
    /// How nodes find each other (local by default).
    pub cluster: ClusterSettings,
    /// The Prometheus endpoint (off by default).
    pub metrics: MetricsSettings,
    /// PEM certificate chain for native TLS; TLS is on when this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for native TLS.
    pub tls_key: Option<PathBuf>,
    /// Most WebSocket connections open at once from one client address; `None` is no limit.
    pub ws_connections_per_ip: Option<u32>,
    /// Most new WebSocket connections per second from one client address; `None` is no limit.
    pub ws_new_connections_per_ip_per_second: Option<u32>,
    /// The live event console (off by default).
    pub console: ConsoleSettings,
    /// Warn when an app has connected clients but no HTTP publish for this long.
    pub(crate) idle_app_warning: Option<Duration>,
}

/// How a refused subscription is reported (see `../shared/PROTOCOL.md` §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionErrorMode {
    /// `pusher:subscription_error` carrying `channel` and `{type, error, status}`, as Soketi
    /// sends it; Laravel Echo's `.error()` callback fires. The default.
    Soketi,
    /// `pusher:error` with `code: null`, as hosted Pusher sends it.
    Pusher,
}

/// Where apps come from (Soketi's "app manager").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppManager {
    /// The `[[apps]]` of the configuration (Soketi's `array` driver).
    Static,
    /// A MySQL or MariaDB table in Soketi's schema.
    Mysql,
    /// A PostgreSQL table in Soketi's schema.
    Postgres,
}

/// How log lines are written: for people reading a terminal, or one JSON object per line
/// for log collectors (Loki, CloudWatch, Datadog, `docker logs` piped into `jq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-03T10:00:00Z  INFO target: message key=value`, coloured only on a terminal.
    Text,
    /// `{"timestamp":…,"level":"INFO","target":…,"fields":{"message":…,…}}`.
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "0.0.0.0".to_string(),
            port: 6001,
            path_prefix: String::new(),
            debug: false,
            activity_timeout: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(30),
            shutdown_grace_period: Duration::from_secs(3),
            auth_timestamp_window: Duration::from_secs(600),
            cors_allowed_origins: Vec::new(),
            http_transports: true,
            http_transport_origins: vec!["*".to_string()],
            socket_queue_capacity: 512,
            backpressure_fanout_ms: 250,
            max_ws_message_bytes: 256 * 1024,
            ws_compression: true,
            ws_compression_min_bytes: 256,
            max_request_body_bytes: 2 * 1024 * 1024,
            request_body_timeout: Duration::from_secs(10),
            request_body_budget_bytes: 8 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            max_ws_messages_per_second: 100,
            ws_message_burst: 500,
            subscription_error_mode: SubscriptionErrorMode::Soketi,
            log_format: LogFormat::Text,
            app_manager: AppManager::Static,
            app_manager_url: String::new(),
            app_manager_table: "apps".to_string(),
            app_manager_cache_ttl: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(30 * 60),
            cluster: ClusterSettings::default(),
            metrics: MetricsSettings::default(),
            tls_cert: None,
            tls_key: None,
            ws_connections_per_ip: None,
            ws_new_connections_per_ip_per_second: None,
            console: ConsoleSettings::default(),
            idle_app_warning: Some(Duration::from_secs(10 * 60)),
            webhooks: WebhookSettings::default(),
        }
    }
}

impl Default for Config {
    /// The embedded default: one development app, listening on `0.0.0.0:6001`.
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            apps: vec![App::default_dev()],
            app_template: App::default_dev(),
            uses_default_credentials: true,
        }
    }
}
