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
    let at_least_one: [(&str, u64, String); 9] = [
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
                "max_connections" | "max_client_events_per_second" => {
                    "must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)"
                }
                _ => "must be at least 1",
            };
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
    use crate::config::load::testing::check_err;

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
