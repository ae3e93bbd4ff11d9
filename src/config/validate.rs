//! Turning the merged draft into a `Config` the server can trust.
//!
//! Checks run on the final values, after every source has spoken, and each error names the
//! source of the offending value. Nothing is clamped or replaced: a bad value is an error.

use std::collections::HashMap;
use std::time::Duration;

use super::draft::{app_field, server_field, Draft, Origins};
use super::error::ConfigError;
use super::Config;
use crate::app::App;

/// Longest accepted `activity_timeout`, in seconds.
const MAX_ACTIVITY_TIMEOUT_SECS: u64 = 3600;

/// Validates the draft and returns the configuration with the origin of each set value.
pub(crate) fn finish(mut draft: Draft) -> Result<(Config, Origins), ConfigError> {
    draft.apply_app_defaults();
    check_server(&mut draft)?;
    check_operations(&draft)?;
    let cluster = std::mem::take(&mut draft.cluster);
    draft.config.server.cluster = cluster.finish(&mut draft.origins)?;
    if draft.config.apps.is_empty() {
        return Err(ConfigError::NoApps {
            origin: draft.apps_origin.clone(),
        });
    }
    for (index, app) in draft.config.apps.iter().enumerate() {
        check_app(&draft, index, app)?;
    }
    check_unique(&draft, "id", |app| &app.id)?;
    check_unique(&draft, "key", |app| &app.key)?;

    let mut config = draft.config;
    config.uses_default_credentials = config
        .apps
        .iter()
        .any(|app| app.key == "app-key" && app.secret == "app-secret");
    Ok((config, draft.origins))
}

fn invalid(draft: &Draft, field: &str, value: String, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: draft.origin(field),
        value,
        reason: reason.to_string(),
    }
}

/// Longest accepted duration of any timer setting.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

fn secs_text(duration: Duration) -> String {
    duration.as_secs().to_string()
}

/// Smallest `max_header_kb`: hyper's read buffer never goes below 8 KiB, and browsers'
/// upgrade requests with a few cookies already take several kilobytes.
const MIN_HEADER_BYTES: usize = 8 * 1024;

/// The limits that protect the server from slow and malicious clients: none may be zero,
/// because zero would turn the protection into a refusal of every client.
fn check_hostile_client_limits(draft: &Draft) -> Result<(), ConfigError> {
    let server = &draft.config.server;
    let field = |key: &str| server_field(key);
    if server.handshake_timeout.is_zero() {
        return Err(invalid(
            draft,
            &field("handshake_timeout"),
            "0".to_string(),
            "must be at least 1 (seconds)",
        ));
    }
    if server.max_header_bytes < MIN_HEADER_BYTES {
        return Err(invalid(
            draft,
            &field("max_header_kb"),
            format!("{}", server.max_header_bytes as f64 / 1024.0),
            "must be at least 8 (kilobytes)",
        ));
    }
    // Timers add these to the clock, and `Instant + Duration` panics on overflow: a typo of
    // a few extra digits must stop the server at startup, not crash every connection later.
    let webhooks = &server.webhooks;
    let durations = [
        ("pong_timeout", server.pong_timeout),
        ("shutdown_grace_period", server.shutdown_grace_period),
        ("auth_timestamp_window", server.auth_timestamp_window),
        ("handshake_timeout", server.handshake_timeout),
        ("request_body_timeout", server.request_body_timeout),
        ("cache_ttl", server.cache_ttl),
        ("webhook_batch_window_ms", webhooks.batch_window),
        ("webhook_leave_delay_ms", webhooks.leave_delay),
        ("webhook_retry_budget", webhooks.retry_budget),
        ("webhook_request_timeout", webhooks.request_timeout),
    ];
    for (key, duration) in durations {
        if duration > MAX_DURATION {
            let reason = format!(
                "must be at most {} seconds (a year)",
                MAX_DURATION.as_secs()
            );
            return Err(invalid(draft, &field(key), secs_text(duration), &reason));
        }
    }
    for (index, app) in draft.config.apps.iter().enumerate() {
        if let Some(timeout) = app
            .authorized_connections_timeout
            .filter(|t| *t > MAX_DURATION)
        {
            let reason = format!(
                "must be at most {} seconds (a year)",
                MAX_DURATION.as_secs()
            );
            let key = app_field(index, "authorized_connections_timeout");
            return Err(invalid(draft, &key, secs_text(timeout), &reason));
        }
    }
    for (key, value) in [
        (
            "max_ws_messages_per_second",
            server.max_ws_messages_per_second,
        ),
        ("ws_message_burst", server.ws_message_burst),
    ] {
        if value == 0 {
            return Err(invalid(
                draft,
                &field(key),
                "0".to_string(),
                "must be at least 1 (messages)",
            ));
        }
    }
    Ok(())
}

