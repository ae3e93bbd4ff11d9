//! The live checks: talk to the server the way Laravel and the browser do, using only the
//! public Pusher protocol, so any Pusher-compatible server can be diagnosed.
//!
//! Order: both addresses answer HTTP (`reach`), the browser's key opens a WebSocket
//! (`socket`), a signed API call is accepted (`api`, read back by `refusal`), then an event
//! published as Laravel would reaches the socket and a locally signed private subscription
//! is accepted (`roundtrip`). A check whose prerequisite failed is reported as not checked.
//! Every network step is bounded by the caller's limit, so a run never hangs.

mod api;
mod auth_endpoint;
mod queue;
mod reach;
mod refusal;
mod roundtrip;
mod socket;
mod transport;

use std::time::Duration;

use self::api::Api;
use self::socket::{Socket, SocketError};
use super::check::{Check, Status};
use super::endpoint::Endpoint;
use super::target::Target;

const BACKEND: &str = "backend reachable";
const BROWSER: &str = "browser reachable";
const APP_KEY: &str = "app key known";
const API: &str = "HTTP API credentials";

/// Runs the live checks against `target`.
pub(crate) async fn run(target: &Target, limit: Duration) -> Vec<Check> {
    let names = &target.names;
    let mut checks = Vec::new();
    let backend_ok = match &target.backend {
        None => skip(
            &mut checks,
            BACKEND,
            "no backend address (see server address)",
        ),
        Some(endpoint) => push(
            &mut checks,
            reach::check(BACKEND, endpoint, &names.backend_address, false, limit).await,
        ),
    };
    let browser_ok = match (&target.browser, &target.backend) {
        (None, _) => skip(
            &mut checks,
            BROWSER,
            "no browser address (see browser variables)",
        ),
        (Some(browser), Some(backend)) if browser == backend && backend_ok => push(
            &mut checks,
            Check::pass(BROWSER, "same address as the backend"),
        ),
        (Some(browser), _) => push(
            &mut checks,
            reach::check(BROWSER, browser, &names.browser_address, true, limit).await,
        ),
    };

    // The socket goes where the browser goes; without a browser address, where Laravel goes.
    let (ws_endpoint, ws_ok, ws_key, ws_vars) = match &target.browser {
        Some(browser) => (
            Some(browser),
            browser_ok,
            &target.browser_key,
            &names.browser_address,
        ),
        None => (
            target.backend.as_ref(),
            backend_ok,
            &target.key,
            &names.backend_address,
        ),
    };
    let socket = match (ws_endpoint, ws_key) {
        (Some(endpoint), Some(key)) if ws_ok => {
            let (check, socket) = open_socket(endpoint, key, target, ws_vars, limit).await;
            checks.push(check);
            socket
        }
        (_, None) => {
            skip(&mut checks, APP_KEY, "no app key to connect with");
            None
        }
        _ => {
            let reason = "the address the browser uses is unreachable";
            skip(&mut checks, APP_KEY, reason);
            None
        }
    };

    let api = match (&target.backend, &target.app_id, &target.key, &target.secret) {
        (Some(endpoint), Some(app_id), Some(key), Some(secret)) if backend_ok => {
            let (check, api) = check_api(endpoint, app_id, key, secret, target, limit).await;
            checks.push(check);
            api
        }
        _ => {
            let reason = if backend_ok {
                "app id, key or secret missing (see server credentials)"
            } else {
                "the backend address is unreachable"
            };
            skip(&mut checks, API, reason);
            None
        }
    };

    let mut socket = socket;
    checks.push(roundtrip::delivery(socket.as_mut(), api.as_ref(), target).await);
    checks.push(roundtrip::private_auth(socket.as_mut(), target).await);
    if let Some(app_auth) = &target.app_auth {
        checks.push(auth_endpoint::check(app_auth, socket.as_mut(), target, limit).await);
    }
    if let Some(setup) = &target.queue {
        checks.push(queue::check(setup, limit).await);
    }
    if let Some(socket) = socket {
        socket.close().await;
    }
    checks
}

fn push(checks: &mut Vec<Check>, check: Check) -> bool {
    let passed = check.status == Status::Pass;
    checks.push(check);
    passed
}

