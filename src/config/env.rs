//! Environment variables: sockwave's `SOCKWAVE_*`, Soketi's `SOKETI_*` and Laravel's
//! `PUSHER_APP_*`.
//!
//! The environment arrives as a map, so this module never reads the process environment
//! and its tests stay pure. Names are applied from lowest to highest precedence (`PUSHER_`,
//! then `SOKETI_`, then `SOCKWAVE_`), each group in name order. An unknown `SOCKWAVE_*` or
//! `SOKETI_*` name is an error with a suggestion: a typo must not be ignored silently.

use std::collections::HashMap;
use std::time::Duration;

use super::cluster::{self as cluster_config, ClusterSetting, DriverKind};
use super::draft::{AppSetting, Draft, Origin, Override, ServerSetting};
use super::error::{closest, ConfigError};
use super::soketi;
use super::webhooks;
use super::SubscriptionErrorMode;

/// The variable naming the config file, like `--config`.
pub(crate) const CONFIG_VAR: &str = "SOCKWAVE_CONFIG";

/// The first app's webhooks as a JSON array, in the shape `[[apps.webhooks]]` uses.
const WEBHOOKS_VAR: &str = "SOCKWAVE_APP_WEBHOOKS";

const SOKETI_PREFIX: &str = "SOKETI_";

type Parse = fn(&str) -> Result<Override, String>;

type AppSettingFrom = fn(String) -> AppSetting;