fn check_server(draft: &mut Draft) -> Result<(), ConfigError> {
    let server = &draft.config.server;
    let field = |key: &str| server_field(key);
    let secs = |duration: Duration| duration.as_secs().to_string();

    if server.host.trim().is_empty() || server.host.contains(char::is_whitespace) {
        let value = format!("'{}'", server.host);
        return Err(invalid(
            draft,
            &field("host"),
            value,
            "expected an IP address or host name",
        ));
    }
    let activity = server.activity_timeout.as_secs();
    if !(1..=MAX_ACTIVITY_TIMEOUT_SECS).contains(&activity) {
        let reason = format!("must be between 1 and {MAX_ACTIVITY_TIMEOUT_SECS} seconds");
        return Err(invalid(
            draft,
            &field("activity_timeout"),
            secs(server.activity_timeout),
            &reason,
        ));
    }
    let webhooks = &server.webhooks;
    let at_least_one: [(&str, u64, String); 11] = [
        (
            "pong_timeout",
            server.pong_timeout.as_secs(),
            "seconds".into(),
        ),
        (
            "auth_timestamp_window",
            server.auth_timestamp_window.as_secs(),
            "seconds".into(),
        ),
        (
            "socket_queue_capacity",
            server.socket_queue_capacity as u64,
            "frames".into(),
        ),
        (
            "max_ws_message_kb",
            server.max_ws_message_bytes as u64,
            "bytes".into(),
        ),
        (
            "max_request_body_kb",
            server.max_request_body_bytes as u64,
            "bytes".into(),
        ),
        (
            "request_body_timeout",
            server.request_body_timeout.as_secs(),
            "seconds".into(),
        ),
        (
            "request_body_budget_kb",
            server.request_body_budget_bytes as u64,
            "bytes".into(),
        ),
        ("cache_ttl", server.cache_ttl.as_secs(), "seconds".into()),
        (
            "webhook_batch_max_events",
            webhooks.batch_max_events as u64,
            "events".into(),
        ),
        (
            "webhook_request_timeout",
            webhooks.request_timeout.as_secs(),
            "seconds".into(),
        ),
        (
            "webhook_queue_capacity",
            webhooks.queue_capacity as u64,
            "events".into(),
        ),
    ];
    for (key, value, unit) in at_least_one {
        if value == 0 {
            let reason = format!("must be at least 1 ({unit})");
            return Err(invalid(draft, &field(key), "0".to_string(), &reason));
        }
    }
    check_hostile_client_limits(draft)?;
    if server.request_body_budget_bytes < server.max_request_body_bytes {
        let reason = format!(
            "must be at least max_request_body_kb ({}), or no request of the largest allowed size could ever be read",
            server.max_request_body_bytes / 1024
        );
        let value = format!("{}", server.request_body_budget_bytes as f64 / 1024.0);
        return Err(invalid(
            draft,
            &field("request_body_budget_kb"),
            value,
            &reason,
        ));
    }
    check_console(draft)?;
    for origin in &server.cors_allowed_origins {
        let plausible = origin == "*" || origin.contains("://");
        if !plausible || origin.contains(char::is_whitespace) || origin.ends_with('/') {
            return Err(invalid(
                draft,
                &field("cors_allowed_origins"),
                format!("'{origin}'"),
                "expected \"*\" or an origin like \"https://example.com\"",
            ));
        }
    }
    match normalise_path_prefix(&server.path_prefix) {
        Ok(prefix) => draft.config.server.path_prefix = prefix,
        Err(reason) => {
            let value = format!("'{}'", server.path_prefix);
            return Err(invalid(draft, &field("path_prefix"), value, reason));
        }
    }
    Ok(())
}

/// Shortest console token accepted: the token opens every app's event stream and publishes
/// into private channels, so it must not be guessable.
const MIN_CONSOLE_TOKEN_CHARS: usize = 16;

/// A console token that is set must be long enough; an empty one would open the console to
/// everybody.
fn check_console(draft: &Draft) -> Result<(), ConfigError> {
    let Some(token) = &draft.config.server.console.token else {
        return Ok(());
    };
    let n_chars = token.chars().count();
    if n_chars >= MIN_CONSOLE_TOKEN_CHARS && !token.chars().any(char::is_whitespace) {
        return Ok(());
    }
    let reason = format!(
        "must be at least {MIN_CONSOLE_TOKEN_CHARS} characters without spaces (it opens every app's console); generate one with: openssl rand -hex 24"
    );
    Err(invalid(
        draft,
        &server_field("console.token"),
        format!("({n_chars} characters)"),
        &reason,
    ))
}

