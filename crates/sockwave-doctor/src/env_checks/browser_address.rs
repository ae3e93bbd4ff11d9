//! The browser's address from `*_HOST`, `*_PORT` and `*_SCHEME` with Echo's usual defaults
//! (port 80/443, `forceTLS` unless the scheme is `http`), compared with the backend's: the
//! same server, or a two-hop setup through a proxy; plus scheme and port combinations a
//! browser cannot use (TLS on 80, plain on 443, `ws://` from an https page).

use super::browser::REBUILD;
use super::{host_shape_problem, Env, Family};
use crate::check::Check;
use crate::endpoint::{is_loopback_host, Endpoint, Scheme};

/// The browser's address, pushing `browser address` and `browser scheme/port` checks.
pub(super) fn check(
    env: &Env,
    family: Family,
    prefix: &str,
    backend: Option<&Endpoint>,
    checks: &mut Vec<Check>,
) -> Option<Endpoint> {
    let name = "browser address";
    let [host_var, port_var, scheme_var] =
        ["HOST", "PORT", "SCHEME"].map(|f| format!("{prefix}{f}"));
    let mut fail = |detail: String, fix: String| {
        checks.push(Check::fail(name, detail, fix));
        None
    };
    let Some(host) = env.vite.non_empty(&host_var) else {
        let detail = match family {
            Family::Pusher => format!("{host_var} is not set: pusher-js then connects to Pusher's hosted service (ws-<cluster>.pusher.com), not to your server"),
            Family::Reverb => format!("{host_var} is not set: Echo has no host to connect to"),
        };
        return fail(detail, format!("set {host_var} to the name the browser uses to reach the server: localhost in development, the public host name behind your proxy in production"));
    };
    if let Some((detail, fix)) = host_shape_problem(&host_var, host) {
        return fail(detail, fix);
    }
    if host == "0.0.0.0" {
        return fail(
            format!("{host_var}=0.0.0.0 is a listen address, not one a browser can connect to"),
            format!("{host_var}=localhost, or the public host name"),
        );
    }
    let scheme_text = env.vite.non_empty(&scheme_var);
    let scheme = match scheme_text.map(|text| {
        (
            text,
            Scheme::parse(text).filter(|_| !text.starts_with("ws")),
        )
    }) {
        None => Scheme::Https,
        Some((_, Some(scheme))) => scheme,
        Some((text, None)) => {
            let detail = format!("{scheme_var}={text} is not http or https: Echo compares it with 'https' to set forceTLS, so the browser uses ws://");
            return fail(detail, format!("{scheme_var}=https (or http), {REBUILD}"));
        }
    };
    let port = match env
        .vite
        .non_empty(&port_var)
        .map(|text| (text, text.parse::<u16>()))
    {
        None => scheme.default_port(),
        Some((_, Ok(port))) if port > 0 => port,
        Some((text, _)) => {
            return fail(
                format!("{port_var}={text} is not a port number"),
                format!("{port_var}=6001, or the port the browser reaches the server on"),
            )
        }
    };
    let endpoint = Endpoint {
        scheme,
        host: host.to_string(),
        port,
        path_prefix: String::new(),
    };
    let ws = endpoint.ws_url();
    let looks_internal = !host.contains('.') && !is_loopback_host(host) && !host.contains(':');
    checks.push(match backend {
        _ if looks_internal => Check::warn(
            name,
            format!("{host_var}={host} looks like a docker compose service name: the browser resolves it on the visitor's machine, where it does not exist"),
            Some("use localhost (with the port published) or the public host name".into()),
        ),
        Some(backend) if same_server(backend, &endpoint) => {
            Check::pass(name, format!("the browser connects to {ws}, the same server the backend publishes to ({backend})"))
        }
        Some(backend) => Check::pass(
            name,
            format!("two hops: the browser connects to {ws} ({prefix}*), the backend publishes to {backend} ({}*); both must reach the same server, which the live checks verify", family.var("")),
        ),
        None => Check::pass(name, format!("the browser connects to {ws}")),
    });
    checks.push(scheme_port(
        env,
        &endpoint,
        scheme_text.is_some(),
        backend,
        [&scheme_var, &port_var],
    ));
    Some(endpoint)
}

fn same_server(a: &Endpoint, b: &Endpoint) -> bool {
    a.port == b.port && (a.host == b.host || (a.is_loopback() && b.is_loopback()))
}

fn scheme_port(
    env: &Env,
    endpoint: &Endpoint,
    scheme_set: bool,
    backend: Option<&Endpoint>,
    [scheme_var, port_var]: [&String; 2],
) -> Check {
    let name = "browser scheme/port";
    let port = endpoint.port;
    if !scheme_set {
        if let Some(backend) =
            backend.filter(|b| b.scheme == Scheme::Http && same_server(b, endpoint))
        {
            return Check::fail(
                name,
                format!("{scheme_var} is not set, so Echo's usual options (forceTLS: ({scheme_var} ?? 'https') === 'https') make the browser use wss:// on port {port}, where the server speaks plain http (as the backend's {backend} shows)"),
                format!("set {scheme_var}=http (or \"${{PUSHER_SCHEME}}\"), {REBUILD}"),
            );
        }
    }
    if endpoint.scheme == Scheme::Https && port == 80 {
        return Check::fail(name, format!("{scheme_var}=https on {port_var}=80: the browser opens wss:// on a plain-HTTP port and the TLS handshake fails"), format!("{port_var}=443 (the TLS port of your proxy), or {scheme_var}=http with port 80"));
    }
    if endpoint.scheme == Scheme::Http && port == 443 {
        return Check::fail(
            name,
            format!("{scheme_var}=http on {port_var}=443: the browser opens ws:// on the TLS port"),
            format!("{scheme_var}=https for port 443, {REBUILD}"),
        );
    }
    let app_url = env.laravel.non_empty("APP_URL").unwrap_or_default();
    if endpoint.scheme == Scheme::Http && app_url.starts_with("https://") && !endpoint.is_loopback()
    {
        return Check::fail(
            name,
            format!("APP_URL is {app_url} but the browser connects with ws://: browsers block insecure WebSockets on https pages (mixed content)"),
            format!("serve the socket over TLS too: {scheme_var}=https and {port_var}=443 (TLS terminated at your proxy), {REBUILD}"),
        );
    }
    let label = if endpoint.scheme == Scheme::Https {
        "wss (TLS)"
    } else {
        "plain ws"
    };
    if !scheme_set {
        let fix =
            format!("set {scheme_var} explicitly so the bundle does not depend on Echo's default");
        return Check::warn(
            name,
            format!(
                "{scheme_var} is not set: Echo's usual options then use {label} on port {port}"
            ),
            Some(fix),
        );
    }
    Check::pass(name, format!("{label} on port {port}"))
}
