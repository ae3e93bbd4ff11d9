//! sockwave's own TOML file: the serde shape of the file and its translation into settings.
//!
//! Unknown keys are refused with the key, the file and a suggestion, before serde sees the
//! file; serde's `deny_unknown_fields` stays on as a second line of defence. Range checks
//! are left to `validate`, which sees the final values from every source.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::cluster::{self, ClusterSetting, DriverKind, CLUSTER_KEYS};
use super::draft::{AppSetting, Draft, Origin, ServerSetting};
use super::error::{closest, ConfigError};
use super::webhooks::{self, RawWebhook, FILTER_KEYS, WEBHOOK_KEYS};
use super::SubscriptionErrorMode;

/// Keys allowed under `[server]`; must match `RawServer`.
const SERVER_KEYS: &[&str] = &[
    "host",
    "port",
    "path_prefix",
    "debug",
    "activity_timeout",
    "pong_timeout",
    "shutdown_grace_period",
    "auth_timestamp_window",
    "cors_allowed_origins",
    "socket_queue_capacity",
    "max_ws_message_kb",
    "max_request_body_kb",
    "request_body_timeout",
    "request_body_budget_kb",
    "handshake_timeout",
    "max_header_kb",
    "max_ws_messages_per_second",
    "ws_message_burst",
    "subscription_error_mode",
    "cache_ttl",
    "idle_app_warning",
    "webhook_batch_window_ms",
    "webhook_batch_max_events",
    "webhook_leave_delay_ms",
    "webhook_retry_budget",
    "webhook_request_timeout",
    "webhook_queue_capacity",
    "webhook_delivery_log_size",
    "metrics_enabled",
    "metrics_host",
    "metrics_port",
    "metrics_prefix",
    "tls_cert",
    "tls_key",
    "ws_connections_per_ip",
    "ws_new_connections_per_ip_per_second",
];

/// Keys allowed in each `[[apps]]` table; must match `RawApp`.
const APP_KEYS: &[&str] = &[
    "id",
    "key",
    "secret",
    "enabled",
    "enable_client_messages",
    "enable_user_authentication",
    "enable_subscription_count",
    "authorized_connections_timeout",
    "webhooks",
    "max_connections",
    "max_client_events_per_second",
    "max_backend_events_per_second",
    "max_read_requests_per_second",
    "max_event_payload_kb",
    "max_channels_per_event",
    "max_batch_size",
    "max_event_name_length",
    "max_channel_name_length",
    "max_presence_members",
    "max_presence_member_size_kb",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    server: Option<RawServer>,
    apps: Option<Vec<RawApp>>,
    cluster: Option<RawCluster>,
    console: Option<RawConsole>,
}

/// Keys of the TOML `[console]` table; must match `RawConsole`.
const CONSOLE_KEYS: &[&str] = &["enabled", "token"];

/// The `[console]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    enabled: Option<bool>,
    token: Option<String>,
}

