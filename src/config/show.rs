//! `config check` output: the effective configuration as sockwave TOML, secrets masked,
//! with the origin of every value that is not a built-in default.
//!
//! The output parses as a sockwave config file (apart from the masked secrets), so it can
//! be used as a starting point for one.

use std::fmt::Write;
use std::time::Duration;

use super::cluster::{cluster_field, mask_url};
use super::draft::{app_field, server_field, Origins};
use super::settings::Driver;
use super::{Config, SubscriptionErrorMode};
use crate::app::WebhookTarget;

/// Column where origin comments start, so they line up.
const COMMENT_COLUMN: usize = 40;

/// Renders the configuration for people to read.
pub(crate) fn render(config: &Config, origins: &Origins) -> String {
    let mut out = String::from(
        "# effective sockwave configuration (secrets masked)\n\
         # a value without a comment is the built-in default\n",
    );
    if config.uses_default_credentials {
        out.push_str(
            "# warning: the public development credentials app-key / app-secret are in use\n",
        );
    }

    let server = &config.server;
    out.push_str("\n[server]\n");
    let line = |out: &mut String, field: String, key: &str, value: toml::Value| {
        let text = format!("{key} = {value}");
        match origins.get(&field) {
            Some(origin) => writeln!(out, "{text:<COMMENT_COLUMN$}  # {origin}"),
            None => writeln!(out, "{text}"),
        }
        .expect("writing to a String cannot fail");
    };
    let server_values = [
        ("host", text(&server.host)),
        ("port", integer(u64::from(server.port))),
        ("path_prefix", text(&server.path_prefix)),
        ("debug", toml::Value::Boolean(server.debug)),
        ("activity_timeout", seconds(server.activity_timeout)),
        ("pong_timeout", seconds(server.pong_timeout)),
        (
            "shutdown_grace_period",
            seconds(server.shutdown_grace_period),
        ),
        (
            "auth_timestamp_window",
            seconds(server.auth_timestamp_window),
        ),
        (
            "cors_allowed_origins",
            toml::Value::Array(
                server
                    .cors_allowed_origins
                    .iter()
                    .map(|o| text(o))
                    .collect(),
            ),
        ),
        (
            "socket_queue_capacity",
            integer(server.socket_queue_capacity as u64),
        ),
        ("max_ws_message_kb", kilobytes(server.max_ws_message_bytes)),
        (
            "max_request_body_kb",
            kilobytes(server.max_request_body_bytes),
        ),
        ("request_body_timeout", seconds(server.request_body_timeout)),
        (
            "request_body_budget_kb",
            kilobytes(server.request_body_budget_bytes),
        ),
        ("handshake_timeout", seconds(server.handshake_timeout)),
        ("max_header_kb", kilobytes(server.max_header_bytes)),
        (
            "max_ws_messages_per_second",
            integer(u64::from(server.max_ws_messages_per_second)),
        ),
        (
            "ws_message_burst",
            integer(u64::from(server.ws_message_burst)),
        ),
        (
            "subscription_error_mode",
            text(match server.subscription_error_mode {
                SubscriptionErrorMode::Soketi => "soketi",
                SubscriptionErrorMode::Pusher => "pusher",
            }),
        ),
        ("cache_ttl", seconds(server.cache_ttl)),
        (
            "idle_app_warning",
            seconds(server.idle_app_warning.unwrap_or_default()),
        ),
        (
            "webhook_batch_window_ms",
            millis(server.webhooks.batch_window),
        ),
        (
            "webhook_batch_max_events",
            integer(server.webhooks.batch_max_events as u64),
        ),
        (
            "webhook_leave_delay_ms",
            millis(server.webhooks.leave_delay),
        ),
        (
            "webhook_retry_budget",
            seconds(server.webhooks.retry_budget),
        ),
        (
            "webhook_request_timeout",
            seconds(server.webhooks.request_timeout),
        ),
        (
            "webhook_queue_capacity",
            integer(server.webhooks.queue_capacity as u64),
        ),
        (
            "webhook_delivery_log_size",
            integer(server.webhooks.delivery_log_size as u64),
        ),
        (
            "metrics_enabled",
            toml::Value::Boolean(server.metrics.enabled),
        ),
        ("metrics_host", text(&server.metrics.host)),
        ("metrics_port", integer(u64::from(server.metrics.port))),
        ("metrics_prefix", text(&server.metrics.prefix)),
        (
            "ws_connections_per_ip",
            limit(server.ws_connections_per_ip.map(u64::from)),
        ),
        (
            "ws_new_connections_per_ip_per_second",
            limit(server.ws_new_connections_per_ip_per_second.map(u64::from)),
        ),
    ];
    for (key, value) in server_values {
        line(&mut out, server_field(key), key, value);
    }
    let tls_files = [("tls_cert", &server.tls_cert), ("tls_key", &server.tls_key)];
    if tls_files.iter().all(|(_, path)| path.is_none()) {
        out.push_str("# tls: off (set tls_cert and tls_key to serve wss/https)\n");
    }
    for (key, path) in tls_files {
        if let Some(path) = path {
            let value = text(&path.display().to_string());
            line(&mut out, server_field(key), key, value);
        }
    }

    out.push_str("\n[console]\n");
    line(
        &mut out,
        "console.enabled".to_string(),
        "enabled",
        toml::Value::Boolean(server.console.enabled),
    );
    if let Some(token) = &server.console.token {
        line(
            &mut out,
            "console.token".to_string(),
            "token",
            text(&mask_secret(token)),
        );
    }

    let cluster = &server.cluster;
    out.push_str("\n[cluster]\n");
    let mut cluster_values = vec![(
        "driver",
        text(match cluster.driver {
            Driver::Local => "local",
            Driver::Redis { .. } => "redis",
            Driver::Nats { .. } => "nats",
        }),
    )];
    match &cluster.driver {
        Driver::Local => {}
        Driver::Redis { url } => cluster_values.push(("redis_url", text(&mask_url(url, false)))),
        Driver::Nats { servers } => {
            let masked = servers.iter().map(|url| text(&mask_url(url, true)));
            cluster_values.push(("nats_servers", toml::Value::Array(masked.collect())));
        }
    }
    cluster_values.extend([
        ("prefix", text(&cluster.prefix)),
        ("heartbeat_interval", seconds(cluster.heartbeat_interval)),
        ("node_timeout", seconds(cluster.node_timeout)),
        (
            "ready_requires_engine",
            toml::Value::Boolean(cluster.ready_requires_engine),
        ),
    ]);
    for (key, value) in cluster_values {
        line(&mut out, cluster_field(key), key, value);
    }

    for (index, app) in config.apps.iter().enumerate() {
        let limits = &app.limits;
        out.push_str("\n[[apps]]\n");
        let app_values = [
            ("id", text(&app.id)),
            ("key", text(&app.key)),
            ("secret", text(&mask_secret(&app.secret))),
            ("enabled", toml::Value::Boolean(app.enabled)),
            (
                "enable_client_messages",
                toml::Value::Boolean(app.enable_client_messages),
            ),
            (
                "enable_user_authentication",
                toml::Value::Boolean(app.enable_user_authentication),
            ),
            (
                "enable_subscription_count",
                toml::Value::Boolean(app.enable_subscription_count),
            ),
            ("max_connections", limit(app.max_connections)),
            (
                "max_client_events_per_second",
                limit(limits.max_client_events_per_second.map(u64::from)),
            ),
            (
                "max_backend_events_per_second",
                limit(limits.max_backend_events_per_second.map(u64::from)),
            ),
            (
                "max_read_requests_per_second",
                limit(limits.max_read_requests_per_second.map(u64::from)),
            ),
            (
                "max_event_payload_kb",
                kilobytes(limits.max_event_payload_bytes),
            ),
            (
                "max_channels_per_event",
                integer(limits.max_channels_per_event as u64),
            ),
            ("max_batch_size", integer(limits.max_batch_size as u64)),
            (
                "max_event_name_length",
                integer(limits.max_event_name_length as u64),
            ),
            (
                "max_channel_name_length",
                integer(limits.max_channel_name_length as u64),
            ),
            (
                "max_presence_members",
                integer(limits.max_presence_members as u64),
            ),
            (
                "max_presence_member_size_kb",
                kilobytes(limits.max_presence_member_size_bytes),
            ),
        ];
        for (key, value) in app_values {
            line(&mut out, app_field(index, key), key, value);
        }
        let timeout_key = "authorized_connections_timeout";
        match app.authorized_connections_timeout {
            Some(timeout) => line(
                &mut out,
                app_field(index, timeout_key),
                timeout_key,
                seconds(timeout),
            ),
            None => out.push_str("# authorized_connections_timeout: off\n"),
        }
        if !app.webhooks.is_empty() {
            if let Some(origin) = origins.get(&app_field(index, "webhooks")) {
                writeln!(out, "# webhooks from {origin}").expect("writing to a String cannot fail");
            }
        }
        for target in &app.webhooks {
            out.push_str("\n[[apps.webhooks]]\n");
            for (key, value) in webhook_values(target) {
                writeln!(out, "{key} = {value}").expect("writing to a String cannot fail");
            }
        }
    }
    out
}