/// sockwave's variables and how each value is read. Server settings mirror `[server]` keys,
/// app settings mirror `[[apps]]` keys and apply to the first app.
const SOCKWAVE_VARS: &[(&str, Parse)] = &[
    ("SOCKWAVE_HOST", |v| {
        Ok(server(ServerSetting::Host(v.to_string())))
    }),
    ("SOCKWAVE_PORT", |v| {
        Ok(server(ServerSetting::Port(port(v)?)))
    }),
    ("SOCKWAVE_PATH_PREFIX", |v| {
        Ok(server(ServerSetting::PathPrefix(v.to_string())))
    }),
    ("SOCKWAVE_DEBUG", |v| {
        Ok(server(ServerSetting::Debug(boolean(v)?)))
    }),
    ("SOCKWAVE_ACTIVITY_TIMEOUT", |v| {
        Ok(server(ServerSetting::ActivityTimeout(seconds(v)?)))
    }),
    ("SOCKWAVE_PONG_TIMEOUT", |v| {
        Ok(server(ServerSetting::PongTimeout(seconds(v)?)))
    }),
    ("SOCKWAVE_SHUTDOWN_GRACE_PERIOD", |v| {
        Ok(server(ServerSetting::ShutdownGracePeriod(seconds(v)?)))
    }),
    ("SOCKWAVE_AUTH_TIMESTAMP_WINDOW", |v| {
        Ok(server(ServerSetting::AuthTimestampWindow(seconds(v)?)))
    }),
    ("SOCKWAVE_CORS_ALLOWED_ORIGINS", |v| {
        let origins = v
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty());
        Ok(server(ServerSetting::CorsAllowedOrigins(
            origins.map(String::from).collect(),
        )))
    }),
    ("SOCKWAVE_SOCKET_QUEUE_CAPACITY", |v| {
        Ok(server(ServerSetting::SocketQueueCapacity(whole(v)?)))
    }),
    ("SOCKWAVE_MAX_WS_MESSAGE_KB", |v| {
        Ok(server(ServerSetting::MaxWsMessageBytes(kb(v)?)))
    }),
    ("SOCKWAVE_MAX_REQUEST_BODY_KB", |v| {
        Ok(server(ServerSetting::MaxRequestBodyBytes(kb(v)?)))
    }),
    ("SOCKWAVE_REQUEST_BODY_TIMEOUT", |v| {
        Ok(server(ServerSetting::RequestBodyTimeout(seconds(v)?)))
    }),
    ("SOCKWAVE_REQUEST_BODY_BUDGET_KB", |v| {
        Ok(server(ServerSetting::RequestBodyBudgetBytes(kb(v)?)))
    }),
    ("SOCKWAVE_HANDSHAKE_TIMEOUT", |v| {
        Ok(server(ServerSetting::HandshakeTimeout(seconds(v)?)))
    }),
    ("SOCKWAVE_MAX_HEADER_KB", |v| {
        Ok(server(ServerSetting::MaxHeaderBytes(kb(v)?)))
    }),
    ("SOCKWAVE_MAX_WS_MESSAGES_PER_SECOND", |v| {
        Ok(server(ServerSetting::MaxWsMessagesPerSecond(whole(v)?)))
    }),
    ("SOCKWAVE_WS_MESSAGE_BURST", |v| {
        Ok(server(ServerSetting::WsMessageBurst(whole(v)?)))
    }),
    ("SOCKWAVE_SUBSCRIPTION_ERROR_MODE", |v| {
        let mode = match v.trim().to_ascii_lowercase().as_str() {
            "soketi" => SubscriptionErrorMode::Soketi,
            "pusher" => SubscriptionErrorMode::Pusher,
            _ => return Err("expected \"soketi\" or \"pusher\"".to_string()),
        };
        Ok(server(ServerSetting::SubscriptionErrorMode(mode)))
    }),
    ("SOCKWAVE_CACHE_TTL", |v| {
        Ok(server(ServerSetting::CacheTtl(seconds(v)?)))
    }),
    ("SOCKWAVE_CONSOLE_ENABLED", |v| {
        Ok(server(ServerSetting::ConsoleEnabled(boolean(v)?)))
    }),
    ("SOCKWAVE_CONSOLE_TOKEN", |v| {
        Ok(server(ServerSetting::ConsoleToken(v.to_string())))
    }),
    ("SOCKWAVE_IDLE_APP_WARNING", |v| {
        let after = seconds(v)?;
        Ok(server(ServerSetting::IdleAppWarning(
            (!after.is_zero()).then_some(after),
        )))
    }),
    ("SOCKWAVE_WEBHOOK_BATCH_WINDOW_MS", |v| {
        Ok(server(ServerSetting::WebhookBatchWindow(millis(v)?)))
    }),
    ("SOCKWAVE_WEBHOOK_BATCH_MAX_EVENTS", |v| {
        Ok(server(ServerSetting::WebhookBatchMaxEvents(whole(v)?)))
    }),
    ("SOCKWAVE_WEBHOOK_LEAVE_DELAY_MS", |v| {
        Ok(server(ServerSetting::WebhookLeaveDelay(millis(v)?)))
    }),
    ("SOCKWAVE_WEBHOOK_RETRY_BUDGET", |v| {
        Ok(server(ServerSetting::WebhookRetryBudget(seconds(v)?)))
    }),
    ("SOCKWAVE_WEBHOOK_REQUEST_TIMEOUT", |v| {
        Ok(server(ServerSetting::WebhookRequestTimeout(seconds(v)?)))
    }),
    ("SOCKWAVE_WEBHOOK_QUEUE_CAPACITY", |v| {
        Ok(server(ServerSetting::WebhookQueueCapacity(whole(v)?)))
    }),
    ("SOCKWAVE_WEBHOOK_DELIVERY_LOG_SIZE", |v| {
        Ok(server(ServerSetting::WebhookDeliveryLogSize(whole(v)?)))
    }),
    ("SOCKWAVE_METRICS_ENABLED", |v| {
        Ok(server(ServerSetting::MetricsEnabled(boolean(v)?)))
    }),
    ("SOCKWAVE_METRICS_HOST", |v| {
        Ok(server(ServerSetting::MetricsHost(v.trim().to_string())))
    }),
    ("SOCKWAVE_METRICS_PORT", |v| {
        Ok(server(ServerSetting::MetricsPort(port(v)?)))
    }),
    ("SOCKWAVE_METRICS_PREFIX", |v| {
        Ok(server(ServerSetting::MetricsPrefix(v.trim().to_string())))
    }),
    ("SOCKWAVE_TLS_CERT", |v| {
        Ok(server(ServerSetting::TlsCert(v.trim().into())))
    }),
    ("SOCKWAVE_TLS_KEY", |v| {
        Ok(server(ServerSetting::TlsKey(v.trim().into())))
    }),
    ("SOCKWAVE_WS_CONNECTIONS_PER_IP", |v| {
        Ok(server(ServerSetting::WsConnectionsPerIp(limit(v)?)))
    }),
    ("SOCKWAVE_WS_NEW_CONNECTIONS_PER_IP_PER_SECOND", |v| {
        Ok(server(ServerSetting::WsNewConnectionsPerIpPerSecond(
            limit(v)?,
        )))
    }),
    ("SOCKWAVE_CLUSTER_DRIVER", |v| {
        let driver = DriverKind::parse(v).ok_or("expected \"local\", \"redis\" or \"nats\"")?;
        Ok(cluster(ClusterSetting::Driver(driver)))
    }),
    ("SOCKWAVE_CLUSTER_REDIS_URL", |v| {
        Ok(cluster(ClusterSetting::RedisUrl(v.trim().to_string())))
    }),
    ("SOCKWAVE_CLUSTER_NATS_SERVERS", |v| {
        let servers = v.split(',').map(str::trim).filter(|s| !s.is_empty());
        Ok(cluster(ClusterSetting::NatsServers(
            servers.map(String::from).collect(),
        )))
    }),
    ("SOCKWAVE_CLUSTER_PREFIX", |v| {
        Ok(cluster(ClusterSetting::Prefix(v.to_string())))
    }),
    ("SOCKWAVE_CLUSTER_HEARTBEAT_INTERVAL", |v| {
        Ok(cluster(ClusterSetting::HeartbeatInterval(
            fractional_seconds(v)?,
        )))
    }),
    ("SOCKWAVE_CLUSTER_NODE_TIMEOUT", |v| {
        Ok(cluster(ClusterSetting::NodeTimeout(fractional_seconds(v)?)))
    }),
    ("SOCKWAVE_CLUSTER_READY_REQUIRES_ENGINE", |v| {
        Ok(cluster(ClusterSetting::ReadyRequiresEngine(boolean(v)?)))
    }),
    ("SOCKWAVE_APP_ID", |v| {
        Ok(app(AppSetting::Id(v.to_string())))
    }),
    ("SOCKWAVE_APP_KEY", |v| {
        Ok(app(AppSetting::Key(v.to_string())))
    }),
    ("SOCKWAVE_APP_SECRET", |v| {
        Ok(app(AppSetting::Secret(v.to_string())))
    }),
    ("SOCKWAVE_APP_ENABLED", |v| {
        Ok(app(AppSetting::Enabled(boolean(v)?)))
    }),
    ("SOCKWAVE_APP_ENABLE_CLIENT_MESSAGES", |v| {
        Ok(app(AppSetting::EnableClientMessages(boolean(v)?)))
    }),
    ("SOCKWAVE_APP_ENABLE_USER_AUTHENTICATION", |v| {
        Ok(app(AppSetting::EnableUserAuthentication(boolean(v)?)))
    }),
    ("SOCKWAVE_APP_ENABLE_SUBSCRIPTION_COUNT", |v| {
        Ok(app(AppSetting::EnableSubscriptionCount(boolean(v)?)))
    }),
    ("SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT", |v| {
        // "off" lets the environment undo a timeout set in the file.
        let timeout = match v.trim() {
            "off" => None,
            secs => Some(seconds(secs).map_err(|_| "expected whole seconds, or \"off\"")?),
        };
        Ok(app(AppSetting::AuthorizedConnectionsTimeout(timeout)))
    }),
    ("SOCKWAVE_APP_MAX_CONNECTIONS", |v| {
        Ok(app(AppSetting::MaxConnections(limit(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_CLIENT_EVENTS_PER_SECOND", |v| {
        Ok(app(AppSetting::MaxClientEventsPerSecond(limit(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_BACKEND_EVENTS_PER_SECOND", |v| {
        Ok(app(AppSetting::MaxBackendEventsPerSecond(limit(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_READ_REQUESTS_PER_SECOND", |v| {
        Ok(app(AppSetting::MaxReadRequestsPerSecond(limit(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_EVENT_PAYLOAD_KB", |v| {
        Ok(app(AppSetting::MaxEventPayloadBytes(kb(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_CHANNELS_PER_EVENT", |v| {
        Ok(app(AppSetting::MaxChannelsPerEvent(whole(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_BATCH_SIZE", |v| {
        Ok(app(AppSetting::MaxBatchSize(whole(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_EVENT_NAME_LENGTH", |v| {
        Ok(app(AppSetting::MaxEventNameLength(whole(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_CHANNEL_NAME_LENGTH", |v| {
        Ok(app(AppSetting::MaxChannelNameLength(whole(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_PRESENCE_MEMBERS", |v| {
        Ok(app(AppSetting::MaxPresenceMembers(whole(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_PRESENCE_MEMBER_SIZE_KB", |v| {
        Ok(app(AppSetting::MaxPresenceMemberSizeBytes(kb(v)?)))
    }),
];

/// Laravel's `.env` names for the credentials its broadcaster signs with. Its other
/// `PUSHER_*` names (host, port, scheme, cluster) configure the client side only.
const PUSHER_VARS: &[(&str, AppSettingFrom)] = &[
    ("PUSHER_APP_ID", AppSetting::Id),
    ("PUSHER_APP_KEY", AppSetting::Key),
    ("PUSHER_APP_SECRET", AppSetting::Secret),
];

/// Applies every recognised variable, lowest precedence first.
pub(crate) fn apply(draft: &mut Draft, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
    names.sort_unstable();

    for (name, setting) in PUSHER_VARS {
        // Laravel's `.env` template ships these empty; an empty one is not a value.
        if let Some(value) = env.get(*name).filter(|value| !value.is_empty()) {
            draft.apply(
                Override::FirstApp(setting(value.clone())),
                Origin::env(name),
            );
        }
    }

    for name in names.iter().filter(|name| name.starts_with(SOKETI_PREFIX)) {
        let short = &name[SOKETI_PREFIX.len()..];
        let Some((_, option)) = soketi::ENV_OPTIONS.iter().find(|(var, _)| *var == short) else {
            let known = soketi::ENV_OPTIONS.iter().map(|(var, _)| *var);
            return Err(ConfigError::UnknownEnv {
                var: name.to_string(),
                suggestion: closest(short, known).map(|var| format!("{SOKETI_PREFIX}{var}")),
            });
        };
        soketi::apply_env(draft, name, option, &env[*name])?;
    }

    for name in names.iter().filter(|name| name.starts_with("SOCKWAVE_")) {
        if *name == CONFIG_VAR || is_harness_var(name) {
            continue;
        }
        if *name == WEBHOOKS_VAR {
            let origin = Origin::env(name);
            let value = serde_json::Value::String(env[*name].clone());
            let targets = webhooks::from_json(&value, &origin)?;
            draft.apply(Override::FirstApp(AppSetting::Webhooks(targets)), origin);
            continue;
        }
        let Some((_, parse)) = SOCKWAVE_VARS.iter().find(|(var, _)| var == name) else {
            let known = SOCKWAVE_VARS
                .iter()
                .map(|(var, _)| *var)
                .chain([CONFIG_VAR, WEBHOOKS_VAR]);
            return Err(ConfigError::UnknownEnv {
                var: name.to_string(),
                suggestion: closest(name, known),
            });
        };
        let value = &env[*name];
        let setting = parse(value).map_err(|reason| ConfigError::Invalid {
            origin: Origin::env(name),
            value: format!("'{value}'"),
            reason,
        })?;
        draft.apply(setting, Origin::env(name));
    }
    Ok(())
}

/// Variables the test harnesses set for themselves (the protocol tests pass their whole
/// environment to the server): `SOCKWAVE_BIN` and `SOCKWAVE_TEST_*`.
fn is_harness_var(name: &str) -> bool {
    name == "SOCKWAVE_BIN" || name.starts_with("SOCKWAVE_TEST_")
}

fn server(setting: ServerSetting) -> Override {
    Override::Server(setting)
}

fn app(setting: AppSetting) -> Override {
    Override::FirstApp(setting)
}

fn cluster(setting: ClusterSetting) -> Override {
    Override::Cluster(setting)
}

fn whole<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "expected a whole number, 0 or more".to_string())
}

fn port(value: &str) -> Result<u16, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "expected a port number (0-65535)".to_string())
}

fn seconds(value: &str) -> Result<Duration, String> {
    whole(value)
        .map(Duration::from_secs)
        .map_err(|_| "expected whole seconds".to_string())
}

/// Seconds with an optional fraction (`2`, `0.2`).
fn fractional_seconds(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(cluster_config::seconds)
        .ok_or_else(|| "expected seconds, fractions allowed (e.g. 2 or 0.5)".to_string())
}

fn millis(value: &str) -> Result<Duration, String> {
    whole(value)
        .map(Duration::from_millis)
        .map_err(|_| "expected whole milliseconds".to_string())
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_string()),
    }
}

fn kb(value: &str) -> Result<usize, String> {
    match value.trim().parse::<f64>() {
        Ok(kb) if kb.is_finite() && kb >= 0.0 => Ok((kb * 1024.0) as usize),
        _ => Err("expected a number of kilobytes".to_string()),
    }
}

/// A count, or `unlimited` (`-1` too, as Soketi writes it).
fn limit<T: std::str::FromStr>(value: &str) -> Result<Option<T>, String> {
    match value.trim() {
        "unlimited" | "-1" => Ok(None),
        count => count
            .parse()
            .map(Some)
            .map_err(|_| "expected a whole number, or \"unlimited\"".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load::testing;

    fn check(env: &[(&str, &str)], expected: &str) {
        testing::check("", env, &[], expected);
    }

    fn check_err(env: &[(&str, &str)], expected: &str) {
        testing::check_err("", env, &[], expected);
    }

    #[test]
    fn sockwave_variables() {
        check(&[("SOCKWAVE_PORT", "7001")], "port = 7001 # SOCKWAVE_PORT");
        check(&[("SOCKWAVE_DEBUG", "yes")], "debug = true");
        check(&[("SOCKWAVE_PATH_PREFIX", "/ws/")], "path_prefix = \"/ws\"");
        check(
            &[(
                "SOCKWAVE_CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            )],
            "cors_allowed_origins = [\"https://a.example\", \"https://b.example\"]",
        );
        check(
            &[("SOCKWAVE_SUBSCRIPTION_ERROR_MODE", "Pusher")],
            "subscription_error_mode = \"pusher\"",
        );
        check(
            &[("SOCKWAVE_MAX_REQUEST_BODY_KB", "64")],
            "max_request_body_kb = 64",
        );
        check(
            &[("SOCKWAVE_APP_MAX_CONNECTIONS", "unlimited")],
            "max_connections = \"unlimited\"",
        );
        check(
            &[("SOCKWAVE_APP_MAX_CLIENT_EVENTS_PER_SECOND", "-1")],
            "max_client_events_per_second = \"unlimited\"",
        );
        check(
            &[("SOCKWAVE_APP_MAX_PRESENCE_MEMBER_SIZE_KB", "4")],
            "max_presence_member_size_kb = 4 # SOCKWAVE_APP_MAX_PRESENCE_MEMBER_SIZE_KB",
        );
        check(
            &[("SOCKWAVE_APP_ENABLE_USER_AUTHENTICATION", "false")],
            "enable_user_authentication = false",
        );
        check(
            &[("SOCKWAVE_BIN", "/x"), ("SOCKWAVE_TEST_REDIS", "1")],
            "port = 6001",
        );
    }

    #[test]
    fn soketi_variables() {
        check(&[("SOKETI_PORT", "7002")], "port = 7002 # SOKETI_PORT");
        check(&[("SOKETI_DEBUG", "1")], "debug = true");
        check(
            &[("SOKETI_SHUTDOWN_GRACE_PERIOD", "5000")],
            "shutdown_grace_period = 5",
        );
        check(
            &[("SOKETI_DEFAULT_APP_MAX_CONNS", "-1")],
            "max_connections = \"unlimited\"",
        );
        check(
            &[("SOKETI_DEFAULT_APP_MAX_CONNS", "100")],
            "max_connections = 100",
        );
        check(
            &[("SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES", "true")],
            "enable_client_messages = true",
        );
        check(
            &[("SOKETI_DEFAULT_APP_USER_AUTHENTICATION", "false")],
            "enable_user_authentication = false",
        );
        check(&[("SOKETI_DEFAULT_APP_ID", "12345")], "id = \"12345\"");
        check(
            &[("SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC", "-1")],
            "max_client_events_per_second = \"unlimited\"",
        );
        check(
            &[
                ("SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC", "-1"),
                ("SOKETI_DEFAULT_APP_WEBHOOKS", "[]"),
            ],
            "port = 6001",
        );
        check(
            &[("SOKETI_PRESENCE_MAX_MEMBER_SIZE", "0.5")],
            "max_presence_member_size_kb = 0.5 # SOKETI_PRESENCE_MAX_MEMBER_SIZE",
        );
        check(
            &[("SOKETI_EVENT_MAX_SIZE_IN_KB", "10")],
            "max_event_payload_kb = 10",
        );
        check(
            &[("SOKETI_CHANNEL_LIMITS_MAX_NAME_LENGTH", "150")],
            "max_channel_name_length = 150",
        );
        check(
            &[
                ("SOKETI_ADAPTER_DRIVER", "local"),
                ("SOKETI_DB_REDIS_HOST", "redis"),
                ("SOKETI_METRICS_ENABLED", "false"),
            ],
            "port = 6001",
        );
        check(&[("SOKETI_PORT", "")], "port = 6001");
    }

    #[test]
    fn part_a_variables() {
        check(
            &[("SOCKWAVE_CACHE_TTL", "60")],
            "cache_ttl = 60 # SOCKWAVE_CACHE_TTL",
        );
        check(
            &[("SOCKWAVE_APP_ENABLE_SUBSCRIPTION_COUNT", "true")],
            "enable_subscription_count = true # SOCKWAVE_APP_ENABLE_SUBSCRIPTION_COUNT",
        );
        check(
            &[("SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT", "30")],
            "authorized_connections_timeout = 30 # SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT",
        );
        check(
            &[("SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT", "off")],
            "# authorized_connections_timeout: off",
        );
        check(&[], "# authorized_connections_timeout: off");
        check(&[], "cache_ttl = 1800");
        check(&[("SOKETI_CHANNEL_CACHE_TTL", "3600")], "cache_ttl = 3600");
        check(
            &[("SOKETI_CHANNEL_LIMITS_CACHE_TTL", "120")],
            "cache_ttl = 120 # SOKETI_CHANNEL_LIMITS_CACHE_TTL",
        );
        check_err(
            &[("SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT", "0")],
            "invalid value 0 for SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT: must be at least 1 second (leave it out to turn the check off)",
        );
        check_err(
            &[("SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT", "soon")],
            "invalid value 'soon' for SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT: expected whole seconds, or \"off\"",
        );
        check_err(
            &[("SOCKWAVE_CACHE_TTL", "0")],
            "invalid value 0 for SOCKWAVE_CACHE_TTL: must be at least 1 (seconds)",
        );
    }

    #[test]
    fn webhook_variables() {
        check(
            &[("SOCKWAVE_WEBHOOK_BATCH_WINDOW_MS", "20")],
            "webhook_batch_window_ms = 20 # SOCKWAVE_WEBHOOK_BATCH_WINDOW_MS",
        );
        check(
            &[("SOCKWAVE_WEBHOOK_LEAVE_DELAY_MS", "0")],
            "webhook_leave_delay_ms = 0",
        );
        check(
            &[("SOCKWAVE_WEBHOOK_RETRY_BUDGET", "5")],
            "webhook_retry_budget = 5",
        );
        check(
            &[("SOCKWAVE_WEBHOOK_REQUEST_TIMEOUT", "2")],
            "webhook_request_timeout = 2",
        );
        check(
            &[("SOCKWAVE_WEBHOOK_QUEUE_CAPACITY", "50")],
            "webhook_queue_capacity = 50",
        );
        check(
            &[("SOCKWAVE_WEBHOOK_BATCH_MAX_EVENTS", "10")],
            "webhook_batch_max_events = 10",
        );
        check(
            &[("SOCKWAVE_WEBHOOK_DELIVERY_LOG_SIZE", "0")],
            "webhook_delivery_log_size = 0",
        );
        check(
            &[("SOKETI_WEBHOOKS_BATCHING_DURATION", "75")],
            "webhook_batch_window_ms = 75 # SOKETI_WEBHOOKS_BATCHING_DURATION",
        );
        check(
            &[("SOKETI_WEBHOOKS_BATCHING", "true")],
            "webhook_batch_window_ms = 50",
        );
        let hooks = r#"[{"url":"https://h.example/a","event_types":["member_added"],"filter":{"channel_name_starts_with":"presence-"},"headers":{"X-Token":"abcdefgh"}}]"#;
        for var in ["SOCKWAVE_APP_WEBHOOKS", "SOKETI_DEFAULT_APP_WEBHOOKS"] {
            check(&[(var, hooks)], "url = \"https://h.example/a\"");
            check(&[(var, hooks)], "event_types = [\"member_added\"]");
            check(
                &[(var, hooks)],
                "filter = { channel_name_starts_with = \"presence-\" }",
            );
            check(&[(var, hooks)], "headers = { X-Token = \"ab****\" }");
            check(&[(var, hooks)], &format!("# webhooks from {var}"));
        }
        check_err(
            &[("SOCKWAVE_APP_WEBHOOKS", r#"[{"url":"ftp://h","event_types":["member_added"]}]"#)],
            "invalid value 'ftp://h' for SOCKWAVE_APP_WEBHOOKS: url: only http:// and https:// webhook URLs are supported",
        );
        check_err(
            &[("SOCKWAVE_APP_WEBHOOKS", r#"[{"url":"http://h","event_types":["member_add"]}]"#)],
            "invalid value 'member_add' for SOCKWAVE_APP_WEBHOOKS: event_types: unknown event type; expected one of channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, subscription_count (did you mean 'member_added'?)",
        );
        check_err(
            &[("SOCKWAVE_APP_WEBHOOKS", r#"[{"uri":"http://h"}]"#)],
            "invalid value webhook #0 for SOCKWAVE_APP_WEBHOOKS: unknown field `uri`, expected one of `url`, `event_types`, `filter`, `headers`, `lambda_function`, `lambda`",
        );
        check_err(
            &[("SOCKWAVE_APP_WEBHOOKS", "not json")],
            "invalid value (webhooks) for SOCKWAVE_APP_WEBHOOKS: expected a JSON array of webhook objects: expected ident at line 1 column 2",
        );
        check_err(
            &[("SOCKWAVE_APP_WEBHOOKS", r#"[{"url":"http://h","event_types":["client_event"],"headers":{"x-pusher-key":"k"}}]"#)],
            "invalid value 'x-pusher-key' for SOCKWAVE_APP_WEBHOOKS: headers: sockwave sets this header on every webhook request; it cannot be replaced",
        );
    }

    #[test]
    fn laravel_variables() {
        check(
            &[("PUSHER_APP_KEY", "laravel-key")],
            "key = \"laravel-key\" # PUSHER_APP_KEY",
        );
        check(
            &[
                ("PUSHER_APP_ID", ""),
                ("PUSHER_HOST", "soketi"),
                ("PUSHER_PORT", "443"),
            ],
            "id = \"app-id\"",
        );
        check(
            &[("PUSHER_APP_SECRET", "s3cret-from-laravel")],
            "secret = \"s3cr****\"",
        );
    }

    #[test]
    fn operations_variables() {
        check(
            &[("SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC", "10")],
            "max_read_requests_per_second = 10 # SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC",
        );
        check(
            &[("SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC", "25")],
            "max_backend_events_per_second = 25",
        );
        check(
            &[("SOCKWAVE_APP_MAX_BACKEND_EVENTS_PER_SECOND", "unlimited")],
            "max_backend_events_per_second = \"unlimited\"",
        );
        check(
            &[("SOCKWAVE_APP_MAX_READ_REQUESTS_PER_SECOND", "3")],
            "max_read_requests_per_second = 3 # SOCKWAVE_APP_MAX_READ_REQUESTS_PER_SECOND",
        );
        check(
            &[
                ("SOKETI_METRICS_ENABLED", "true"),
                ("SOKETI_METRICS_SERVER_PORT", "9700"),
            ],
            "metrics_port = 9700 # SOKETI_METRICS_SERVER_PORT",
        );
        check(&[("SOKETI_METRICS_ENABLED", "1")], "metrics_enabled = true");
        check(
            &[("SOKETI_METRICS_PROMETHEUS_PREFIX", "soketi_")],
            "metrics_prefix = \"soketi_\"",
        );
        check(&[], "metrics_host = \"127.0.0.1\"");
        check(
            &[
                ("SOCKWAVE_METRICS_HOST", "0.0.0.0"),
                ("SOCKWAVE_METRICS_ENABLED", "yes"),
            ],
            "metrics_host = \"0.0.0.0\" # SOCKWAVE_METRICS_HOST",
        );
        check(
            &[
                ("SOKETI_SSL_CERT", "/tls/cert.pem"),
                ("SOKETI_SSL_KEY", "/tls/key.pem"),
            ],
            "tls_key = \"/tls/key.pem\" # SOKETI_SSL_KEY",
        );
        check(
            &[
                ("SOCKWAVE_TLS_CERT", "/c.pem"),
                ("SOCKWAVE_TLS_KEY", "/k.pem"),
            ],
            "tls_cert = \"/c.pem\" # SOCKWAVE_TLS_CERT",
        );
        check(
            &[],
            "# tls: off (set tls_cert and tls_key to serve wss/https)",
        );
        check(
            &[("SOCKWAVE_WS_CONNECTIONS_PER_IP", "50")],
            "ws_connections_per_ip = 50 # SOCKWAVE_WS_CONNECTIONS_PER_IP",
        );
        check(&[], "ws_new_connections_per_ip_per_second = \"unlimited\"");
        check_err(
            &[("SOCKWAVE_TLS_CERT", "/c.pem")],
            "invalid value (a path) for SOCKWAVE_TLS_CERT: TLS needs both a certificate and a key: tls_key is not set",
        );
        check_err(
            &[("SOCKWAVE_METRICS_PREFIX", "my-app_")],
            "invalid value 'my-app_' for SOCKWAVE_METRICS_PREFIX: a Prometheus name prefix uses letters, digits (not first), '_' and ':'",
        );
        check_err(
            &[("SOCKWAVE_METRICS_ENABLED", "1"), ("SOCKWAVE_METRICS_PORT", "6001")],
            "invalid value 6001 for SOCKWAVE_METRICS_PORT: the metrics endpoint needs its own port, not the WebSocket/API port",
        );
        check_err(
            &[("SOCKWAVE_APP_MAX_BACKEND_EVENTS_PER_SECOND", "0")],
            "invalid value 0 for SOCKWAVE_APP_MAX_BACKEND_EVENTS_PER_SECOND: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)",
        );
        check_err(
            &[("SOCKWAVE_WS_NEW_CONNECTIONS_PER_IP_PER_SECOND", "0")],
            "invalid value 0 for SOCKWAVE_WS_NEW_CONNECTIONS_PER_IP_PER_SECOND: must be at least 1 (omit it or use \"unlimited\" for no limit)",
        );
    }

    #[test]
    fn refused_variables() {
        check_err(
            &[("SOCKWAVE_PROT", "1")],
            "unknown environment variable SOCKWAVE_PROT (did you mean 'SOCKWAVE_PORT'?)",
        );
        check_err(&[("SOCKWAVE_APP_MAX_CONECTIONS", "1")], "unknown environment variable SOCKWAVE_APP_MAX_CONECTIONS (did you mean 'SOCKWAVE_APP_MAX_CONNECTIONS'?)");
        check_err(&[("SOKETI_DEFAULT_APP_MAX_CONNECTIONS", "1")], "unknown environment variable SOKETI_DEFAULT_APP_MAX_CONNECTIONS (did you mean 'SOKETI_DEFAULT_APP_MAX_CONNS'?)");
        check_err(
            &[("SOCKWAVE_PORT", "abc")],
            "invalid value 'abc' for SOCKWAVE_PORT: expected a port number (0-65535)",
        );
        check_err(
            &[("SOCKWAVE_PORT", "70000")],
            "invalid value '70000' for SOCKWAVE_PORT: expected a port number (0-65535)",
        );
        check_err(
            &[("SOCKWAVE_DEBUG", "maybe")],
            "invalid value 'maybe' for SOCKWAVE_DEBUG: expected true or false",
        );
        check_err(&[("SOCKWAVE_SUBSCRIPTION_ERROR_MODE", "echo")], "invalid value 'echo' for SOCKWAVE_SUBSCRIPTION_ERROR_MODE: expected \"soketi\" or \"pusher\"");
        check_err(
            &[
                ("SOKETI_ADAPTER_DRIVER", "redis"),
                ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ],
            "SOKETI_ADAPTER_REDIS_CLUSTER_MODE is not supported yet (sockwave accepts only false)",
        );
        check_err(
            &[(
                "SOKETI_DEFAULT_APP_WEBHOOKS",
                r#"[{"lambda_function":"f","event_types":["client_event"]}]"#,
            )],
            "SOKETI_DEFAULT_APP_WEBHOOKS is not supported yet",
        );
        check_err(
            &[("SOKETI_METRICS_DRIVER", "statsd")],
            "SOKETI_METRICS_DRIVER is not supported yet (sockwave accepts only \"prometheus\")",
        );
        check_err(&[("SOKETI_DEFAULT_APP_MAX_CONNS", "0")], "invalid value 0 for SOKETI_DEFAULT_APP_MAX_CONNS: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)");
    }
}