/// The `[cluster]` table; durations in seconds, fractions allowed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    driver: Option<RawDriver>,
    redis_url: Option<String>,
    nats_servers: Option<Vec<String>>,
    prefix: Option<String>,
    heartbeat_interval: Option<f64>,
    node_timeout: Option<f64>,
    ready_requires_engine: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawDriver {
    Local,
    Redis,
    Nats,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: Option<String>,
    port: Option<u16>,
    path_prefix: Option<String>,
    debug: Option<bool>,
    activity_timeout: Option<u64>,
    pong_timeout: Option<u64>,
    shutdown_grace_period: Option<u64>,
    auth_timestamp_window: Option<u64>,
    cors_allowed_origins: Option<Vec<String>>,
    socket_queue_capacity: Option<usize>,
    max_ws_message_kb: Option<f64>,
    max_request_body_kb: Option<f64>,
    request_body_timeout: Option<u64>,
    request_body_budget_kb: Option<f64>,
    handshake_timeout: Option<u64>,
    max_header_kb: Option<f64>,
    max_ws_messages_per_second: Option<u32>,
    ws_message_burst: Option<u32>,
    subscription_error_mode: Option<RawErrorMode>,
    cache_ttl: Option<u64>,
    idle_app_warning: Option<u64>,
    webhook_batch_window_ms: Option<u64>,
    webhook_batch_max_events: Option<usize>,
    webhook_leave_delay_ms: Option<u64>,
    webhook_retry_budget: Option<u64>,
    webhook_request_timeout: Option<u64>,
    webhook_queue_capacity: Option<usize>,
    webhook_delivery_log_size: Option<usize>,
    metrics_enabled: Option<bool>,
    metrics_host: Option<String>,
    metrics_port: Option<u16>,
    metrics_prefix: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    ws_connections_per_ip: Option<RawLimit>,
    ws_new_connections_per_ip_per_second: Option<RawLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawErrorMode {
    Soketi,
    Pusher,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    id: Option<String>,
    key: Option<String>,
    secret: Option<String>,
    enabled: Option<bool>,
    enable_client_messages: Option<bool>,
    enable_user_authentication: Option<bool>,
    enable_subscription_count: Option<bool>,
    authorized_connections_timeout: Option<u64>,
    webhooks: Option<Vec<RawWebhook>>,
    max_connections: Option<RawLimit>,
    max_client_events_per_second: Option<RawLimit>,
    max_backend_events_per_second: Option<RawLimit>,
    max_read_requests_per_second: Option<RawLimit>,
    max_event_payload_kb: Option<f64>,
    max_channels_per_event: Option<usize>,
    max_batch_size: Option<usize>,
    max_event_name_length: Option<usize>,
    max_channel_name_length: Option<usize>,
    max_presence_members: Option<usize>,
    max_presence_member_size_kb: Option<f64>,
}

/// A count, or the word `unlimited`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawLimit {
    Count(u64),
    Word(String),
}

/// Reads a TOML file's text into the draft.
pub(crate) fn apply_file(draft: &mut Draft, path: &Path, text: &str) -> Result<(), ConfigError> {
    let toml_error = |source| ConfigError::Toml {
        path: path.to_path_buf(),
        source,
    };
    let table: toml::Table = text.parse().map_err(toml_error)?;
    check_keys(&table, path)?;
    let file: RawFile = toml::from_str(text).map_err(toml_error)?;

    if let Some(server) = file.server {
        for setting in server_settings(server, path)? {
            let origin = Origin::file(path, format!("server.{}", setting.key()));
            draft.set_server(setting, origin);
        }
    }
    if let Some(console) = file.console {
        let settings = [
            console.enabled.map(ServerSetting::ConsoleEnabled),
            console.token.map(ServerSetting::ConsoleToken),
        ];
        for setting in settings.into_iter().flatten() {
            let origin = Origin::file(path, setting.key());
            draft.set_server(setting, origin);
        }
    }
    if let Some(raw) = file.cluster {
        for setting in cluster_settings(raw, path)? {
            let origin = Origin::file(path, cluster::cluster_field(setting.key()));
            draft.set_cluster(setting, origin);
        }
    }
    if let Some(apps) = file.apps {
        let mut parsed = Vec::with_capacity(apps.len());
        for (index, app) in apps.into_iter().enumerate() {
            let settings = app_settings(app, index, path)?.into_iter().map(|setting| {
                let origin = app_origin(path, index, setting.key());
                (setting, origin)
            });
            parsed.push(settings.collect());
        }
        draft.replace_apps(parsed, Origin::file(path, "apps"));
    }
    Ok(())
}

