//! Turning the merged draft into a `Config` the server can trust.
//!
//! Checks run on the final values, after every source has spoken, and each error names the
//! source of the offending value. Bounds come from the settings table; what involves more than
//! one setting, or the shape of a text, is checked here. Nothing is clamped or replaced: a bad
//! value is an error.

use std::collections::HashMap;

use super::draft::{Draft, Origin, Origins};
use super::error::ConfigError;
use super::table::{Access, Scope, SETTINGS};
use super::value::display;
use super::{AppManager, Config};
use crate::app::App;

/// Shortest console token accepted: the token opens every app's event stream and publishes
/// into private channels, so it must not be guessable.
const MIN_CONSOLE_TOKEN_CHARS: usize = 16;

/// Validates the draft and returns the configuration with the origin of each set value.
pub(crate) fn finish(mut draft: Draft) -> Result<(Config, Origins), ConfigError> {
    draft.config.app_template = draft.app_template()?;
    draft.apply_app_defaults()?;
    check_bounds(&draft)?;
    check_server(&mut draft)?;
    let cluster = std::mem::take(&mut draft.cluster);
    // The redis_tls_* and sentinel settings are plain fields the cluster draft does not
    // build; they are kept across it.
    let redis_tls = std::mem::take(&mut draft.config.server.cluster.redis_tls);
    let redis_sentinel = std::mem::take(&mut draft.config.server.cluster.redis_sentinel);
    draft.config.server.cluster = cluster.finish(&mut draft.origins)?;
    draft.config.server.cluster.redis_tls = redis_tls;
    draft.config.server.cluster.redis_sentinel = redis_sentinel;
    for node in &draft.config.server.cluster.redis_sentinel.nodes {
        let port_ok = node
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            let reason = "expected host:port for each sentinel";
            return Err(invalid(
                &draft,
                "cluster.redis_sentinels",
                format!("'{node}'"),
                reason,
            ));
        }
    }
    let cluster = &draft.config.server.cluster;
    if !cluster.redis_sentinel.nodes.is_empty() && !cluster.redis_cluster_nodes.is_empty() {
        let reason = "Redis Cluster and Redis Sentinel exclude each other: keep \
                      redis_cluster_nodes for a Redis Cluster, or redis_sentinels for a \
                      master the sentinels name";
        let value = format!("'{}'", cluster.redis_sentinel.nodes.join(","));
        return Err(invalid(&draft, "cluster.redis_sentinels", value, reason));
    }
    let tls = &draft.config.server.cluster.redis_tls;
    if tls.cert.is_some() != tls.key.is_some() {
        let (missing, given) = match tls.cert {
            Some(_) => ("cluster.redis_tls_key", "cluster.redis_tls_cert"),
            None => ("cluster.redis_tls_cert", "cluster.redis_tls_key"),
        };
        let reason = format!(
            "needs {} too: a client certificate is a certificate and its key",
            missing.trim_start_matches("cluster.")
        );
        return Err(invalid(&draft, given, "(a file)".into(), &reason));
    }
    super::app_manager::finish(&mut draft)?;
    if draft.config.server.app_manager != AppManager::Static {
        // The apps come from the table; the configuration's (Soketi's default app, say)
        // are not served, as Soketi does not serve them with a SQL driver either.
        let mut config = draft.config;
        config.apps.clear();
        config.uses_default_credentials = false;
        return Ok((config, draft.origins));
    }
    if draft.config.apps.is_empty() {
        return Err(ConfigError::NoApps {
            origin: draft.apps_origin.clone(),
        });
    }
    for (index, app) in draft.config.apps.iter().enumerate() {
        check_app(&draft, index, app)?;
    }
    check_unique(&draft, "id", |app| app.id.as_str())?;
    check_unique(&draft, "key", |app| app.key.as_str())?;

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

/// Every setting's bounds, for the server and for each app.
fn check_bounds(draft: &Draft) -> Result<(), ConfigError> {
    for setting in SETTINGS {
        if !matches!(setting.access, Access::Config(_)) {
            continue;
        }
        let n_indexes = match setting.scope {
            Scope::App => draft.config.apps.len(),
            _ => 1,
        };
        for index in 0..n_indexes {
            let Some(value) = setting.get(&draft.config, index) else {
                continue;
            };
            if let Err(reason) = setting.check_bounds(&value) {
                let shown = display(setting.kind, &value);
                return Err(invalid(draft, &setting.field(index), shown, &reason));
            }
        }
    }
    Ok(())
}

