//! What the Laravel project next to the `.env` file tells about how it reads it: which
//! variable picks the broadcast connection (from `config/broadcasting.php`, else the
//! `laravel/framework` version in `composer.lock`), whether the configuration is cached, and
//! what the built frontend connects with (`bundle`).
//!
//! Reading is best effort: a file that is missing or unreadable just leaves a hint unknown.

use std::path::Path;

/// How `config/broadcasting.php` chooses the default connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultConnection {
    /// `env('A', env('B', …))`: the first of these variables that is set, in order.
    Env(Vec<String>),
    /// A literal connection name; `.env` cannot change it.
    Fixed(String),
}

/// Where a hint came from, for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastSource {
    /// What decides the connection.
    pub default: DefaultConnection,
    /// e.g. `config/broadcasting.php` or `composer.lock (laravel/framework v11.9.2)`.
    pub source: String,
}

/// Facts about the project around the `.env` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectHints {
    /// How the broadcast connection is chosen, when it could be found out.
    pub broadcast: Option<BroadcastSource>,
    /// `bootstrap/cache/config.php` exists: Laravel ignores `.env` until it is rebuilt.
    pub config_cached: bool,
    /// The built frontend (Vite's or Mix's manifest and the JavaScript it names).
    pub built: Option<crate::bundle::BuiltFrontend>,
    /// The `Broadcast::channel` patterns in `routes/channels.php`; `None` without the file.
    pub channel_patterns: Option<Vec<String>>,
    /// `bootstrap/app.php` configures the app fluently (Laravel 11 and later).
    pub laravel_11: bool,
    /// Classes under `app/` that implement `ShouldBroadcast` (queued), not `ShouldBroadcastNow`.
    pub queued_broadcasts: Vec<String>,
}

/// Reads the hints from the project directory `dir` (the `.env` file's directory).
pub fn read(dir: &Path) -> ProjectHints {
    let from_config = std::fs::read_to_string(dir.join("config/broadcasting.php"))
        .ok()
        .and_then(|php| broadcasting_default(&php))
        .map(|default| BroadcastSource {
            default,
            source: "config/broadcasting.php".to_string(),
        });
    let from_lock = || {
        let lock = std::fs::read_to_string(dir.join("composer.lock")).ok()?;
        let version = framework_version(&lock)?;
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()?
            .parse()
            .ok()?;
        let variable = if major >= 11 {
            "BROADCAST_CONNECTION"
        } else {
            "BROADCAST_DRIVER"
        };
        Some(BroadcastSource {
            default: DefaultConnection::Env(vec![variable.to_string()]),
            source: format!("composer.lock (laravel/framework {version})"),
        })
    };
    ProjectHints {
        broadcast: from_config.or_else(from_lock),
        config_cached: dir.join("bootstrap/cache/config.php").is_file(),
        built: crate::bundle::read(dir),
        channel_patterns: std::fs::read_to_string(dir.join("routes/channels.php"))
            .ok()
            .map(|php| channel_patterns(&php)),
        laravel_11: std::fs::read_to_string(dir.join("bootstrap/app.php"))
            .is_ok_and(|php| php.contains("Application::configure(")),
        queued_broadcasts: queued_broadcasts(&dir.join("app")),
    }
}

/// Most PHP files read when looking for broadcast events.
const MAX_PHP_FILES: usize = 5000;

/// Event classes under `dir` that implement `ShouldBroadcast` but not `ShouldBroadcastNow`,
/// as `Namespace\Class`, sorted.
fn queued_broadcasts(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut read = 0;
    let mut dirs = 0;
    while let Some(dir) = pending.pop() {
        dirs += 1;
        if dirs > MAX_PHP_FILES {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Symbolic links are not followed: a link loop would never end.
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "php") || read >= MAX_PHP_FILES {
                continue;
            }
            read += 1;
            let Ok(php) = std::fs::read_to_string(&path) else {
                continue;
            };
            if php.contains("ShouldBroadcastNow") || !php.contains("ShouldBroadcast") {
                continue;
            }
            let class = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().to_string());
            let namespace = php
                .lines()
                .find_map(|line| line.trim().strip_prefix("namespace "))
                .map(|ns| ns.trim_end_matches(';').trim().to_string());
            if let Some(class) = class {
                found.push(match namespace {
                    Some(ns) => format!("{ns}\\{class}"),
                    None => class,
                });
            }
        }
    }
    found.sort();
    found
}