fn check_keys(table: &toml::Table, path: &Path) -> Result<(), ConfigError> {
    let unknown = |key: &str, prefix: &str, known: &[&str]| ConfigError::UnknownKey {
        key: format!("{prefix}{key}"),
        file: path.to_path_buf(),
        suggestion: closest(key, known.iter().copied()),
    };
    for (key, value) in table {
        match (key.as_str(), value) {
            ("server", toml::Value::Table(server)) => {
                if let Some(key) = server
                    .keys()
                    .find(|key| !SERVER_KEYS.contains(&key.as_str()))
                {
                    return Err(unknown(key, "server.", SERVER_KEYS));
                }
            }
            ("apps", toml::Value::Array(apps)) => {
                for (index, app) in apps.iter().enumerate() {
                    let Some(app) = app.as_table() else { continue };
                    if let Some(key) = app.keys().find(|key| !APP_KEYS.contains(&key.as_str())) {
                        return Err(unknown(key, &format!("apps[{index}]."), APP_KEYS));
                    }
                    let hooks = app.get("webhooks").and_then(toml::Value::as_array);
                    for (n, hook) in hooks.into_iter().flatten().enumerate() {
                        let Some(hook) = hook.as_table() else {
                            continue;
                        };
                        let prefix = format!("apps[{index}].webhooks[{n}].");
                        if let Some(key) = hook.keys().find(|k| !WEBHOOK_KEYS.contains(&k.as_str()))
                        {
                            return Err(unknown(key, &prefix, WEBHOOK_KEYS));
                        }
                        let filter = hook.get("filter").and_then(toml::Value::as_table);
                        if let Some(key) = filter
                            .and_then(|f| f.keys().find(|k| !FILTER_KEYS.contains(&k.as_str())))
                        {
                            return Err(unknown(key, &format!("{prefix}filter."), FILTER_KEYS));
                        }
                    }
                }
            }
            ("cluster", toml::Value::Table(cluster)) => {
                if let Some(key) = cluster
                    .keys()
                    .find(|key| !CLUSTER_KEYS.contains(&key.as_str()))
                {
                    return Err(unknown(key, "cluster.", CLUSTER_KEYS));
                }
            }
            ("console", toml::Value::Table(console)) => {
                if let Some(key) = console
                    .keys()
                    .find(|key| !CONSOLE_KEYS.contains(&key.as_str()))
                {
                    return Err(unknown(key, "console.", CONSOLE_KEYS));
                }
            }
            // Wrong shapes are left to serde, whose message shows the line.
            ("server" | "apps" | "cluster" | "console", _) => {}
            (key, _) => return Err(unknown(key, "", &["server", "apps", "cluster", "console"])),
        }
    }
    Ok(())
}

fn app_origin(path: &Path, index: usize, key: &str) -> Origin {
    Origin::file(path, format!("apps[{index}].{key}"))
}

