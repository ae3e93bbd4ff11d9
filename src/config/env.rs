//! Environment variables: sockwave's `SOCKWAVE_*`, Soketi's `SOKETI_*` and Laravel's
//! `PUSHER_APP_*`.
//!
//! The environment arrives as a map, so this module never reads the process environment
//! and its tests stay pure. Names are applied from lowest to highest precedence (`PUSHER_`,
//! then `SOKETI_`, then `SOCKWAVE_`), each group in name order. An unknown `SOCKWAVE_*` or
//! `SOKETI_*` name is an error with a suggestion: a typo must not be ignored silently.

use std::collections::HashMap;
use std::time::Duration;

use super::draft::{AppSetting, Draft, Origin, Override, ServerSetting};
use super::error::{closest, ConfigError};
use super::soketi;
use super::SubscriptionErrorMode;

/// The variable naming the config file, like `--config`.
pub(crate) const CONFIG_VAR: &str = "SOCKWAVE_CONFIG";

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
    ("SOCKWAVE_SUBSCRIPTION_ERROR_MODE", |v| {
        let mode = match v.trim().to_ascii_lowercase().as_str() {
            "soketi" => SubscriptionErrorMode::Soketi,
            "pusher" => SubscriptionErrorMode::Pusher,
            _ => return Err("expected \"soketi\" or \"pusher\"".to_string()),
        };
        Ok(server(ServerSetting::SubscriptionErrorMode(mode)))
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
    ("SOCKWAVE_APP_MAX_CONNECTIONS", |v| {
        Ok(app(AppSetting::MaxConnections(limit(v)?)))
    }),
    ("SOCKWAVE_APP_MAX_CLIENT_EVENTS_PER_SECOND", |v| {
        Ok(app(AppSetting::MaxClientEventsPerSecond(limit(v)?)))
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
        let Some((_, parse)) = SOCKWAVE_VARS.iter().find(|(var, _)| var == name) else {
            let known = SOCKWAVE_VARS
                .iter()
                .map(|(var, _)| *var)
                .chain([CONFIG_VAR]);
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

/// Variables the test harnesses set for themselves.
fn is_harness_var(name: &str) -> bool {
    name == "SOCKWAVE_BIN" || name.starts_with("SOCKWAVE_TEST_")
}

fn server(setting: ServerSetting) -> Override {
    Override::Server(setting)
}

fn app(setting: AppSetting) -> Override {
    Override::FirstApp(setting)
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
            &[("SOKETI_ADAPTER_DRIVER", "redis")],
            "SOKETI_ADAPTER_DRIVER is not supported yet (sockwave accepts only \"local\")",
        );
        check_err(
            &[("SOKETI_DEFAULT_APP_WEBHOOKS", r#"[{"url":"http://x"}]"#)],
            "SOKETI_DEFAULT_APP_WEBHOOKS is not supported yet (sockwave accepts only [])",
        );
        check_err(&[("SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC", "10")], "SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC is not supported yet (sockwave accepts only -1)");
        check_err(&[("SOKETI_DEFAULT_APP_MAX_CONNS", "0")], "invalid value 0 for SOKETI_DEFAULT_APP_MAX_CONNS: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)");
    }
}
