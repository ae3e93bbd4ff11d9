//! sockwave's own TOML file: `[server]`, `[console]`, `[cluster]` and `[[apps]]` (with
//! `[[apps.webhooks]]`). Every key is looked up in the settings table; an unknown key is
//! refused with the file and a suggestion. Range checks are left to `validate`, which sees
//! the final values from every source.

use std::path::Path;

use super::draft::{Draft, Origin};
use super::error::{closest, ConfigError};
use super::table::{self, Access, Scope};
use super::value::Source;
use super::webhooks::{self, RawWebhook, FILTER_KEYS, WEBHOOK_KEYS};

const TABLES: [&str; 4] = ["server", "console", "cluster", "apps"];

/// Reads a TOML file's text into the draft.
pub(crate) fn apply_file(draft: &mut Draft, path: &Path, text: &str) -> Result<(), ConfigError> {
    let file: toml::Table = text.parse().map_err(|source| ConfigError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    let unknown =
        |key: &str, prefix: &str, known: &mut dyn Iterator<Item = &str>| ConfigError::UnknownKey {
            key: format!("{prefix}{key}"),
            file: path.to_path_buf(),
            suggestion: closest(key, known),
        };
    let shape = |key: &str, expected: &str| ConfigError::Invalid {
        origin: Origin::file(path, key),
        value: "(this value)".to_string(),
        reason: format!("expected {expected}"),
    };
    for (name, value) in &file {
        let scope = match name.as_str() {
            "server" => Scope::Server,
            "console" => Scope::Console,
            "cluster" => Scope::Cluster,
            "apps" => {
                let apps = value
                    .as_array()
                    .ok_or_else(|| shape(name, "[[apps]] tables"))?;
                apply_apps(draft, path, apps)?;
                continue;
            }
            other => return Err(unknown(other, "", &mut TABLES.into_iter())),
        };
        let table = value
            .as_table()
            .ok_or_else(|| shape(name, &format!("a [{name}] table")))?;
        for (key, value) in table {
            let setting = table::by_key(scope, key)
                .ok_or_else(|| unknown(key, &format!("{name}."), &mut table::keys(scope)))?;
            let origin = Origin::file(path, format!("{name}.{key}"));
            draft.assign(setting, 0, &json(value), Source::Toml, origin)?;
        }
    }
    Ok(())
}

fn json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).expect("a TOML value is a JSON value")
}

fn apply_apps(draft: &mut Draft, path: &Path, apps: &[toml::Value]) -> Result<(), ConfigError> {
    draft.replace_apps(apps.len(), Origin::file(path, "apps"));
    for (index, app) in apps.iter().enumerate() {
        let key_of = |key: &str| format!("apps[{index}].{key}");
        let app = app.as_table().ok_or_else(|| ConfigError::Invalid {
            origin: Origin::file(path, key_of("")),
            value: "(this value)".to_string(),
            reason: "expected an [[apps]] table".to_string(),
        })?;
        for required in ["id", "key", "secret"] {
            if !app.contains_key(required) {
                return Err(ConfigError::Missing {
                    origin: Origin::file(path, key_of(required)),
                });
            }
        }
        for (key, value) in app {
            let Some(setting) = table::by_key(Scope::App, key) else {
                return Err(ConfigError::UnknownKey {
                    key: key_of(key),
                    file: path.to_path_buf(),
                    suggestion: closest(key, table::keys(Scope::App)),
                });
            };
            let origin = Origin::file(path, key_of(key));
            if matches!(setting.access, Access::Webhooks) {
                let targets = read_webhooks(path, index, value)?;
                draft.set_webhooks(index, targets, origin);
            } else {
                draft.assign(setting, index, &json(value), Source::Toml, origin)?;
            }
        }
    }
    Ok(())
}