/// The first argument of every `Broadcast::channel('…', …)` call.
fn channel_patterns(php: &str) -> Vec<String> {
    php.split("Broadcast::channel(")
        .skip(1)
        .filter_map(|call| {
            let call = call.trim_start();
            let quote = call.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let rest = &call[1..];
            Some(rest[..rest.find(quote)?].to_string())
        })
        .collect()
}

/// The `'default' => …` entry of `config/broadcasting.php`.
pub fn broadcasting_default(php: &str) -> Option<DefaultConnection> {
    let start = php.find("'default'").or_else(|| php.find("\"default\""))?;
    let rest = &php[start..];
    let statement = &rest[..rest.find("\n").unwrap_or(rest.len())];
    let value = statement.split_once("=>")?.1.trim();
    let mut variables = Vec::new();
    let mut remaining = value;
    while let Some(idx) = remaining.find("env(") {
        remaining = &remaining[idx + 4..];
        if let Some(name) = quoted(remaining) {
            variables.push(name.to_string());
        }
    }
    if !variables.is_empty() {
        return Some(DefaultConnection::Env(variables));
    }
    quoted(value).map(|name| DefaultConnection::Fixed(name.to_string()))
}

/// The text inside the quotes `text` starts with.
fn quoted(text: &str) -> Option<&str> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &text[1..];
    Some(&inner[..inner.find(quote)?])
}

/// The `version` of the `laravel/framework` package in a composer.lock.
fn framework_version(lock: &str) -> Option<String> {
    let start = lock.find("\"name\": \"laravel/framework\"")?;
    let rest = &lock[start..];
    let version_at = rest.find("\"version\":")?;
    let value = rest[version_at + "\"version\":".len()..].trim_start();
    quoted(value).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_patterns_of_routes_channels_php() {
        let php = "<?php\nuse Illuminate\\Support\\Facades\\Broadcast;\n\nBroadcast::channel('App.Models.User.{id}', fn ($u, $id) => true);\nBroadcast::channel( \"orders.{order}\", OrderChannel::class);\n// Broadcast::routes();\n";
        assert_eq!(
            channel_patterns(php),
            ["App.Models.User.{id}", "orders.{order}"]
        );
    }

    fn env(names: &[&str]) -> Option<DefaultConnection> {
        Some(DefaultConnection::Env(
            names.iter().map(|n| n.to_string()).collect(),
        ))
    }

    #[test]
    fn reads_the_default_entry() {
        let php = "return [\n    'default' => env('BROADCAST_CONNECTION', 'null'),\n";
        assert_eq!(broadcasting_default(php), env(&["BROADCAST_CONNECTION"]));
        let php = "'default' => env('BROADCAST_CONNECTION', env(\"BROADCAST_DRIVER\", 'log')),";
        assert_eq!(
            broadcasting_default(php),
            env(&["BROADCAST_CONNECTION", "BROADCAST_DRIVER"])
        );
        assert_eq!(
            broadcasting_default("'default' => 'pusher',"),
            Some(DefaultConnection::Fixed("pusher".into()))
        );
    }

    #[test]
    fn reads_the_framework_version() {
        let lock = r#"{"packages": [{"name": "laravel/framework",
            "version": "v10.48.4", "source": {}}]}"#;
        assert_eq!(framework_version(lock).as_deref(), Some("v10.48.4"));
    }
}