/// `""` or `/a/b`: a leading slash is added, trailing slashes removed.
pub(crate) fn normalise_path_prefix(prefix: &str) -> Result<String, &'static str> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let path = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !path.chars().all(url_safe) {
        return Err("only letters, digits, '-', '.', '_', '~' and '/' are allowed");
    }
    if path.contains("//") {
        return Err("empty path segment");
    }
    Ok(path)
}

fn check_app(draft: &Draft, index: usize, app: &App) -> Result<(), ConfigError> {
    let field = |key: &str| app_field(index, key);
    for (key, value) in [("id", &app.id), ("key", &app.key)] {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
        if value.is_empty() || !value.chars().all(allowed) {
            let reason = "must be non-empty and use only letters, digits, '_', '.' and '-'";
            return Err(invalid(draft, &field(key), format!("'{value}'"), reason));
        }
    }
    if app.secret.is_empty() {
        return Err(invalid(
            draft,
            &field("secret"),
            "''".to_string(),
            "must not be empty",
        ));
    }
    if app.authorized_connections_timeout == Some(Duration::ZERO) {
        let reason = "must be at least 1 second (leave it out to turn the check off)";
        let key = field("authorized_connections_timeout");
        return Err(invalid(draft, &key, "0".to_string(), reason));
    }
    let limits = &app.limits;
    let counts = [
        ("max_connections", app.max_connections.unwrap_or(1)),
        (
            "max_client_events_per_second",
            limits.max_client_events_per_second.map_or(1, u64::from),
        ),
        (
            "max_backend_events_per_second",
            limits.max_backend_events_per_second.map_or(1, u64::from),
        ),
        (
            "max_read_requests_per_second",
            limits.max_read_requests_per_second.map_or(1, u64::from),
        ),
        (
            "max_event_payload_kb",
            limits.max_event_payload_bytes as u64,
        ),
        (
            "max_channels_per_event",
            limits.max_channels_per_event as u64,
        ),
        ("max_batch_size", limits.max_batch_size as u64),
        ("max_event_name_length", limits.max_event_name_length as u64),
        (
            "max_channel_name_length",
            limits.max_channel_name_length as u64,
        ),
        ("max_presence_members", limits.max_presence_members as u64),
        (
            "max_presence_member_size_kb",
            limits.max_presence_member_size_bytes as u64,
        ),
    ];
    for (key, value) in counts {
        if value == 0 {
            // Zero would refuse everything; "unlimited" and `enabled = false` say what the
            // operator probably meant, and sockwave does not guess between them.
            let reason = match key {
                "max_connections"
                | "max_client_events_per_second"
                | "max_backend_events_per_second"
                | "max_read_requests_per_second" => {
                    "must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)"
                }
                _ => "must be at least 1",
            };
            return Err(invalid(draft, &field(key), "0".to_string(), reason));
        }
    }
    Ok(())
}

/// Metrics, TLS and per-IP limits.
fn check_operations(draft: &Draft) -> Result<(), ConfigError> {
    let server = &draft.config.server;
    let field = |key: &str| server_field(key);
    let metrics = &server.metrics;
    let prefix_ok = metrics.prefix.chars().enumerate().all(|(index, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (index > 0 && c.is_ascii_digit())
    });
    if !prefix_ok {
        let value = format!("'{}'", metrics.prefix);
        let reason = "a Prometheus name prefix uses letters, digits (not first), '_' and ':'";
        return Err(invalid(draft, &field("metrics_prefix"), value, reason));
    }
    if metrics.host.trim().is_empty() || metrics.host.contains(char::is_whitespace) {
        let value = format!("'{}'", metrics.host);
        let reason = "expected an IP address or host name";
        return Err(invalid(draft, &field("metrics_host"), value, reason));
    }
    if metrics.enabled && metrics.port != 0 && metrics.port == server.port {
        let reason = "the metrics endpoint needs its own port, not the WebSocket/API port";
        let value = metrics.port.to_string();
        return Err(invalid(draft, &field("metrics_port"), value, reason));
    }
    match (&server.tls_cert, &server.tls_key) {
        (Some(_), None) | (None, Some(_)) => {
            let (set, missing) = if server.tls_cert.is_some() {
                ("tls_cert", "tls_key")
            } else {
                ("tls_key", "tls_cert")
            };
            let reason = format!("TLS needs both a certificate and a key: {missing} is not set");
            return Err(invalid(draft, &field(set), "(a path)".to_string(), &reason));
        }
        // The files are read when the server starts, which names the file that failed.
        (Some(_), Some(_)) | (None, None) => {}
    }
    for (key, max) in [
        ("ws_connections_per_ip", server.ws_connections_per_ip),
        (
            "ws_new_connections_per_ip_per_second",
            server.ws_new_connections_per_ip_per_second,
        ),
    ] {
        if max == Some(0) {
            let reason = "must be at least 1 (omit it or use \"unlimited\" for no limit)";
            return Err(invalid(draft, &field(key), "0".to_string(), reason));
        }
    }
    Ok(())
}