/// A webhook's keys as TOML values; header values are masked like secrets because they
/// often carry credentials.
fn webhook_values(target: &WebhookTarget) -> Vec<(&'static str, toml::Value)> {
    let mut values = vec![
        ("url", text(target.url.shown())),
        (
            "event_types",
            toml::Value::Array(
                target
                    .event_types
                    .iter()
                    .map(|kind| text(kind.name()))
                    .collect(),
            ),
        ),
    ];
    let mut filter = toml::Table::new();
    let bounds = [
        ("channel_name_starts_with", &target.filter.starts_with),
        ("channel_name_ends_with", &target.filter.ends_with),
    ];
    for (key, bound) in bounds {
        if let Some(bound) = bound {
            filter.insert(key.to_string(), text(bound));
        }
    }
    if !filter.is_empty() {
        values.push(("filter", toml::Value::Table(filter)));
    }
    if !target.headers.is_empty() {
        let headers = target
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), text(&mask_secret(value))))
            .collect();
        values.push(("headers", toml::Value::Table(headers)));
    }
    values
}

/// Keeps a short prefix so an operator can tell secrets apart, never more than a quarter.
pub(crate) fn mask_secret(secret: &str) -> String {
    let n_shown = (secret.chars().count() / 4).min(5);
    let shown: String = secret.chars().take(n_shown).collect();
    format!("{shown}****")
}

