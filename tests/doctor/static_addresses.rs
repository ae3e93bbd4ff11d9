//! Address fixtures: where Laravel publishes and where the browser connects, keys, cluster,
//! schemes and ports. Each test asserts the exact diagnosis and fix.

use sockwave_doctor::check::Status::{Fail, Pass, Warn};

use crate::support::{expect, offline};

const REBUILD: &str =
    "then rebuild the frontend (npm run build): the bundler reads .env only when it builds";

#[tokio::test]
async fn a_missing_host_publishes_to_pusher_com() {
    let report = offline("no-host.env").await;
    expect(
        &report,
        "server address",
        Fail,
        "PUSHER_HOST is not set: Laravel's pusher connection then publishes to Pusher's hosted service (api-mt1.pusher.com), not to your server",
        Some("set PUSHER_HOST to where the Laravel backend reaches the server: 127.0.0.1 on the same machine, the service name (e.g. sockwave) inside docker compose"),
    );
}

#[tokio::test]
async fn a_host_with_a_scheme_or_a_port() {
    let report = offline("host-with-scheme.env").await;
    expect(&report, "server address", Fail, "PUSHER_HOST=https://ws.example.com includes a scheme: the URL is built from PUSHER_SCHEME, PUSHER_HOST and PUSHER_PORT, so this one cannot work", Some("PUSHER_HOST=ws.example.com and PUSHER_SCHEME=https"));
    let report = offline("host-with-port.env").await;
    expect(
        &report,
        "server address",
        Fail,
        "PUSHER_HOST=localhost:6001 includes a port",
        Some("PUSHER_HOST=localhost and PUSHER_PORT=6001"),
    );
}

#[tokio::test]
async fn tls_on_port_80_and_plain_http_on_443() {
    let report = offline("https-port-80.env").await;
    expect(&report, "server scheme/port", Fail, "PUSHER_SCHEME=https on PUSHER_PORT=80: port 80 serves plain HTTP, so the TLS handshake fails (cURL error 35)", Some("use port 443 with https, or scheme http with port 80"));
    let report = offline("http-port-443.env").await;
    expect(&report, "server scheme/port", Fail, "PUSHER_SCHEME=http on PUSHER_PORT=443: port 443 expects TLS, so the request fails (cURL error 52 or 56, or \"400 plain HTTP request sent to HTTPS port\")", Some("use scheme https with port 443, or the server's plain port (sockwave: 6001) with http"));
}

#[tokio::test]
async fn laravel_defaults_fill_a_missing_scheme_and_port() {
    let report = offline("defaulted-port.env").await;
    expect(
        &report,
        "server address",
        Warn,
        "Laravel publishes to https://127.0.0.1:443: PUSHER_SCHEME is not set (Laravel's default: https), PUSHER_PORT is not set (Laravel's default: 443)",
        Some("set PUSHER_SCHEME and PUSHER_PORT to what the server listens on (sockwave: http and 6001 unless TLS is in front)"),
    );
}

#[tokio::test]
async fn the_browser_key_must_be_the_backend_key() {
    let report = offline("browser-key-mismatch.env").await;
    expect(
        &report,
        "browser key",
        Fail,
        "the browser uses key 'other-key' (VITE_PUSHER_APP_KEY, line 12) but Laravel publishes with 'app-key' (PUSHER_APP_KEY, line 5): the browser listens to another app and never receives these events",
        Some(&format!("set VITE_PUSHER_APP_KEY=\"${{PUSHER_APP_KEY}}\", {REBUILD}")),
    );
    let report = offline("browser-key-typo.env").await;
    expect(
        &report,
        "browser key",
        Fail,
        "VITE_PUSHER_APP_KEY (line 12) refers to ${PUSHER_KEY}, which .env does not define: Vite substitutes an empty string",
        Some(&format!("set VITE_PUSHER_APP_KEY=\"${{PUSHER_APP_KEY}}\", {REBUILD}")),
    );
}

