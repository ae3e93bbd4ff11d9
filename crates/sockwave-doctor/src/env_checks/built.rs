//! The built frontend against `.env`: the bundler baked the browser's key, host, port and
//! scheme in at the last build, so a `.env` that is right now can still leave the browser on
//! old values — and `--browser-url` checks a server the built page may not be pointing at.

use super::browser::{bundler_prefix, REBUILD};
use super::{Env, Family};
use crate::bundle::{Baked, BuiltFrontend, EchoOptions};
use crate::check::Check;
use crate::endpoint::{is_loopback_host, Endpoint};

const NAME: &str = "built frontend";

/// The check, when the project has a built frontend.
pub(super) fn check(
    env: &Env,
    family: Family,
    built: Option<&BuiltFrontend>,
    browser_url: Option<&Endpoint>,
) -> Option<Check> {
    let built = built?;
    if built.dev_server {
        return Some(Check::skip(
            NAME,
            "public/hot exists: the Vite dev server runs and pages load from it, with the .env it read when it started (restart npm run dev after changing .env)",
        ));
    }
    let Some(options) = &built.options else {
        return Some(Check::warn(
            NAME,
            format!(
                "{} names no JavaScript with Echo's options (broadcaster and key as literals): the built values cannot be compared with .env",
                built.manifest
            ),
            None,
        ));
    };
    let file = built.file.as_deref().unwrap_or(&built.manifest);
    let prefix = bundler_prefix(env, family).unwrap_or_else(|| format!("VITE_{}", family.var("")));
    // What `.env` sets now; unset or empty values are not compared.
    let set = |field: &str| {
        let var = format!("{prefix}{field}");
        let now = env
            .vite
            .get(&var)
            .map(|r| r.value.clone())
            .filter(|now| !now.is_empty());
        (var, now)
    };
    let mut stale = Vec::new();
    for (option, field, baked) in [
        ("key", "APP_KEY", &options.key),
        ("wsHost", "HOST", &options.ws_host),
    ] {
        if let (Some(built), (var, Some(now))) = (baked.as_ref().and_then(Baked::text), set(field))
        {
            if built != now {
                stale.push(format!("{option} '{built}' where {var} is now '{now}'"));
            }
        }
    }
    let (scheme_var, scheme_now) = set("SCHEME");
    // Echo's usual options default the scheme to https.
    let tls_now = scheme_now.as_deref().unwrap_or("https") == "https";
    if let (Some(Baked::Flag(tls_built)), Some(_)) = (&options.force_tls, scheme_now) {
        let tls_built = *tls_built;
        if tls_built != tls_now {
            stale.push(format!(
                "forceTLS {tls_built} where {scheme_var} now means {tls_now}"
            ));
        }
    }
    let port = if tls_built(options, tls_now) {
        &options.wss_port
    } else {
        &options.ws_port
    };
    if let (Some(built), (port_var, Some(now))) = (port.as_ref().and_then(Baked::text), set("PORT"))
    {
        if built != now {
            stale.push(format!("port {built} where {port_var} is now {now}"));
        }
    }
    if !stale.is_empty() {
        return Some(Check::fail(
            NAME,
            format!(
                "{file} was built with other values than .env has now: {}; the browser runs the built values",
                stale.join(", ")
            ),
            format!("rebuild the frontend (npm run build) and deploy it: {}", REBUILD.trim_start_matches("then ")),
        ));
    }
    let host = options.ws_host.as_ref().and_then(Baked::text);
    if let Some(host) = host.filter(|host| looks_internal(host)) {
        return Some(Check::fail(
            NAME,
            format!("{file} connects the browser to wsHost '{host}', a docker compose service name: the browser resolves it on the visitor's machine, where it does not exist"),
            format!("set {prefix}HOST to the host browsers reach (localhost with the port published, or the public name), {REBUILD}"),
        ));
    }
    if let (Some(url), Some(host)) = (browser_url, host) {
        let same =
            url.host.eq_ignore_ascii_case(host) || (is_loopback_host(host) && url.is_loopback());
        if !same {
            return Some(Check::fail(
                NAME,
                format!("the browser checks ran against {url} (--browser-url), but {file} connects the browser to '{host}': those checks do not cover the built page"),
                format!("point the frontend at the server browsers reach: set {prefix}HOST (and PORT, SCHEME), {REBUILD}"),
            ));
        }
    }
    Some(Check::pass(NAME, describe(file, options)))
}

/// Whether the built page picks wss: forceTLS as built, or `.env`'s scheme when unknown.
fn tls_built(options: &EchoOptions, tls_now: bool) -> bool {
    match options.force_tls {
        Some(Baked::Flag(tls)) => tls,
        _ => tls_now,
    }
}

fn looks_internal(host: &str) -> bool {
    !host.is_empty() && !host.contains('.') && !host.contains(':') && !is_loopback_host(host)
}

fn describe(file: &str, options: &EchoOptions) -> String {
    let shown = |baked: &Option<Baked>| match baked {
        Some(Baked::Text(text) | Baked::Number(text)) => text.clone(),
        Some(Baked::Flag(flag)) => flag.to_string(),
        Some(Baked::Other(expression)) => format!("({expression})"),
        None => "unset".to_string(),
    };
    format!(
        "{file} was built with the values .env has now (broadcaster {}, key {}, wsHost {}, ports {}/{}, forceTLS {})",
        options.broadcaster,
        shown(&options.key),
        shown(&options.ws_host),
        shown(&options.ws_port),
        shown(&options.wss_port),
        shown(&options.force_tls)
    )
}
