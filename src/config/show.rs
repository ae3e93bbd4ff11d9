//! `config check` output: the effective configuration as sockwave TOML, secrets masked,
//! with the origin of every value that is not a built-in default. Driven by the settings
//! table, in its order.
//!
//! The output parses as a sockwave config file (apart from the masked secrets), so it can
//! be used as a starting point for one.

use std::fmt::Write;

use super::cluster::mask_url;
use super::draft::Origins;
use super::table::{Access, Mask, Scope, Setting, SETTINGS};
use super::value::{self, Value};
use super::Config;
use crate::app::WebhookTarget;

/// Column where origin comments start, so they line up.
const COMMENT_COLUMN: usize = 40;

/// What a rendering shows: `config check` shows everything with secrets masked; `config
/// migrate` shows only what the Soketi configuration set, secrets included (the output is
/// the new config file).
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Check,
    Migrate,
}

/// Renders the configuration for people to read.
pub(crate) fn render_config(config: &Config, origins: &Origins) -> String {
    let header = "# effective sockwave configuration (secrets masked)\n\
                  # a value without a comment is the built-in default\n";
    render(config, origins, header, View::Check)
}

/// Renders what a Soketi configuration set, as a sockwave config file: one line per
/// translated setting, each with a comment naming the Soketi option or variable it came
/// from. Settings left at sockwave's defaults are not written.
pub(crate) fn render_migration(config: &Config, origins: &Origins, source: &str) -> String {
    let header = format!(
        "# sockwave configuration translated from {source} by `sockwave config migrate`\n\
         # each line names the Soketi setting it came from; everything else is sockwave's\n\
         # default (see `sockwave config check` and docs/configuration.md)\n"
    );
    render(config, origins, &header, View::Migrate)
}

fn render(config: &Config, origins: &Origins, header: &str, view: View) -> String {
    let mut out = String::from(header);
    if config.uses_default_credentials {
        out.push_str(
            "# warning: the public development credentials app-key / app-secret are in use\n",
        );
    }
    for scope in [Scope::Server, Scope::Console, Scope::Cluster] {
        writeln!(out, "\n[{}]", scope.table()).expect("writing to a String cannot fail");
        for setting in SETTINGS.iter().filter(|s| s.scope == scope) {
            line(&mut out, config, origins, setting, 0, view);
        }
        if view == View::Check
            && scope == Scope::Server
            && config.server.tls_cert.is_none()
            && config.server.tls_key.is_none()
        {
            out.push_str("# tls: off (set tls_cert and tls_key to serve wss/https)\n");
        }
    }
    for (index, app) in config.apps.iter().enumerate() {
        out.push_str("\n[[apps]]\n");
        for setting in SETTINGS.iter().filter(|s| s.scope == Scope::App) {
            line(&mut out, config, origins, setting, index, view);
        }
        if !app.webhooks.is_empty() {
            if let Some(origin) = origins.get(&format!("apps[{index}].webhooks")) {
                writeln!(out, "# webhooks from {origin}").expect("writing to a String cannot fail");
            }
        }
        for target in &app.webhooks {
            out.push_str("\n[[apps.webhooks]]\n");
            for (key, value) in webhook_values(target, view) {
                writeln!(out, "{key} = {value}").expect("writing to a String cannot fail");
            }
        }
    }
    out
}

/// One `key = value  # origin` line; unset optional values and "off" show as comments.
fn line(
    out: &mut String,
    config: &Config,
    origins: &Origins,
    setting: &Setting,
    index: usize,
    view: View,
) {
    if matches!(setting.access, Access::Webhooks) {
        return;
    }
    let origin = origins.get(&setting.field(index));
    // A migration writes what was translated; ids, keys and secrets always, so that every
    // app stays complete.
    let identity = setting.scope == Scope::App && matches!(setting.key, "id" | "key" | "secret");
    if view == View::Migrate && origin.is_none() && !identity {
        return;
    }
    let Some(value) = setting.get(config, index) else {
        return;
    };
    let key = setting.key;
    let unset = matches!(&value, Value::Text(text) if text.is_empty())
        && matches!(key, "tls_cert" | "tls_key" | "token");
    if unset {
        return;
    }
    let value = match view {
        View::Check => masked(setting.mask, value),
        View::Migrate => value,
    };
    let Some(value) = value::render(setting.kind, &value) else {
        writeln!(out, "# {key}: off").expect("writing to a String cannot fail");
        return;
    };
    let text = format!("{key} = {value}");
    match origin {
        Some(origin) => writeln!(out, "{text:<COMMENT_COLUMN$}  # {origin}"),
        None => writeln!(out, "{text}"),
    }
    .expect("writing to a String cannot fail");
}

fn masked(mask: Mask, value: Value) -> Value {
    let url = |url: &String| mask_url(url, true);
    match (mask, value) {
        (Mask::Secret, Value::Text(secret)) => Value::Text(mask_secret(&secret)),
        (Mask::Urls, Value::Text(one)) => Value::Text(url(&one)),
        (Mask::Urls, Value::Texts(many)) => Value::Texts(many.iter().map(url).collect()),
        (_, value) => value,
    }
}

/// A webhook's keys as TOML values; header values are masked like secrets because they
/// often carry credentials.
fn webhook_values(target: &WebhookTarget, view: View) -> Vec<(&'static str, toml::Value)> {
    let text = |value: &str| toml::Value::String(value.to_string());
    let secret = |value: &str| match view {
        View::Check => text(&mask_secret(value)),
        View::Migrate => text(value),
    };
    let url = match view {
        View::Check => target.url.shown(),
        View::Migrate => target.url.as_str(),
    };
    let kinds = target.event_types.iter().map(|kind| text(kind.name()));
    let mut values = vec![
        ("url", text(url)),
        ("event_types", toml::Value::Array(kinds.collect())),
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
            .map(|(name, value)| (name.clone(), secret(value)))
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