#[tokio::test]
async fn pusher_js_8_needs_a_cluster() {
    let report = offline("missing-cluster.env").await;
    expect(
        &report,
        "browser cluster",
        Fail,
        "VITE_PUSHER_APP_CLUSTER is not set: pusher-js 8 throws \"Options object must provide a cluster\" before connecting",
        Some(&format!("add VITE_PUSHER_APP_CLUSTER=mt1 (any value works: wsHost decides where the browser connects), {REBUILD}")),
    );
}

#[tokio::test]
async fn a_missing_browser_host_goes_to_pusher_com() {
    let report = offline("no-browser-host.env").await;
    expect(
        &report,
        "browser address",
        Fail,
        "VITE_PUSHER_HOST is not set: pusher-js then connects to Pusher's hosted service (ws-<cluster>.pusher.com), not to your server",
        Some("set VITE_PUSHER_HOST to the name the browser uses to reach the server: localhost in development, the public host name behind your proxy in production"),
    );
}

#[tokio::test]
async fn forcetls_by_default_against_a_plain_port() {
    let report = offline("browser-scheme-missing.env").await;
    expect(
        &report,
        "browser scheme/port",
        Fail,
        "VITE_PUSHER_SCHEME is not set, so Echo's usual options (forceTLS: (VITE_PUSHER_SCHEME ?? 'https') === 'https') make the browser use wss:// on port 6001, where the server speaks plain http (as the backend's http://127.0.0.1:6001 shows)",
        Some(&format!("set VITE_PUSHER_SCHEME=http (or \"${{PUSHER_SCHEME}}\"), {REBUILD}")),
    );
}

#[tokio::test]
async fn ws_from_an_https_page_is_mixed_content() {
    let report = offline("mixed-content.env").await;
    expect(
        &report,
        "browser scheme/port",
        Fail,
        "APP_URL is https://shop.example.com but the browser connects with ws://: browsers block insecure WebSockets on https pages (mixed content)",
        Some(&format!("serve the socket over TLS too: VITE_PUSHER_SCHEME=https and VITE_PUSHER_PORT=443 (TLS terminated at your proxy), {REBUILD}")),
    );
}

#[tokio::test]
async fn a_docker_service_name_does_not_resolve_in_browsers() {
    let report = offline("docker-browser-host.env").await;
    expect(
        &report,
        "browser address",
        Warn,
        "VITE_PUSHER_HOST=soketi looks like a docker compose service name: the browser resolves it on the visitor's machine, where it does not exist",
        Some("use localhost (with the port published) or the public host name"),
    );
    assert!(report.passed(), "a warning does not fail the run");
}

#[tokio::test]
async fn laravel_mix_variables_are_read_too() {
    let report = offline("mix.env").await;
    expect(
        &report,
        "browser variables",
        Pass,
        "the browser bundle reads MIX_PUSHER_* (Laravel Mix)",
        None,
    );
    assert!(report.passed(), "{}", report.render());
}

#[tokio::test]
async fn no_browser_variables_is_a_warning() {
    let report = offline("no-browser-vars.env").await;
    expect(
        &report,
        "browser variables",
        Warn,
        "no VITE_PUSHER_* or MIX_PUSHER_* variables: what Echo is built with cannot be read from .env",
        Some("add VITE_PUSHER_APP_KEY=\"${PUSHER_APP_KEY}\", VITE_PUSHER_HOST, VITE_PUSHER_PORT, VITE_PUSHER_SCHEME and VITE_PUSHER_APP_CLUSTER and use them in Echo's options (README, Laravel setup), or pass --browser-url"),
    );
}

#[tokio::test]
async fn reverb_connection_reads_reverb_variables_and_explains_two_hops() {
    let report = offline("reverb.env").await;
    expect(
        &report,
        "server credentials",
        Pass,
        "REVERB_APP_ID=app-id, REVERB_APP_KEY=app-key, REVERB_APP_SECRET is set",
        None,
    );
    expect(
        &report,
        "browser address",
        Pass,
        "two hops: the browser connects to wss://ws.example.com:443 (VITE_REVERB_*), the backend publishes to http://127.0.0.1:6001 (REVERB_*); both must reach the same server, which the live checks verify",
        None,
    );
    assert!(
        report.find("browser cluster").is_none(),
        "Echo's reverb broadcaster sets the cluster itself"
    );
    assert!(report.passed(), "{}", report.render());
}
