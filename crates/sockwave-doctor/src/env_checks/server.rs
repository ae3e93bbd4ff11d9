//! Backend-side checks: the app credentials Laravel signs with and the address it publishes
//! to, with the defaults of Laravel's stock `pusher` / `reverb` connections (scheme https,
//! port 443) when a variable is missing.

use super::{host_shape_problem, join_and, Env, Family};
use crate::check::Check;
use crate::endpoint::{Endpoint, Scheme};

/// The credentials as Laravel has them.
#[derive(Debug, Clone, Default)]
pub(super) struct Credentials {
    pub(super) app_id: Option<String>,
    pub(super) key: Option<String>,
    pub(super) secret: Option<String>,
    /// Line of the key's assignment, for messages.
    pub(super) key_line: Option<usize>,
}

/// App id, key and secret are set and fully resolved.
pub(super) fn credentials(env: &Env, family: Family) -> (Check, Credentials) {
    let name = "server credentials";
    let [id_var, key_var, secret_var] = ["APP_ID", "APP_KEY", "APP_SECRET"].map(|f| family.var(f));
    let creds = Credentials {
        app_id: env.laravel.non_empty(&id_var).map(str::to_string),
        key: env.laravel.non_empty(&key_var).map(str::to_string),
        secret: env.laravel.non_empty(&secret_var).map(str::to_string),
        key_line: env.laravel.get(&key_var).map(|r| r.line),
    };
    let vars = [&id_var, &key_var, &secret_var];
    let missing: Vec<String> = vars
        .iter()
        .filter(|var| env.laravel.non_empty(var).is_none())
        .map(|var| var.to_string())
        .collect();
    if !missing.is_empty() {
        let verb = if missing.len() == 1 { "is" } else { "are" };
        let detail = format!("{} {verb} not set", join_and(&missing));
        let fix = format!("set {} from the app configured on the server: id, key and secret of the same app (\"sockwave config check\" prints sockwave's, secret masked)", join_and(&missing));
        return (Check::fail(name, detail, fix), creds);
    }
    for var in vars {
        let resolved = env.laravel.get(var).expect("checked above");
        if let Some(reference) = resolved.unresolved.first() {
            let detail = format!(
                "{var} (line {}) refers to ${{{reference}}}, which is not defined above it: Laravel uses the literal text \"${{{reference}}}\"",
                resolved.line
            );
            let fix = format!(
                "define {reference} above line {}, or write the value itself",
                resolved.line
            );
            return (Check::fail(name, detail, fix), creds);
        }
    }
    let detail = format!(
        "{id_var}={}, {key_var}={}, {secret_var} is set",
        creds.app_id.as_deref().unwrap_or_default(),
        creds.key.as_deref().unwrap_or_default()
    );
    (Check::pass(name, detail), creds)
}

/// Where Laravel publishes, and whether that scheme and port can work together.
pub(super) fn address(
    env: &Env,
    family: Family,
    url: Option<&Endpoint>,
) -> (Vec<Check>, Option<Endpoint>) {
    let name = "server address";
    if let Some(url) = url {
        let detail = format!(
            "the backend side is checked at {url} (--url; {} are not used)",
            family.var("SCHEME/HOST/PORT")
        );
        let scheme_port = scheme_port(url, "the --url scheme", "its port");
        return (
            vec![Check::pass(name, detail), scheme_port],
            Some(url.clone()),
        );
    }
    let [host_var, port_var, scheme_var] = ["HOST", "PORT", "SCHEME"].map(|f| family.var(f));
    let fail = |detail: String, fix: String| (vec![Check::fail(name, detail, fix)], None);
    let Some(host) = env.laravel.non_empty(&host_var) else {
        let detail = match family {
            Family::Pusher => {
                let cluster = env.laravel.non_empty("PUSHER_APP_CLUSTER").unwrap_or("mt1");
                format!("{host_var} is not set: Laravel's pusher connection then publishes to Pusher's hosted service (api-{cluster}.pusher.com), not to your server")
            }
            Family::Reverb => {
                format!("{host_var} is not set: Laravel has no address to publish to")
            }
        };
        let fix = format!("set {host_var} to where the Laravel backend reaches the server: 127.0.0.1 on the same machine, the service name (e.g. sockwave) inside docker compose");
        return fail(detail, fix);
    };
    if let Some((detail, fix)) = host_shape_problem(&host_var, host) {
        return fail(detail, fix);
    }
    let scheme = match env.laravel.non_empty(&scheme_var) {
        None => None,
        Some(text) => {
            match Scheme::parse(text).filter(|_| !text.to_ascii_lowercase().starts_with("ws")) {
                Some(scheme) => Some(scheme),
                None => {
                    let detail = format!("{scheme_var}={text} is not http or https: the backend talks HTTP to the server");
                    return fail(detail, format!("{scheme_var}=https when TLS is in front of the server, {scheme_var}=http otherwise"));
                }
            }
        }
    };
    let port = match env.laravel.non_empty(&port_var) {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                let detail = format!("{port_var}={text} is not a port number");
                return fail(
                    detail,
                    format!("{port_var}=6001, or the port the server listens on"),
                );
            }
        },
    };
    let endpoint = Endpoint {
        scheme: scheme.unwrap_or(Scheme::Https),
        host: host.to_string(),
        port: port.unwrap_or(443),
        path_prefix: String::new(),
    };
    let mut defaulted = Vec::new();
    if scheme.is_none() {
        defaulted.push(format!(
            "{scheme_var} is not set (Laravel's default: https)"
        ));
    }
    if port.is_none() {
        defaulted.push(format!("{port_var} is not set (Laravel's default: 443)"));
    }
    let address = if defaulted.is_empty() {
        Check::pass(
            name,
            format!("Laravel publishes to {endpoint} ({scheme_var}, {host_var}, {port_var})"),
        )
    } else {
        let detail = format!("Laravel publishes to {endpoint}: {}", defaulted.join(", "));
        let fix = format!("set {scheme_var} and {port_var} to what the server listens on (sockwave: http and 6001 unless TLS is in front)");
        Check::warn(name, detail, Some(fix))
    };
    let scheme_label = format!(
        "{scheme_var}={}",
        if endpoint.scheme == Scheme::Http {
            "http"
        } else {
            "https"
        }
    );
    let scheme_port = scheme_port(
        &endpoint,
        &scheme_label,
        &format!("{port_var}={}", endpoint.port),
    );
    (vec![address, scheme_port], Some(endpoint))
}

/// Scheme and port combinations that cannot work: TLS on port 80, plain HTTP on 443.
fn scheme_port(endpoint: &Endpoint, scheme_label: &str, port_label: &str) -> Check {
    let name = "server scheme/port";
    match (endpoint.scheme, endpoint.port) {
        (Scheme::Https, 80) => Check::fail(
            name,
            format!("{scheme_label} on {port_label}: port 80 serves plain HTTP, so the TLS handshake fails (cURL error 35)"),
            "use port 443 with https, or scheme http with port 80",
        ),
        (Scheme::Http, 443) => Check::fail(
            name,
            format!("{scheme_label} on {port_label}: port 443 expects TLS, so the request fails (cURL error 52 or 56, or \"400 plain HTTP request sent to HTTPS port\")"),
            "use scheme https with port 443, or the server's plain port (sockwave: 6001) with http",
        ),
        (Scheme::Http, port) => Check::pass(name, format!("plain http on port {port}")),
        (Scheme::Https, port) => Check::pass(name, format!("https (TLS) on port {port}")),
    }
}