fn skip(checks: &mut Vec<Check>, name: &str, reason: &str) -> bool {
    checks.push(Check::skip(name, reason));
    false
}

async fn open_socket(
    endpoint: &Endpoint,
    key: &str,
    target: &Target,
    vars: &str,
    limit: Duration,
) -> (Check, Option<Socket>) {
    let url = endpoint.socket_url(key);
    let socket = match Socket::open(endpoint, key, limit).await {
        Ok(socket) => socket,
        Err(err) => {
            let (detail, fix) = socket_failure(&err, key, target, vars);
            return (Check::fail(APP_KEY, format!("{url}: {detail}"), fix), None);
        }
    };
    let detail = format!(
        "{url} answered pusher:connection_established (socket id {})",
        socket.socket_id
    );
    (Check::pass(APP_KEY, detail), Some(socket))
}

/// (detail, fix) for a WebSocket that did not get established.
fn socket_failure(err: &SocketError, key: &str, target: &Target, vars: &str) -> (String, String) {
    let key_var = &target.names.browser_key;
    let rebuild = if key_var.starts_with("VITE_") || key_var.starts_with("MIX_") {
        format!(
            " and {} to the same, then rebuild the frontend",
            target.names.key
        )
    } else {
        String::new()
    };
    let unknown_key_fix =
        format!("set {key_var} to the key of an app configured on the server{rebuild}");
    match err {
        SocketError::Refused { code: Some(4001), .. } | SocketError::Closed { code: Some(4001) } => {
            (format!("app key '{key}' is unknown to the server ({err})"), unknown_key_fix)
        }
        SocketError::Refused { code: Some(4003), .. } => {
            (format!("the app with key '{key}' is disabled ({err})"), "enable the app in the server's configuration".into())
        }
        SocketError::Refused { code: Some(4004), .. } => (
            format!("the app with key '{key}' is over its connection quota ({err})"),
            "raise the app's connection limit on the server, or close connections".into(),
        ),
        SocketError::Refused { .. } => (format!("the server refused the connection ({err})"), "see the server's log for this connection".into()),
        SocketError::Upgrade { status: 404 } => (
            format!("{err}: nothing serves /app/ at this address"),
            format!("point {vars} at the server itself, not the web app; a proxy must forward /app/ with the Upgrade and Connection headers; include the server's path prefix if it has one"),
        ),
        SocketError::Upgrade { .. } => (
            err.to_string(),
            "a proxy in front of the server must forward WebSocket upgrades (Upgrade and Connection headers) to it".into(),
        ),
        SocketError::Closed { .. } => (
            format!("{err} before pusher:connection_established; some servers (Reverb) do this for an unknown app key"),
            unknown_key_fix,
        ),
        // The WebSocket is the browser's connection.
        SocketError::Transport(transport) => (err.to_string(), transport.fix(vars, true)),
        SocketError::Timeout { .. } | SocketError::Protocol(_) => (
            format!("{err}: the address does not answer as a Pusher server"),
            format!("check that {vars} lead to the Pusher server's port"),
        ),
    }
}

async fn check_api(
    endpoint: &Endpoint,
    app_id: &str,
    key: &str,
    secret: &str,
    target: &Target,
    limit: Duration,
) -> (Check, Option<Api>) {
    let api = match Api::new(endpoint, app_id, key, secret, limit) {
        Ok(api) => api,
        Err(err) => {
            return (
                Check::fail(
                    API,
                    format!("cannot build an HTTP client: {err}"),
                    "report this as a sockwave bug",
                ),
                None,
            )
        }
    };
    let request = format!("GET {}", api.path("channels"));
    match api.channels().await {
        Ok(reply) if reply.status == 200 => {
            let detail =
                format!("{request} accepted (HTTP 200): app id, key and secret match the server");
            (Check::pass(API, detail), Some(api))
        }
        Ok(reply) => {
            let (detail, fix) = refusal::diagnose(&reply, &request, app_id, &target.names);
            (Check::fail(API, detail, fix), None)
        }
        Err(err) => {
            let fix = format!("check {}", target.names.backend_address);
            (
                Check::fail(API, format!("{request} failed: {}", error_chain(&err)), fix),
                None,
            )
        }
    }
}

/// An error and its causes on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