fn server_settings(server: RawServer, path: &Path) -> Result<Vec<ServerSetting>, ConfigError> {
    let kb = |kb: f64, key: &str| kilobytes(kb, || Origin::file(path, format!("server.{key}")));
    let secs = Duration::from_secs;
    let millis = Duration::from_millis;
    let settings = [
        server.host.map(ServerSetting::Host),
        server.port.map(ServerSetting::Port),
        server.path_prefix.map(ServerSetting::PathPrefix),
        server.debug.map(ServerSetting::Debug),
        server
            .activity_timeout
            .map(|n| ServerSetting::ActivityTimeout(secs(n))),
        server
            .pong_timeout
            .map(|n| ServerSetting::PongTimeout(secs(n))),
        server
            .shutdown_grace_period
            .map(|n| ServerSetting::ShutdownGracePeriod(secs(n))),
        server
            .auth_timestamp_window
            .map(|n| ServerSetting::AuthTimestampWindow(secs(n))),
        server
            .cors_allowed_origins
            .map(ServerSetting::CorsAllowedOrigins),
        server
            .socket_queue_capacity
            .map(ServerSetting::SocketQueueCapacity),
        match server.max_ws_message_kb {
            Some(n) => Some(ServerSetting::MaxWsMessageBytes(kb(
                n,
                "max_ws_message_kb",
            )?)),
            None => None,
        },
        match server.max_request_body_kb {
            Some(n) => Some(ServerSetting::MaxRequestBodyBytes(kb(
                n,
                "max_request_body_kb",
            )?)),
            None => None,
        },
        server
            .request_body_timeout
            .map(|n| ServerSetting::RequestBodyTimeout(secs(n))),
        match server.request_body_budget_kb {
            Some(n) => Some(ServerSetting::RequestBodyBudgetBytes(kb(
                n,
                "request_body_budget_kb",
            )?)),
            None => None,
        },
        server
            .handshake_timeout
            .map(|n| ServerSetting::HandshakeTimeout(secs(n))),
        match server.max_header_kb {
            Some(n) => Some(ServerSetting::MaxHeaderBytes(kb(n, "max_header_kb")?)),
            None => None,
        },
        server
            .max_ws_messages_per_second
            .map(ServerSetting::MaxWsMessagesPerSecond),
        server.ws_message_burst.map(ServerSetting::WsMessageBurst),
        server.subscription_error_mode.map(|mode| {
            ServerSetting::SubscriptionErrorMode(match mode {
                RawErrorMode::Soketi => SubscriptionErrorMode::Soketi,
                RawErrorMode::Pusher => SubscriptionErrorMode::Pusher,
            })
        }),
        server.cache_ttl.map(|n| ServerSetting::CacheTtl(secs(n))),
        // Seconds; 0 turns the warning off.
        server
            .idle_app_warning
            .map(|n| ServerSetting::IdleAppWarning((n > 0).then(|| secs(n)))),
        server
            .webhook_batch_window_ms
            .map(|n| ServerSetting::WebhookBatchWindow(millis(n))),
        server
            .webhook_batch_max_events
            .map(ServerSetting::WebhookBatchMaxEvents),
        server
            .webhook_leave_delay_ms
            .map(|n| ServerSetting::WebhookLeaveDelay(millis(n))),
        server
            .webhook_retry_budget
            .map(|n| ServerSetting::WebhookRetryBudget(secs(n))),
        server
            .webhook_request_timeout
            .map(|n| ServerSetting::WebhookRequestTimeout(secs(n))),
        server
            .webhook_queue_capacity
            .map(ServerSetting::WebhookQueueCapacity),
        server
            .webhook_delivery_log_size
            .map(ServerSetting::WebhookDeliveryLogSize),
        server.metrics_enabled.map(ServerSetting::MetricsEnabled),
        server.metrics_host.map(ServerSetting::MetricsHost),
        server.metrics_port.map(ServerSetting::MetricsPort),
        server.metrics_prefix.map(ServerSetting::MetricsPrefix),
        server.tls_cert.map(ServerSetting::TlsCert),
        server.tls_key.map(ServerSetting::TlsKey),
    ];
    let mut settings: Vec<ServerSetting> = settings.into_iter().flatten().collect();
    let server_origin = |key: &'static str| move || Origin::file(path, format!("server.{key}"));
    if let Some(raw) = server.ws_connections_per_ip {
        let max = limit_u32(raw, server_origin("ws_connections_per_ip"))?;
        settings.push(ServerSetting::WsConnectionsPerIp(max));
    }
    if let Some(raw) = server.ws_new_connections_per_ip_per_second {
        let key = "ws_new_connections_per_ip_per_second";
        let max = limit_u32(raw, server_origin(key))?;
        settings.push(ServerSetting::WsNewConnectionsPerIpPerSecond(max));
    }
    Ok(settings)
}

/// A per-second count that fits in `u32`, or the word `unlimited`.
fn limit_u32(raw: RawLimit, origin: impl Fn() -> Origin) -> Result<Option<u32>, ConfigError> {
    match raw {
        RawLimit::Count(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                origin: origin(),
                value: n.to_string(),
                reason: format!("must be at most {}", u32::MAX),
            }),
        RawLimit::Word(word) if word == "unlimited" => Ok(None),
        RawLimit::Word(word) => Err(ConfigError::Invalid {
            origin: origin(),
            value: format!("'{word}'"),
            reason: "expected a whole number or \"unlimited\"".to_string(),
        }),
    }
}