fn text(value: &str) -> toml::Value {
    toml::Value::String(value.to_string())
}

fn integer(value: u64) -> toml::Value {
    i64::try_from(value).map_or_else(|_| toml::Value::Float(value as f64), toml::Value::Integer)
}

fn seconds(duration: Duration) -> toml::Value {
    if duration.subsec_nanos() == 0 {
        integer(duration.as_secs())
    } else {
        toml::Value::Float(duration.as_secs_f64())
    }
}

fn millis(duration: Duration) -> toml::Value {
    integer(duration.as_millis() as u64)
}

fn kilobytes(n_bytes: usize) -> toml::Value {
    if n_bytes.is_multiple_of(1024) {
        integer((n_bytes / 1024) as u64)
    } else {
        toml::Value::Float(n_bytes as f64 / 1024.0)
    }
}

fn limit(max: Option<u64>) -> toml::Value {
    max.map_or_else(|| text("unlimited"), integer)
}

#[cfg(test)]
mod tests {
    use super::mask_secret;

    fn check(secret: &str, expected: &str) {
        assert_eq!(mask_secret(secret), expected);
    }

    #[test]
    fn secrets_are_masked() {
        check("", "****");
        check("short", "s****");
        check("app-secret", "ap****");
        check("0123456789abcdef0123", "01234****");
        check("0123456789abcdef0123456789abcdef", "01234****");
        check("ünïcödé-sécrét", "ünï****");
    }
}
