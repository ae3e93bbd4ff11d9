//! Laravel-side checks: lines phpdotenv refuses, names set twice, the broadcast connection
//! (`BROADCAST_CONNECTION` in Laravel 11+, `BROADCAST_DRIVER` before), a cached config, and
//! variables the shell sets over `.env`.

use std::collections::HashMap;

use super::{join_and, shown, Env, Family};
use crate::check::Check;
use crate::dotenv::EnvFile;
use crate::project::{DefaultConnection, ProjectHints};
use crate::resolve::{self, Resolved};

const CONNECTION: &str = "BROADCAST_CONNECTION";
const DRIVER: &str = "BROADCAST_DRIVER";
const CLEAR: &str = "then run \"php artisan config:clear\" and \"php artisan queue:restart\" so running workers stop using the old value";

/// Prefixes of the variables broadcasting depends on.
const RELEVANT: [&str; 6] = [
    "BROADCAST_",
    "PUSHER_",
    "REVERB_",
    "VITE_",
    "MIX_",
    "APP_URL",
];

fn is_relevant(key: &str) -> bool {
    RELEVANT.iter().any(|prefix| key.starts_with(prefix))
}

/// Lines Laravel refuses to load.
pub(super) fn syntax(file: &EnvFile) -> Check {
    let name = ".env syntax";
    let fatal: Vec<String> = file
        .errors
        .iter()
        .filter(|e| e.is_fatal())
        .map(|e| e.to_string())
        .collect();
    let other: Vec<String> = file
        .errors
        .iter()
        .filter(|e| !e.is_fatal())
        .map(|e| e.to_string())
        .collect();
    if !fatal.is_empty() {
        return Check::fail(
            name,
            fatal.join("; "),
            "quote values with spaces, close every quote and use only letters, digits, '_' and '.' in names: Laravel stops with \"Failed to parse dotenv file\" on such a line",
        );
    }
    if !other.is_empty() {
        return Check::warn(
            name,
            other.join("; "),
            Some("add '=' and a value, or delete the line".into()),
        );
    }
    Check::pass(
        name,
        format!("every line parses ({} assignments)", file.entries.len()),
    )
}

/// One check per name assigned more than once; one passing check when there is none.
pub(super) fn duplicates(file: &EnvFile) -> Vec<Check> {
    let mut seen: Vec<&str> = Vec::new();
    for entry in &file.entries {
        if !seen.contains(&entry.key.as_str()) && file.occurrences(&entry.key).count() > 1 {
            seen.push(&entry.key);
        }
    }
    if seen.is_empty() {
        return vec![Check::pass("duplicate keys", "no variable is set twice")];
    }
    seen.into_iter().map(|key| duplicate(file, key)).collect()
}

fn duplicate(file: &EnvFile, key: &str) -> Check {
    let name = format!("duplicate {key}");
    let (lines, values): (Vec<usize>, Vec<String>) = file
        .entries
        .iter()
        .zip(resolve::laravel_entries(file))
        .filter(|(entry, _)| entry.key == key)
        .map(|(entry, resolved)| (entry.line, resolved.value))
        .unzip();
    let (last_line, last_value) = (lines[lines.len() - 1], &values[values.len() - 1]);
    let line_list: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if values.iter().all(|value| value == &values[0]) {
        return Check::warn(
            name,
            format!("{key} is set on lines {} with the same value", join_and(&line_list)),
            Some("delete the repeated lines so a later edit of one cannot be silently overridden by the other".into()),
        );
    }
    let listed: Vec<String> = lines
        .iter()
        .zip(&values)
        .map(|(line, value)| format!("{line} ({})", shown(key, value)))
        .collect();
    let detail = format!(
        "{key} is set on lines {}; Laravel and Vite keep the last one: {} (line {last_line})",
        join_and(&listed),
        shown(key, last_value),
    );
    let fix = format!(
        "keep one {key} line with the value you mean and delete the others (lines {})",
        join_and(&line_list)
    );
    if is_relevant(key) {
        Check::fail(name, detail, fix)
    } else {
        Check::warn(name, detail, Some(fix))
    }
}