fn cluster_settings(raw: RawCluster, path: &Path) -> Result<Vec<ClusterSetting>, ConfigError> {
    let duration = |n: f64, key: &str| {
        cluster::seconds(n).ok_or_else(|| ConfigError::Invalid {
            origin: Origin::file(path, cluster::cluster_field(key)),
            value: n.to_string(),
            reason: "expected a non-negative number of seconds".to_string(),
        })
    };
    let mut settings = Vec::new();
    settings.extend(raw.driver.map(|driver| {
        ClusterSetting::Driver(match driver {
            RawDriver::Local => DriverKind::Local,
            RawDriver::Redis => DriverKind::Redis,
            RawDriver::Nats => DriverKind::Nats,
        })
    }));
    settings.extend(raw.redis_url.map(ClusterSetting::RedisUrl));
    settings.extend(raw.nats_servers.map(ClusterSetting::NatsServers));
    settings.extend(raw.prefix.map(ClusterSetting::Prefix));
    if let Some(n) = raw.heartbeat_interval {
        let interval = duration(n, "heartbeat_interval")?;
        settings.push(ClusterSetting::HeartbeatInterval(interval));
    }
    if let Some(n) = raw.node_timeout {
        settings.push(ClusterSetting::NodeTimeout(duration(n, "node_timeout")?));
    }
    settings.extend(
        raw.ready_requires_engine
            .map(ClusterSetting::ReadyRequiresEngine),
    );
    Ok(settings)
}

fn app_settings(app: RawApp, index: usize, path: &Path) -> Result<Vec<AppSetting>, ConfigError> {
    let origin = |key: &str| app_origin(path, index, key);
    let limit = |raw: RawLimit, key: &str| match raw {
        RawLimit::Count(n) => Ok(Some(n)),
        RawLimit::Word(word) if word == "unlimited" => Ok(None),
        RawLimit::Word(word) => Err(ConfigError::Invalid {
            origin: origin(key),
            value: format!("'{word}'"),
            reason: "expected a whole number or \"unlimited\"".to_string(),
        }),
    };
    let kb = |n: f64, key: &str| kilobytes(n, || origin(key));

    let mut settings = Vec::new();
    for (key, value) in [("id", app.id), ("key", app.key), ("secret", app.secret)] {
        match value {
            Some(value) => settings.push(match key {
                "id" => AppSetting::Id(value),
                "key" => AppSetting::Key(value),
                _ => AppSetting::Secret(value),
            }),
            None => {
                return Err(ConfigError::Missing {
                    origin: origin(key),
                })
            }
        }
    }
    settings.extend(app.enabled.map(AppSetting::Enabled));
    settings.extend(
        app.enable_client_messages
            .map(AppSetting::EnableClientMessages),
    );
    settings.extend(
        app.enable_user_authentication
            .map(AppSetting::EnableUserAuthentication),
    );
    settings.extend(
        app.enable_subscription_count
            .map(AppSetting::EnableSubscriptionCount),
    );
    if let Some(n) = app.authorized_connections_timeout {
        let timeout = Duration::from_secs(n);
        settings.push(AppSetting::AuthorizedConnectionsTimeout(Some(timeout)));
    }
    if let Some(raws) = app.webhooks {
        let origin_of = |n: usize, field: &str| origin(&format!("webhooks[{n}].{field}"));
        settings.push(AppSetting::Webhooks(webhooks::targets(raws, &origin_of)?));
    }
    if let Some(raw) = app.max_connections {
        settings.push(AppSetting::MaxConnections(limit(raw, "max_connections")?));
    }
    if let Some(raw) = app.max_client_events_per_second {
        let key = "max_client_events_per_second";
        let max = match limit(raw, key)? {
            Some(n) => Some(u32::try_from(n).map_err(|_| ConfigError::Invalid {
                origin: origin(key),
                value: n.to_string(),
                reason: format!("must be at most {}", u32::MAX),
            })?),
            None => None,
        };
        settings.push(AppSetting::MaxClientEventsPerSecond(max));
    }
    if let Some(raw) = app.max_backend_events_per_second {
        let max = limit_u32(raw, || origin("max_backend_events_per_second"))?;
        settings.push(AppSetting::MaxBackendEventsPerSecond(max));
    }
    if let Some(raw) = app.max_read_requests_per_second {
        let max = limit_u32(raw, || origin("max_read_requests_per_second"))?;
        settings.push(AppSetting::MaxReadRequestsPerSecond(max));
    }
    if let Some(n) = app.max_event_payload_kb {
        settings.push(AppSetting::MaxEventPayloadBytes(kb(
            n,
            "max_event_payload_kb",
        )?));
    }
    settings.extend(
        app.max_channels_per_event
            .map(AppSetting::MaxChannelsPerEvent),
    );
    settings.extend(app.max_batch_size.map(AppSetting::MaxBatchSize));
    settings.extend(
        app.max_event_name_length
            .map(AppSetting::MaxEventNameLength),
    );
    settings.extend(
        app.max_channel_name_length
            .map(AppSetting::MaxChannelNameLength),
    );
    settings.extend(app.max_presence_members.map(AppSetting::MaxPresenceMembers));
    if let Some(n) = app.max_presence_member_size_kb {
        let n_bytes = kb(n, "max_presence_member_size_kb")?;
        settings.push(AppSetting::MaxPresenceMemberSizeBytes(n_bytes));
    }
    Ok(settings)
}

