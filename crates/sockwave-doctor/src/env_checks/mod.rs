//! The static checks: everything that can be told from the `.env` file and the project
//! around it, without contacting the server. Pure: the caller reads the files.
//!
//! `laravel` covers syntax, duplicates and the broadcast connection; `server` the
//! credentials and the address Laravel publishes to; `browser` what Echo is built with and
//! `browser_address` where it connects; `built` what the last frontend build baked in.
//! The result is the list of checks plus the `Target` the live checks aim at.

mod browser;
mod browser_address;
mod built;
mod laravel;
pub mod queue;
mod server;

use std::collections::HashMap;

use super::check::Check;
use super::dotenv::{self, EnvFile};
use super::endpoint::Endpoint;
use super::project::ProjectHints;
use super::resolve::{self, Values};
use super::target::{Target, VarNames};

/// A parsed `.env` file with the values each side sees.
#[derive(Debug, Clone)]
pub struct Env {
    /// Every assignment and refused line.
    pub file: EnvFile,
    /// As Laravel's `env()` sees them.
    pub laravel: Values,
    /// As Vite / Laravel Mix see them.
    pub vite: Values,
}

impl Env {
    /// Parses and resolves the text of a `.env` file.
    pub fn parse(text: &str) -> Env {
        let file = dotenv::parse(text);
        let laravel = resolve::laravel(&file);
        let vite = resolve::vite(&file);
        Env {
            file,
            laravel,
            vite,
        }
    }
}

/// Which set of variables the broadcast connection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `PUSHER_*` (the `pusher` connection).
    Pusher,
    /// `REVERB_*` (the `reverb` connection).
    Reverb,
}

impl Family {
    /// The backend variable for `field`, e.g. `PUSHER_APP_KEY` for `APP_KEY`.
    pub fn var(self, field: &str) -> String {
        match self {
            Family::Pusher => format!("PUSHER_{field}"),
            Family::Reverb => format!("REVERB_{field}"),
        }
    }
}

/// Addresses given on the command line instead of the `.env` values.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--url`: where the backend reaches the server.
    pub backend: Option<Endpoint>,
    /// `--browser-url`: where the browser reaches the server.
    pub browser: Option<Endpoint>,
}

/// Runs every static check. `shell` is the environment `sockwave doctor` runs in.
pub fn run(
    env: &Env,
    hints: &ProjectHints,
    shell: &HashMap<String, String>,
    overrides: &Overrides,
) -> (Vec<Check>, Target) {
    let mut checks = vec![laravel::syntax(&env.file)];
    checks.extend(laravel::duplicates(&env.file));
    let (connection, family) = laravel::connection(env, hints);
    checks.push(connection);
    checks.extend(laravel::config_cache(hints));
    checks.extend(laravel::shell(shell));

    let (credentials, creds) = server::credentials(env, family);
    checks.push(credentials);
    let (address_checks, backend) = server::address(env, family, overrides.backend.as_ref());
    checks.extend(address_checks);

    let browser = browser::checks(
        env,
        family,
        &creds,
        backend.as_ref(),
        overrides.browser.as_ref(),
    );
    checks.extend(browser.checks);
    checks.extend(built::check(
        env,
        family,
        hints.built.as_ref(),
        overrides.browser.as_ref(),
    ));

    let target = Target {
        backend,
        browser: browser.endpoint,
        app_id: creds.app_id,
        key: creds.key,
        secret: creds.secret,
        browser_key: browser.key,
        names: VarNames {
            app_id: family.var("APP_ID"),
            key: family.var("APP_KEY"),
            secret: family.var("APP_SECRET"),
            browser_key: browser.key_var,
            backend_address: match overrides.backend {
                Some(_) => "--url".to_string(),
                None => family.var("SCHEME/HOST/PORT"),
            },
            browser_address: browser.address_vars,
        },
        app_auth: None,
        queue: None,
    };
    (checks, target)
}

/// A value fit to print. The doctor reads a whole `.env` — database URLs and payment keys
/// included — so a value is hidden unless its name says it is harmless: hosts, ports,
/// schemes, drivers, connection names, clusters and paths, Pusher's and Reverb's public app id
/// and key, and `APP_URL`/`APP_ENV`/`APP_DEBUG`.
fn shown(key: &str, value: &str) -> String {
    if is_harmless(key) {
        value.to_string()
    } else {
        "***".to_string()
    }
}

fn is_harmless(key: &str) -> bool {
    const SECRET_WORDS: [&str; 6] = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "PRIVATE",
        "CREDENTIAL",
    ];
    const HARMLESS_SUFFIXES: [&str; 10] = [
        "_HOST",
        "_PORT",
        "_SCHEME",
        "_DRIVER",
        "_CONNECTION",
        "_CLUSTER",
        "_PATH",
        "_FORCE_TLS",
        "_USE_TLS",
        "_ENCRYPTED",
    ];
    const HARMLESS_KEYS: [&str; 3] = ["APP_URL", "APP_ENV", "APP_DEBUG"];
    let upper = key.to_ascii_uppercase();
    if SECRET_WORDS.iter().any(|word| upper.contains(word)) {
        return false;
    }
    let broadcaster = upper.contains("PUSHER_") || upper.contains("REVERB_");
    HARMLESS_KEYS.contains(&upper.as_str())
        || HARMLESS_SUFFIXES
            .iter()
            .any(|suffix| upper.ends_with(suffix))
        || (broadcaster && (upper.ends_with("_APP_ID") || upper.ends_with("_APP_KEY")))
}

/// `A`, `A and B`, `A, B and C`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Where a host value is wrong in shape: a scheme, a port or a path inside it. `var` ends in
/// `HOST`; its siblings `…SCHEME` and `…PORT` are named in the fix.
fn host_shape_problem(var: &str, host: &str) -> Option<(String, String)> {
    let stem = var.trim_end_matches("HOST");
    if let Some((scheme, rest)) = host.split_once("://") {
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        return Some((
            format!("{var}={host} includes a scheme: the URL is built from {stem}SCHEME, {var} and {stem}PORT, so this one cannot work"),
            format!("{var}={bare} and {stem}SCHEME={scheme}"),
        ));
    }
    if let Some((bare, _)) = host.split_once('/') {
        return Some((
            format!("{var}={host} includes a path"),
            format!("{var}={bare}; a path prefix is not part of the host"),
        ));
    }
    if host.matches(':').count() == 1 {
        let (bare, port) = host.split_once(':').expect("one colon");
        return Some((
            format!("{var}={host} includes a port"),
            format!("{var}={bare} and {stem}PORT={port}"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_joins_lists() {
        assert_eq!(shown("PUSHER_APP_SECRET", "s"), "***");
        assert_eq!(shown("APP_KEY", "base64:x"), "***");
        assert_eq!(shown("PUSHER_APP_KEY", "k"), "k");
        assert_eq!(shown("BROADCAST_DRIVER", "log"), "log");
        assert_eq!(shown("VITE_PUSHER_HOST", "localhost"), "localhost");
        assert_eq!(shown("DATABASE_URL", "postgres://u:p@h/db"), "***");
        assert_eq!(shown("STRIPE_API_KEY", "sk_live_1"), "***");
        assert_eq!(shown("ALGOLIA_APP_KEY", "k"), "***");
        let items = ["A".to_string(), "B".to_string(), "C".to_string()];
        assert_eq!(join_and(&items), "A, B and C");
    }
}