/// Which connection Laravel broadcasts with, and so which variables the other checks read.
pub(super) fn connection(env: &Env, hints: &ProjectHints) -> (Check, Family) {
    let name = "broadcast connection";
    let get = |var: &str| env.laravel.get(var).map(|r| (var.to_string(), r.clone()));
    let described = |var: &str, r: &Resolved| format!("{var}={} (line {})", r.value, r.line);
    match hints.broadcast.as_ref().map(|b| (&b.default, &b.source)) {
        Some((DefaultConnection::Fixed(value), source)) => {
            let why = format!("{source} sets the default connection to '{value}', so BROADCAST_* in .env are not read");
            classify(name, value, Setting::ConfigDefault, why)
        }
        Some((DefaultConnection::Env(vars), source)) => {
            let Some((var, chosen)) = vars.iter().find_map(|var| get(var)) else {
                let names = join_and(vars);
                let detail = format!("{names} is not set ({source} reads it): Laravel falls back to the default written in config/broadcasting.php, usually null (broadcasts discarded)");
                return (
                    Check::fail(name, detail, format!("add {}=pusher", vars[0])),
                    Family::Pusher,
                );
            };
            let mut why = format!("{}, read via {source}", described(&var, &chosen));
            for ignored in [CONNECTION, DRIVER]
                .into_iter()
                .filter(|v| *v != var && !vars.iter().any(|x| x == v))
            {
                if let Some(r) = env.laravel.get(ignored) {
                    why.push_str(&format!(
                        "; {} is ignored by this app",
                        described(ignored, r)
                    ));
                }
            }
            classify(name, &chosen.value, Setting::Var(&var), why)
        }
        None => match (get(CONNECTION), get(DRIVER)) {
            (Some((_, c)), Some((_, d))) if c.value != d.value => {
                let detail = format!(
                    "{} and {} disagree: Laravel 11+ reads BROADCAST_CONNECTION, Laravel 10 and older read BROADCAST_DRIVER",
                    described(CONNECTION, &c),
                    described(DRIVER, &d)
                );
                let family = family_of(&c.value)
                    .or(family_of(&d.value))
                    .unwrap_or(Family::Pusher);
                let fix = format!("set both to pusher, or keep only the one your config/broadcasting.php reads in 'default', {CLEAR}");
                (Check::fail(name, detail, fix), family)
            }
            (Some((var, r)), _) | (None, Some((var, r))) => {
                classify(name, &r.value, Setting::Var(&var), described(&var, &r))
            }
            (None, None) => {
                let detail = "neither BROADCAST_CONNECTION (Laravel 11+) nor BROADCAST_DRIVER (Laravel 10 and older) is set: Laravel falls back to its default connection, null (broadcasts discarded)";
                let fix = "add BROADCAST_CONNECTION=pusher (Laravel 11+) or BROADCAST_DRIVER=pusher (Laravel 10 and older)";
                (Check::fail(name, detail, fix), Family::Pusher)
            }
        },
    }
}

fn family_of(value: &str) -> Option<Family> {
    match value {
        "pusher" => Some(Family::Pusher),
        "reverb" => Some(Family::Reverb),
        _ => None,
    }
}

/// Where the connection name comes from.
#[derive(Clone, Copy)]
enum Setting<'a> {
    /// An environment variable.
    Var(&'a str),
    /// A literal in `config/broadcasting.php`.
    ConfigDefault,
}

/// `setting` is what the fix changes: a variable, or the config file's default.
fn classify(name: &str, value: &str, setting: Setting<'_>, why: String) -> (Check, Family) {
    let fail = |what: &str| {
        let change = match setting {
            Setting::Var(var) => format!("set {var}=pusher (or reverb for the REVERB_* variables)"),
            Setting::ConfigDefault => "set 'default' in config/broadcasting.php to env('BROADCAST_CONNECTION') and BROADCAST_CONNECTION=pusher in .env".to_string(),
        };
        let fix = format!("{change}, {CLEAR}");
        (
            Check::fail(name, format!("{why}: {what}"), fix),
            Family::Pusher,
        )
    };
    match value {
        "pusher" => (Check::pass(name, format!("{why}: Laravel publishes with the Pusher protocol using PUSHER_*")), Family::Pusher),
        "reverb" => (Check::pass(name, format!("{why}: the reverb connection speaks the Pusher protocol using REVERB_*")), Family::Reverb),
        "log" => fail("Laravel writes every broadcast to storage/logs/laravel.log and never sends it to the server"),
        "null" => fail("Laravel discards every broadcast"),
        "" => fail("an empty connection name makes Laravel throw \"Broadcast connection [] is not defined\""),
        "ably" => fail("Ably's own protocol, not a Pusher-compatible server"),
        "redis" => fail("the redis connection feeds laravel-echo-server (socket.io), not a Pusher-compatible server"),
        other => {
            let detail = format!("{why}: '{other}' is not a stock connection; the checks below assume config/broadcasting.php defines it with the pusher driver and PUSHER_*");
            let fix = "if that connection uses other variables, the PUSHER_* checks below do not apply".to_string();
            (Check::warn(name, detail, Some(fix)), Family::Pusher)
        }
    }
}

/// A cached configuration makes Laravel ignore `.env` entirely.
pub(super) fn config_cache(hints: &ProjectHints) -> Option<Check> {
    hints.config_cached.then(|| {
        Check::warn(
            "config cache",
            "bootstrap/cache/config.php exists: Laravel reads the cached configuration and ignores .env until it is rebuilt",
            Some("after every .env change run \"php artisan config:cache\" again (or \"php artisan config:clear\")".into()),
        )
    })
}

/// Broadcasting variables the current shell sets: they win over `.env` on both sides.
pub(super) fn shell(shell: &HashMap<String, String>) -> Option<Check> {
    let mut names: Vec<String> = shell
        .keys()
        .filter(|key| is_relevant(key))
        .cloned()
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    let detail = format!(
        "{} also set in this shell's environment: Laravel and Vite started from here use that value instead of .env",
        if names.len() == 1 { format!("{} is", names[0]) } else { format!("{} are", join_and(&names)) }
    );
    Some(Check::warn(
        "shell environment",
        detail,
        Some("unset them, or make them equal to the .env values".into()),
    ))
}