fn check_unique(
    draft: &Draft,
    name: &'static str,
    value_of: impl Fn(&App) -> &String,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&String, usize> = HashMap::new();
    for (index, app) in draft.config.apps.iter().enumerate() {
        if let Some(first) = seen.insert(value_of(app), index) {
            return Err(ConfigError::DuplicateApp {
                field: name,
                value: value_of(app).clone(),
                first: Box::new(draft.origin(&app_field(first, name))),
                second: Box::new(draft.origin(&app_field(index, name))),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalise_path_prefix;
    use crate::config::load::testing::{check as check_loaded, check_err};

    /// `None` means the prefix is refused.
    fn check(prefix: &str, expected: Option<&str>) {
        assert_eq!(
            normalise_path_prefix(prefix).ok().as_deref(),
            expected,
            "{prefix:?}"
        );
    }

    #[test]
    fn path_prefixes() {
        check("", Some(""));
        check("/", Some(""));
        check("ws", Some("/ws"));
        check("/ws/", Some("/ws"));
        check("/a/b-c.d_e~f", Some("/a/b-c.d_e~f"));
        check("/a b", None);
        check("/a//b", None);
        check("/ä", None);
        check("/a?b", None);
    }

    #[test]
    fn hostile_client_limits_are_read_and_checked() {
        let file = [(
            "/c.toml",
            "[server]\nhandshake_timeout = 5\nmax_header_kb = 16\nmax_ws_messages_per_second = 20\nws_message_burst = 40",
        )];
        check_loaded("--config /c.toml", &[], &file, "handshake_timeout = 5");
        check_loaded("--config /c.toml", &[], &file, "max_header_kb = 16");
        check_loaded("--config /c.toml", &[], &file, "ws_message_burst = 40");
        check_loaded(
            "",
            &[("SOCKWAVE_MAX_WS_MESSAGES_PER_SECOND", "7")],
            &[],
            "max_ws_messages_per_second = 7 # SOCKWAVE_MAX_WS_MESSAGES_PER_SECOND",
        );
        check_err(
            "",
            &[("SOCKWAVE_HANDSHAKE_TIMEOUT", "0")],
            &[],
            "invalid value 0 for SOCKWAVE_HANDSHAKE_TIMEOUT: must be at least 1 (seconds)",
        );
        check_err(
            "",
            &[("SOCKWAVE_MAX_HEADER_KB", "4")],
            &[],
            "invalid value 4 for SOCKWAVE_MAX_HEADER_KB: must be at least 8 (kilobytes)",
        );
        check_err(
            "",
            &[("SOCKWAVE_PONG_TIMEOUT", "18446744073709551615")],
            &[],
            "invalid value 18446744073709551615 for SOCKWAVE_PONG_TIMEOUT: must be at most 31536000 seconds (a year)",
        );
        check_err(
            "",
            &[("SOCKWAVE_WS_MESSAGE_BURST", "0")],
            &[],
            "invalid value 0 for SOCKWAVE_WS_MESSAGE_BURST: must be at least 1 (messages)",
        );
    }

    #[test]
    fn duplicates_name_both_sources() {
        let file = [("/c.toml", "[[apps]]\nid = 'a'\nkey = 'k1'\nsecret = 's'\n[[apps]]\nid = 'b'\nkey = 'k2'\nsecret = 't'")];
        check_err(
            "--config /c.toml",
            &[("SOCKWAVE_APP_KEY", "k2")],
            &file,
            "duplicate app key 'k2': set by SOCKWAVE_APP_KEY and by 'apps[1].key' in /c.toml",
        );
        check_err(
            "--config /c.toml --app-id b",
            &[],
            &file,
            "duplicate app id 'b': set by --app-id and by 'apps[1].id' in /c.toml",
        );
    }
}
