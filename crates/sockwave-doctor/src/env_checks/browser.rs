//! Browser-side checks: the `VITE_*` (or Laravel Mix `MIX_*`) values Echo is built with,
//! resolved as Vite resolves them, compared with what Laravel uses.
//!
//! Echo's options are assumed to be the usual ones (README, "Laravel setup"): `wsHost` from
//! `*_HOST`, `wsPort`/`wssPort` from `*_PORT` (default 80/443), `forceTLS` when `*_SCHEME`
//! (default `https`) is `https`, `cluster` from `*_APP_CLUSTER`.

use super::server::Credentials;
use super::{browser_address, Env, Family};
use crate::check::Check;
use crate::endpoint::Endpoint;

/// The browser side as far as `.env` tells it.
pub(super) struct Browser {
    pub(super) checks: Vec<Check>,
    pub(super) endpoint: Option<Endpoint>,
    pub(super) key: Option<String>,
    pub(super) key_var: String,
    /// What set the address, for messages.
    pub(super) address_vars: String,
}

/// The prefix of the variables the bundle reads: `VITE_PUSHER_` (Vite) or, without any,
/// `MIX_PUSHER_` (Laravel Mix); `None` when `.env` has neither.
pub(super) fn bundler_prefix(env: &Env, family: Family) -> Option<String> {
    ["VITE_", "MIX_"]
        .into_iter()
        .map(|tool| format!("{tool}{}", family.var("")))
        .find(|prefix| env.vite.any_with_prefix(prefix))
}

pub(super) const REBUILD: &str =
    "then rebuild the frontend (npm run build): the bundler reads .env only when it builds";

pub(super) fn checks(
    env: &Env,
    family: Family,
    creds: &Credentials,
    backend: Option<&Endpoint>,
    url: Option<&Endpoint>,
) -> Browser {
    let vite = format!("VITE_{}", family.var(""));
    let mix = format!("MIX_{}", family.var(""));
    let Some(prefix) = bundler_prefix(env, family) else {
        let detail = format!(
            "no {vite}* or {mix}* variables: what Echo is built with cannot be read from .env"
        );
        let fix = format!("add {vite}APP_KEY=\"${{{}}}\", {vite}HOST, {vite}PORT, {vite}SCHEME and {vite}APP_CLUSTER and use them in Echo's options (README, Laravel setup), or pass --browser-url", family.var("APP_KEY"));
        let mut checks = vec![Check::warn("browser variables", detail, Some(fix))];
        if let Some(url) = url {
            checks.push(Check::pass(
                "browser address",
                format!(
                    "the browser side is checked at {url} (--browser-url) with {}",
                    family.var("APP_KEY")
                ),
            ));
        }
        return Browser {
            checks,
            endpoint: url.cloned(),
            key: creds.key.clone(),
            key_var: family.var("APP_KEY"),
            address_vars: "--browser-url".to_string(),
        };
    };
    let tool = if prefix == vite {
        "Vite"
    } else {
        "Laravel Mix"
    };
    let mut detail = format!("the browser bundle reads {prefix}* ({tool})");
    if prefix == vite && env.vite.any_with_prefix(&mix) {
        detail.push_str(&format!(
            "; {mix}* are also set: leftovers from Laravel Mix, which Vite ignores"
        ));
    }
    let var = |field: &str| format!("{prefix}{field}");
    let key_var = var("APP_KEY");
    let (key_check, key) = key_check(env, family, creds, &key_var);
    let mut checks = vec![Check::pass("browser variables", detail), key_check];
    if family == Family::Pusher {
        checks.push(cluster(env, &var("APP_CLUSTER")));
    }
    let endpoint = match url {
        Some(url) => {
            checks.push(Check::pass(
                "browser address",
                format!("the browser side is checked at {url} (--browser-url)"),
            ));
            Some(url.clone())
        }
        None => browser_address::check(env, family, &prefix, backend, &mut checks),
    };
    let address_vars = match url {
        Some(_) => "--browser-url".to_string(),
        None => format!("{prefix}SCHEME/HOST/PORT"),
    };
    Browser {
        checks,
        endpoint,
        key,
        key_var,
        address_vars,
    }
}

fn key_check(env: &Env, family: Family, creds: &Credentials, var: &str) -> (Check, Option<String>) {
    let name = "browser key";
    let backend_var = family.var("APP_KEY");
    let fix = format!("set {var}=\"${{{backend_var}}}\", {REBUILD}");
    let Some(resolved) = env.vite.get(var) else {
        let detail = format!("{var} is not set: Echo gets key undefined and pusher-js throws \"You must pass your app key when you instantiate Pusher.\"");
        return (Check::fail(name, detail, fix), None);
    };
    if let Some(reference) = resolved.unresolved.first() {
        let detail = format!("{var} (line {}) refers to ${{{reference}}}, which .env does not define: Vite substitutes an empty string", resolved.line);
        return (Check::fail(name, detail, fix), None);
    }
    let key = resolved.value.clone();
    if key.is_empty() {
        return (
            Check::fail(
                name,
                format!("{var} (line {}) is empty", resolved.line),
                fix,
            ),
            None,
        );
    }
    let check = match &creds.key {
        None => Check::pass(name, format!("{var}={key} ({backend_var} is not set, nothing to compare)")),
        Some(backend) if backend == &key => Check::pass(name, format!("{var} resolves to the same key as {backend_var} ({key})")),
        Some(backend) => Check::fail(
            name,
            format!(
                "the browser uses key '{key}' ({var}, line {}) but Laravel publishes with '{backend}' ({backend_var}, line {}): the browser listens to another app and never receives these events",
                resolved.line,
                creds.key_line.unwrap_or_default()
            ),
            fix,
        ),
    };
    (check, Some(key))
}

fn cluster(env: &Env, var: &str) -> Check {
    let name = "browser cluster";
    match env.vite.get(var) {
        None => Check::fail(
            name,
            format!("{var} is not set: pusher-js 8 throws \"Options object must provide a cluster\" before connecting"),
            format!("add {var}=mt1 (any value works: wsHost decides where the browser connects), {REBUILD}"),
        ),
        Some(r) if r.value.is_empty() => Check::pass(name, format!("{var} is empty, which pusher-js 8 accepts")),
        Some(r) => Check::pass(name, format!("{var}={} (pusher-js 8 only needs it present; wsHost decides where it connects)", r.value)),
    }
}