fn check_server(draft: &mut Draft) -> Result<(), ConfigError> {
    let server = &draft.config.server;
    for (key, host) in [
        ("server.host", &server.host),
        ("server.metrics_host", &server.metrics.host),
    ] {
        if host.trim().is_empty() || host.contains(char::is_whitespace) {
            let reason = "expected an IP address or host name";
            return Err(invalid(draft, key, format!("'{host}'"), reason));
        }
    }
    let origins = [
        ("server.cors_allowed_origins", &server.cors_allowed_origins),
        (
            "server.http_transport_origins",
            &server.http_transport_origins,
        ),
    ];
    for (field, list) in origins {
        for origin in list {
            let plausible = origin == "*" || origin.contains("://");
            if !plausible || origin.contains(char::is_whitespace) || origin.ends_with('/') {
                let reason = "expected \"*\" or an origin like \"https://example.com\"";
                return Err(invalid(draft, field, format!("'{origin}'"), reason));
            }
        }
    }
    // The budget's default follows a larger body limit (Soketi's default is 100 MB): it
    // must hold one request of the largest allowed size. Only a budget set explicitly
    // below the limit is an error.
    if matches!(
        draft.origin("server.request_body_budget_kb"),
        Origin::Default
    ) {
        let server = &mut draft.config.server;
        server.request_body_budget_bytes = server
            .request_body_budget_bytes
            .max(server.max_request_body_bytes);
    }
    let server = &draft.config.server;
    if server.request_body_budget_bytes < server.max_request_body_bytes {
        let reason = format!(
            "must be at least max_request_body_kb ({}), or no request of the largest allowed size could ever be read",
            server.max_request_body_bytes / 1024
        );
        let value = format!("{}", server.request_body_budget_bytes as f64 / 1024.0);
        return Err(invalid(
            draft,
            "server.request_body_budget_kb",
            value,
            &reason,
        ));
    }
    if let Some(token) = &server.console.token {
        let n_chars = token.chars().count();
        if n_chars < MIN_CONSOLE_TOKEN_CHARS || token.chars().any(char::is_whitespace) {
            let reason = format!(
                "must be at least {MIN_CONSOLE_TOKEN_CHARS} characters without spaces (it opens every app's console); generate one with: openssl rand -hex 24"
            );
            let value = format!("({n_chars} characters)");
            return Err(invalid(draft, "console.token", value, &reason));
        }
    }
    let metrics = &server.metrics;
    let prefix_ok = metrics.prefix.chars().enumerate().all(|(index, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (index > 0 && c.is_ascii_digit())
    });
    if !prefix_ok {
        let value = format!("'{}'", metrics.prefix);
        let reason = "a Prometheus name prefix uses letters, digits (not first), '_' and ':'";
        return Err(invalid(draft, "server.metrics_prefix", value, reason));
    }
    if metrics.enabled && metrics.port != 0 && metrics.port == server.port {
        let reason = "the metrics endpoint needs its own port, not the WebSocket/API port";
        let value = metrics.port.to_string();
        return Err(invalid(draft, "server.metrics_port", value, reason));
    }
    // The files themselves are read when the server starts, which names the file that failed.
    if server.tls_cert.is_some() != server.tls_key.is_some() {
        let (set, missing) = match server.tls_cert {
            Some(_) => ("tls_cert", "tls_key"),
            None => ("tls_key", "tls_cert"),
        };
        let reason = format!("TLS needs both a certificate and a key: {missing} is not set");
        let field = format!("server.{set}");
        return Err(invalid(draft, &field, "(a path)".to_string(), &reason));
    }
    match normalise_path_prefix(&server.path_prefix) {
        Ok(prefix) => draft.config.server.path_prefix = prefix,
        Err(reason) => {
            let value = format!("'{}'", server.path_prefix);
            return Err(invalid(draft, "server.path_prefix", value, reason));
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

/// Validates the one app of a draft built from a SQL app manager's row.
pub(crate) fn check_row_app(draft: &Draft) -> Result<(), ConfigError> {
    check_bounds(draft)?;
    check_app(draft, 0, &draft.config.apps[0])
}

fn check_app(draft: &Draft, index: usize, app: &App) -> Result<(), ConfigError> {
    let field = |key: &str| format!("apps[{index}].{key}");
    for (key, value) in [("id", app.id.as_str()), ("key", app.key.as_str())] {
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
            "''".into(),
            "must not be empty",
        ));
    }
    for pattern in &app.history.channels {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-=@,.;*".contains(c);
        if pattern.is_empty() || !pattern.chars().all(allowed) {
            let reason = "a channel name pattern: letters, digits, '_-=@,.;' and '*' for any run of characters";
            return Err(invalid(
                draft,
                &field("history_channels"),
                format!("'{pattern}'"),
                reason,
            ));
        }
    }
    let queue = draft.config.server.socket_queue_capacity;
    if app.history.enabled() && app.history.max_events > queue / 2 {
        let reason = format!(
            "a resume replays up to history_max_events frames into one socket's queue, which \
             holds socket_queue_capacity = {queue}: keep history_max_events at most half of it \
             ({}), or raise socket_queue_capacity",
            queue / 2
        );
        let value = app.history.max_events.to_string();
        return Err(invalid(draft, &field("history_max_events"), value, &reason));
    }
    if app.history.enabled()
        && matches!(
            draft.config.server.cluster.driver,
            crate::config::Driver::Nats { .. }
        )
    {
        let reason = "channel history needs the memory (single node) or Redis cluster engine; \
                      with NATS it is not available yet: remove history_channels or use Redis";
        let value = format!("{:?}", app.history.channels);
        return Err(invalid(draft, &field("history_channels"), value, reason));
    }
    Ok(())
}

fn check_unique(
    draft: &Draft,
    name: &'static str,
    value_of: impl Fn(&App) -> &str,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, app) in draft.config.apps.iter().enumerate() {
        if let Some(first) = seen.insert(value_of(app), index) {
            return Err(ConfigError::DuplicateApp {
                field: name,
                value: value_of(app).to_string(),
                first: Box::new(draft.origin(&format!("apps[{first}].{name}"))),
                second: Box::new(draft.origin(&format!("apps[{index}].{name}"))),
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
            "invalid value 0 for SOCKWAVE_WS_MESSAGE_BURST: must be at least 1",
        );
    }

    #[test]
    fn history_settings_are_checked() {
        let file = [(
            "/c.toml",
            "[[apps]]\nid = 'a'\nkey = 'k'\nsecret = 's'\nhistory_channels = ['private-dashboard-*']\nhistory_max_events = 50",
        )];
        check_loaded(
            "--config /c.toml",
            &[],
            &file,
            r#"history_channels = ["private-dashboard-*"]"#,
        );
        check_err(
            "",
            &[("SOCKWAVE_APP_HISTORY_CHANNELS", "dash board")],
            &[],
            "invalid value 'dash board' for SOCKWAVE_APP_HISTORY_CHANNELS: a channel name pattern: letters, digits, '_-=@,.;' and '*' for any run of characters",
        );
        check_err(
            "",
            &[
                ("SOCKWAVE_APP_HISTORY_CHANNELS", "h-*"),
                ("SOCKWAVE_APP_HISTORY_MAX_EVENTS", "300"),
            ],
            &[],
            "invalid value 300 for SOCKWAVE_APP_HISTORY_MAX_EVENTS: a resume replays up to history_max_events frames into one socket's queue, which holds socket_queue_capacity = 512: keep history_max_events at most half of it (256), or raise socket_queue_capacity",
        );
        check_loaded(
            "",
            &[
                ("SOCKWAVE_APP_HISTORY_CHANNELS", "h-*"),
                ("SOCKWAVE_APP_HISTORY_MAX_EVENTS", "300"),
                ("SOCKWAVE_SOCKET_QUEUE_CAPACITY", "600"),
            ],
            &[],
            "history_max_events = 300 # SOCKWAVE_APP_HISTORY_MAX_EVENTS",
        );
        check_err(
            "",
            &[
                ("SOCKWAVE_APP_HISTORY_CHANNELS", "h-*"),
                ("SOCKWAVE_CLUSTER_DRIVER", "nats"),
            ],
            &[],
            "invalid value [\"h-*\"] for SOCKWAVE_APP_HISTORY_CHANNELS: channel history needs the memory (single node) or Redis cluster engine; with NATS it is not available yet: remove history_channels or use Redis",
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