/// `[[apps.webhooks]]`: unknown keys refused with a suggestion, then the shared checks.
fn read_webhooks(
    path: &Path,
    index: usize,
    value: &toml::Value,
) -> Result<Vec<crate::app::WebhookTarget>, ConfigError> {
    let prefix = |n: usize| format!("apps[{index}].webhooks[{n}].");
    let hooks = value.as_array().map(Vec::as_slice).unwrap_or_default();
    for (n, hook) in hooks.iter().enumerate() {
        let Some(hook) = hook.as_table() else {
            continue;
        };
        let check = |table: &toml::Table, known: &[&str], prefix: String| match table
            .keys()
            .find(|k| !known.contains(&k.as_str()))
        {
            Some(key) => Err(ConfigError::UnknownKey {
                key: format!("{prefix}{key}"),
                file: path.to_path_buf(),
                suggestion: closest(key, known.iter().copied()),
            }),
            None => Ok(()),
        };
        check(hook, WEBHOOK_KEYS, prefix(n))?;
        if let Some(filter) = hook.get("filter").and_then(toml::Value::as_table) {
            check(filter, FILTER_KEYS, format!("{}filter.", prefix(n)))?;
        }
    }
    let raws: Vec<RawWebhook> = value
        .clone()
        .try_into()
        .map_err(|err| ConfigError::Invalid {
            origin: Origin::file(path, format!("apps[{index}].webhooks")),
            value: "(webhooks)".to_string(),
            reason: format!("expected [[apps.webhooks]] tables: {err}"),
        })?;
    let origin_of =
        |n: usize, field: &str| Origin::file(path, format!("apps[{index}].webhooks[{n}].{field}"));
    webhooks::targets(raws, &origin_of)
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
        check_err(&format!("{APP}authorized_connections_timeout = 0"), "invalid value 0 for 'apps[0].authorized_connections_timeout' in /c.toml: must be at least 1 (seconds; leave it out, or write \"off\", to turn it off)");
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
        check_err(&format!("{APP}max_read_requests_per_second = 'lots'"), "invalid value 'lots' for 'apps[0].max_read_requests_per_second' in /c.toml: expected a whole number, or \"unlimited\" (-1)");
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
        check_err(
            "[server]\nwebhook_batch_max_events = 0",
            "invalid value 0 for 'server.webhook_batch_max_events' in /c.toml: must be at least 1",
        );
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
        check_err(&format!("{APP}max_connections = 'lots'"), "invalid value 'lots' for 'apps[0].max_connections' in /c.toml: expected a whole number, or \"unlimited\" (-1)");
        check_err(&format!("{APP}max_connections = 0"), "invalid value 0 for 'apps[0].max_connections' in /c.toml: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)");
        check_err(&format!("{APP}max_event_payload_kb = -1.0"), "invalid value -1.0 for 'apps[0].max_event_payload_kb' in /c.toml: expected a non-negative number of kilobytes");
        check_err("[server]\npath_prefix = '/a b'", "invalid value '/a b' for 'server.path_prefix' in /c.toml: only letters, digits, '-', '.', '_', '~' and '/' are allowed");
        check_err("[server]\ncors_allowed_origins = ['example.com']", "invalid value 'example.com' for 'server.cors_allowed_origins' in /c.toml: expected \"*\" or an origin like \"https://example.com\"");
        check_err(
            &format!("{APP}{}", APP),
            "duplicate app id 'a': set by 'apps[0].id' in /c.toml and by 'apps[1].id' in /c.toml",
        );
        check_err(&format!("{APP}[[apps]]\nid = 'b'\nkey = 'k'\nsecret = 's'"), "duplicate app key 'k': set by 'apps[0].key' in /c.toml and by 'apps[1].key' in /c.toml");
    }

    #[test]
    fn wrong_types_name_the_key_and_what_it_takes() {
        check_err(
            "[server]\nport = 70000",
            "invalid value 70000 for 'server.port' in /c.toml: expected a port number (0-65535)",
        );
        check_err(
            "[server]\nport = '7000'",
            "invalid value '7000' for 'server.port' in /c.toml: expected a port number (0-65535)",
        );
        check_err(
            "[server]\nsubscription_error_mode = 'x'",
            "invalid value 'x' for 'server.subscription_error_mode' in /c.toml: expected \"soketi\" or \"pusher\"",
        );
        let message =
            testing::render("--config /c.toml", &[], &[(PATH, "[server]\nport = [1")]).unwrap_err();
        assert!(
            message.starts_with("invalid config file /c.toml: TOML parse error at line 2"),
            "{message}"
        );
    }

    /// `-1` means "no limit" in every source: the docs, validation and variables always said
    /// so, and TOML refused it with a serde message (issue 14).
    #[test]
    fn minus_one_is_unlimited_in_toml_too() {
        check(
            &format!("{APP}max_connections = -1"),
            "max_connections = \"unlimited\"",
        );
        check(
            "[server]\nws_connections_per_ip = -1",
            "ws_connections_per_ip = \"unlimited\"",
        );
    }
}