/// Kilobytes (1024 bytes, fractions allowed) to bytes; zero is left for `validate` to refuse.
pub(crate) fn kilobytes(kb: f64, origin: impl FnOnce() -> Origin) -> Result<usize, ConfigError> {
    if kb.is_finite() && kb >= 0.0 {
        // Rounded down: a limit never grows by conversion.
        Ok((kb * 1024.0) as usize)
    } else {
        Err(ConfigError::Invalid {
            origin: origin(),
            value: kb.to_string(),
            reason: "expected a non-negative number of kilobytes".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load::testing;

    const PATH: &str = "/c.toml";
    const APP: &str = "[[apps]]\nid = 'a'\nkey = 'k'\nsecret = 's'\n";

    fn check(toml: &str, expected: &str) {
        testing::check("--config /c.toml", &[], &[(PATH, toml)], expected);
    }

    fn check_err(toml: &str, expected: &str) {
        testing::check_err("--config /c.toml", &[], &[(PATH, toml)], expected);
    }

    #[test]
    fn server_values() {
        check(
            "[server]\nport = 7000",
            "port = 7000 # 'server.port' in /c.toml",
        );
        check("[server]\nhost = '127.0.0.1'", "host = \"127.0.0.1\"");
        check("[server]\npath_prefix = 'ws/'", "path_prefix = \"/ws\"");
        check(
            "[server]\nshutdown_grace_period = 0",
            "shutdown_grace_period = 0",
        );
        check(
            "[server]\ncors_allowed_origins = ['*']",
            "cors_allowed_origins = [\"*\"]",
        );
        check(
            "[server]\nmax_ws_message_kb = 0.5",
            "max_ws_message_kb = 0.5",
        );
        check(
            "[server]\nsubscription_error_mode = 'pusher'",
            "subscription_error_mode = \"pusher\"",
        );
        check("", "port = 6001");
    }

    #[test]
    fn app_values() {
        check(APP, "id = \"a\" # 'apps[0].id' in /c.toml");
        check(APP, "enable_user_authentication = true");
        check(
            &format!("{APP}max_connections = 'unlimited'"),
            "max_connections = \"unlimited\"",
        );
        check(
            &format!("{APP}max_connections = 20"),
            "max_connections = 20",
        );
        check(
            &format!("{APP}max_client_events_per_second = 'unlimited'"),
            "max_client_events_per_second = \"unlimited\"",
        );
        check(
            &format!("{APP}max_event_payload_kb = 0.5"),
            "max_event_payload_kb = 0.5",
        );
        check(
            &format!("{APP}enable_client_messages = true"),
            "enable_client_messages = true",
        );
    }

    #[test]
    fn part_a_values() {
        check(
            "[server]\ncache_ttl = 60",
            "cache_ttl = 60 # 'server.cache_ttl' in /c.toml",
        );
        check(
            &format!("{APP}enable_subscription_count = true"),
            "enable_subscription_count = true # 'apps[0].enable_subscription_count' in /c.toml",
        );
        check(
            &format!("{APP}authorized_connections_timeout = 30"),
            "authorized_connections_timeout = 30",
        );
        check(APP, "enable_subscription_count = false");
        check(APP, "# authorized_connections_timeout: off");
        check_err(&format!("{APP}authorized_connections_timeout = 0"), "invalid value 0 for 'apps[0].authorized_connections_timeout' in /c.toml: must be at least 1 second (leave it out to turn the check off)");
        check_err(
            "[server]\ncache_ttl = 0",
            "invalid value 0 for 'server.cache_ttl' in /c.toml: must be at least 1 (seconds)",
        );
    }

    #[test]
    fn operations_values() {
        check(
            "[server]\nmetrics_enabled = true\nmetrics_port = 9700",
            "metrics_port = 9700 # 'server.metrics_port' in /c.toml",
        );
        check(
            "[server]\nmetrics_prefix = 'soketi_'",
            "metrics_prefix = \"soketi_\"",
        );
        check(
            "[server]\ntls_cert = '/c.pem'\ntls_key = '/k.pem'",
            "tls_cert = \"/c.pem\" # 'server.tls_cert' in /c.toml",
        );
        check(
            "[server]\nws_connections_per_ip = 20\nws_new_connections_per_ip_per_second = 'unlimited'",
            "ws_connections_per_ip = 20",
        );
        check(
            &format!("{APP}max_backend_events_per_second = 7"),
            "max_backend_events_per_second = 7 # 'apps[0].max_backend_events_per_second' in /c.toml",
        );
        check(APP, "max_read_requests_per_second = \"unlimited\"");
        check_err(
            "[server]\ntls_key = '/k.pem'",
            "invalid value (a path) for 'server.tls_key' in /c.toml: TLS needs both a certificate and a key: tls_cert is not set",
        );
        check_err(&format!("{APP}max_read_requests_per_second = 'lots'"), "invalid value 'lots' for 'apps[0].max_read_requests_per_second' in /c.toml: expected a whole number or \"unlimited\"");
    }

    #[test]
    fn webhook_settings() {
        check(
            "[server]\nwebhook_batch_window_ms = 10",
            "webhook_batch_window_ms = 10",
        );
        check(
            "[server]\nwebhook_leave_delay_ms = 500",
            "webhook_leave_delay_ms = 500",
        );
        check(
            "[server]\nwebhook_retry_budget = 0",
            "webhook_retry_budget = 0",
        );
        check("", "webhook_queue_capacity = 10000");
        check_err("[server]\nwebhook_batch_max_events = 0", "invalid value 0 for 'server.webhook_batch_max_events' in /c.toml: must be at least 1 (events)");
        check_err("[server]\nwebhook_request_timeout = 0", "invalid value 0 for 'server.webhook_request_timeout' in /c.toml: must be at least 1 (seconds)");
        let hook = "[[apps.webhooks]]\nurl = 'http://127.0.0.1:1/x'\nevent_types = ['client_event', 'client_event']\n";
        check(&format!("{APP}{hook}"), "event_types = [\"client_event\"]");
        check(
            &format!("{APP}{hook}filter = {{ channel_name_ends_with = '-app' }}"),
            "filter = { channel_name_ends_with = \"-app\" }",
        );
        check_err(&format!("{APP}{hook}headers = {{ Content-Type = 'text/plain' }}"), "invalid value 'Content-Type' for 'apps[0].webhooks[0].headers' in /c.toml: sockwave sets this header on every webhook request; it cannot be replaced");
        check_err(&format!("{APP}{hook}headers = {{ 'X-A' = \"line\\nbreak\" }}"), "invalid value (hidden) for 'apps[0].webhooks[0].headers' in /c.toml: the value of header 'X-A' is not a valid HTTP header value");
        check_err(
            &format!("{APP}{hook}uri = 'x'"),
            "unknown key 'apps[0].webhooks[0].uri' in /c.toml (did you mean 'url'?)",
        );
        check_err(&format!("{APP}{hook}filter = {{ channel_name_start_with = 'a' }}"), "unknown key 'apps[0].webhooks[0].filter.channel_name_start_with' in /c.toml (did you mean 'channel_name_starts_with'?)");
        check_err(&format!("{APP}[[apps.webhooks]]\nurl = 'http://h'\nevent_types = []"), "invalid value [] for 'apps[0].webhooks[0].event_types' in /c.toml: lists no event types, so this webhook would never be sent");
        check_err(
            &format!("{APP}[[apps.webhooks]]\nevent_types = ['cache_miss']"),
            "missing 'apps[0].webhooks[0].url' in /c.toml",
        );
        check_err(&format!("{APP}[[apps.webhooks]]\nurl = 'https://'\nevent_types = ['cache_miss']"), "invalid value 'https://' for 'apps[0].webhooks[0].url' in /c.toml: expected an absolute http:// or https:// URL");
        check_err(&format!("{APP}[[apps.webhooks]]\nurl = 'http://h'\nevent_types = ['cache_miss']\nlambda_function = 'f'"), "'apps[0].webhooks[0].lambda_function' in /c.toml is not supported yet");
    }

    #[test]
    fn unknown_keys_name_key_and_file() {
        check_err(
            "[server]\nprot = 1",
            "unknown key 'server.prot' in /c.toml (did you mean 'port'?)",
        );
        check_err(
            "[sever]\nport = 1",
            "unknown key 'sever' in /c.toml (did you mean 'server'?)",
        );
        check_err(
            &format!("{APP}max_conections = 1"),
            "unknown key 'apps[0].max_conections' in /c.toml (did you mean 'max_connections'?)",
        );
        check_err(
            "[server]\nzzzzzzzz = 1",
            "unknown key 'server.zzzzzzzz' in /c.toml",
        );
    }

    #[test]
    fn bad_values() {
        check_err(
            "[[apps]]\nid = 'a'\nkey = 'k'",
            "missing 'apps[0].secret' in /c.toml",
        );
        check_err(
            "apps = []",
            "no apps configured: 'apps' in /c.toml is empty",
        );
        check_err(&format!("{APP}max_connections = 'lots'"), "invalid value 'lots' for 'apps[0].max_connections' in /c.toml: expected a whole number or \"unlimited\"");
        check_err(&format!("{APP}max_connections = 0"), "invalid value 0 for 'apps[0].max_connections' in /c.toml: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)");
        check_err(&format!("{APP}max_event_payload_kb = -1.0"), "invalid value -1 for 'apps[0].max_event_payload_kb' in /c.toml: expected a non-negative number of kilobytes");
        check_err("[server]\npath_prefix = '/a b'", "invalid value '/a b' for 'server.path_prefix' in /c.toml: only letters, digits, '-', '.', '_', '~' and '/' are allowed");
        check_err("[server]\ncors_allowed_origins = ['example.com']", "invalid value 'example.com' for 'server.cors_allowed_origins' in /c.toml: expected \"*\" or an origin like \"https://example.com\"");
        check_err(
            &format!("{APP}{}", APP),
            "duplicate app id 'a': set by 'apps[0].id' in /c.toml and by 'apps[1].id' in /c.toml",
        );
        check_err(&format!("{APP}[[apps]]\nid = 'b'\nkey = 'k'\nsecret = 's'"), "duplicate app key 'k': set by 'apps[0].key' in /c.toml and by 'apps[1].key' in /c.toml");
    }

    #[test]
    fn type_errors_show_the_line() {
        let message = testing::render("--config /c.toml", &[], &[(PATH, "[server]\nport = 70000")])
            .unwrap_err();
        assert!(
            message.starts_with("invalid config file /c.toml: TOML parse error at line 2"),
            "{message}"
        );
        let message = testing::render(
            "--config /c.toml",
            &[],
            &[(PATH, "[server]\nsubscription_error_mode = 'x'")],
        )
        .unwrap_err();
        assert!(
            message.contains("unknown variant `x`, expected `soketi` or `pusher`"),
            "{message}"
        );
    }
}
