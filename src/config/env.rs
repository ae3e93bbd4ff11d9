//! Environment variables: sockwave's `SOCKWAVE_*`, Soketi's `SOKETI_*` and Laravel's
//! `PUSHER_APP_*`.
//!
//! The environment arrives as a map, so this module never reads the process environment
//! and its tests stay pure. Names are applied from lowest to highest precedence (`PUSHER_`,
//! then `SOKETI_`, then `SOCKWAVE_`), each group in name order. A `SOCKWAVE_*` name is the
//! settings table's (`SOCKWAVE_{KEY}`, `SOCKWAVE_APP_{KEY}` for the first app, ...). An
//! unknown `SOCKWAVE_*` or `SOKETI_*` name is an error with a suggestion: a typo must not be
//! ignored silently.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::draft::{Draft, Origin};
use super::error::{closest, ConfigError};
use super::soketi;
use super::table::{self, Access, SETTINGS};
use super::value::Source;
use super::webhooks;

/// The variable naming the config file, like `--config`.
pub(crate) const CONFIG_VAR: &str = "SOCKWAVE_CONFIG";

const SOKETI_PREFIX: &str = "SOKETI_";

/// Applies every recognised variable, lowest precedence first. A variable that cannot be
/// used is recorded in the draft and the rest are still read, so one run reports them all.
pub(crate) fn apply(draft: &mut Draft, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
    names.sort_unstable();

    // Laravel's `.env` names for the credentials its broadcaster signs with; its template
    // ships them empty, and an empty one is not a value.
    for setting in SETTINGS {
        let Some(var) = setting.laravel else { continue };
        if let Some(value) = env.get(var).filter(|value| !value.is_empty()) {
            let raw = Json::String(value.clone());
            let result = draft.assign(setting, 0, &raw, Source::Text, Origin::env(var));
            draft.record(result.map(|_| ()));
        }
    }
    for name in names.iter().filter(|name| name.starts_with(SOKETI_PREFIX)) {
        let result = soketi_var(draft, name, &env[*name]);
        draft.record(result);
    }
    for name in names.iter().filter(|name| name.starts_with("SOCKWAVE_")) {
        if *name == CONFIG_VAR || is_harness_var(name) {
            continue;
        }
        let result = sockwave_var(draft, name, &env[*name]);
        draft.record(result);
    }
    Ok(())
}

fn soketi_var(draft: &mut Draft, name: &str, value: &str) -> Result<(), ConfigError> {
    let short = &name[SOKETI_PREFIX.len()..];
    let Some((_, option)) = soketi::ENV_OPTIONS.iter().find(|(var, _)| *var == short) else {
        let known = soketi::ENV_OPTIONS.iter().map(|(var, _)| *var);
        return Err(ConfigError::UnknownEnv {
            var: name.to_string(),
            suggestion: closest(short, known).map(|var| format!("{SOKETI_PREFIX}{var}")),
        });
    };
    soketi::apply_env(draft, name, option, value)
}

fn sockwave_var(draft: &mut Draft, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(setting) = table::by_env(name) else {
        let known: Vec<String> = SETTINGS.iter().map(|s| s.env_var()).collect();
        let known = known.iter().map(String::as_str).chain([CONFIG_VAR]);
        return Err(ConfigError::UnknownEnv {
            var: name.to_string(),
            suggestion: closest(name, known),
        });
    };
    let origin = Origin::env(name);
    let raw = Json::String(value.to_string());
    if matches!(setting.access, Access::Webhooks) {
        let targets = webhooks::from_json(&raw, &origin)?;
        draft.set_webhooks(0, targets, origin);
    } else {
        // Validation refuses an empty app list, naming what emptied it, so a first-app
        // variable with no app to change is left to it.
        draft.assign(setting, 0, &raw, Source::Text, origin)?;
    }
    Ok(())
}

/// Variables the test harnesses set for themselves (the protocol tests pass their whole
/// environment to the server): `SOCKWAVE_BIN` and `SOCKWAVE_TEST_*`.
fn is_harness_var(name: &str) -> bool {
    name == "SOCKWAVE_BIN" || name.starts_with("SOCKWAVE_TEST_")
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
            "invalid value 0 for SOCKWAVE_APP_AUTHORIZED_CONNECTIONS_TIMEOUT: must be at least 1 (seconds; leave it out, or write \"off\", to turn it off)",
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
            "invalid value 0 for SOCKWAVE_WS_NEW_CONNECTIONS_PER_IP_PER_SECOND: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)",
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
            "invalid value true for SOKETI_ADAPTER_REDIS_CLUSTER_MODE: Redis Cluster needs its nodes: set database.redis.clusterNodes (SOKETI_DB_REDIS_CLUSTER_NODES), e.g. [{\"host\": \"10.0.0.1\", \"port\": 6379}]",
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
