//! Live diagnoses against a real server on `127.0.0.1:0`, with a `.env` written for its port.

use sockwave_doctor::check::Status::{Fail, Pass, Skip};

use crate::support::{args, expect, laravel_env, run, start_server, with_status, TempEnv};

#[tokio::test]
async fn a_working_setup_passes_end_to_end() {
    let server = start_server().await;
    let addr = server.local_addr();
    let env = TempEnv::new(&laravel_env(addr, "app-key", "app-secret"));
    let report = run(args(env.path.clone())).await;
    assert_eq!(
        with_status(&report, Pass).len(),
        report.checks.len(),
        "{}",
        report.render()
    );
    let port = addr.port();
    expect(
        &report,
        "backend reachable",
        Pass,
        &format!("http://127.0.0.1:{port} answers HTTP (GET /up: 200)"),
        None,
    );
    expect(
        &report,
        "HTTP API credentials",
        Pass,
        "GET /apps/app-id/channels accepted (HTTP 200): app id, key and secret match the server",
        None,
    );
    let app_key = report.find("app key known").unwrap();
    assert!(app_key.detail.starts_with(&format!("ws://localhost:{port}/app/app-key?protocol=7&client=js&version=8.4.0&flash=false answered pusher:connection_established (socket id ")), "{}", app_key.detail);
    let delivery = &report.find("event delivery").unwrap().detail;
    assert!(
        delivery.starts_with(
            "an event published as Laravel does reached the browser-side subscriber on doctor-"
        ),
        "{delivery}"
    );
    assert!(delivery.ends_with(" ms"), "{delivery}");
    let private = &report.find("private channel auth").unwrap().detail;
    assert!(private.ends_with("accepted an auth signed here with PUSHER_APP_KEY and PUSHER_APP_SECRET, as Laravel's /broadcasting/auth signs it"), "{private}");
}

#[tokio::test]
async fn a_wrong_secret_is_named() {
    let server = start_server().await;
    let env = TempEnv::new(&laravel_env(
        server.local_addr(),
        "app-key",
        "not-the-secret",
    ));
    let report = run(args(env.path.clone())).await;
    assert_eq!(
        with_status(&report, Fail),
        ["HTTP API credentials", "private channel auth"],
        "{}",
        report.render()
    );
    let api = report.find("HTTP API credentials").unwrap();
    assert!(api.detail.starts_with("GET /apps/app-id/channels was refused with HTTP 401: \"signature mismatch: check the secret for app 'app-id'"), "{}", api.detail);
    assert!(
        api.detail.ends_with("; the server points at the secret"),
        "{}",
        api.detail
    );
    assert_eq!(api.fix.as_deref(), Some("PUSHER_APP_SECRET is not the secret the server has for app 'app-id': copy it from the server's app configuration"));
    let private = report.find("private channel auth").unwrap();
    assert_eq!(private.fix.as_deref(), Some("PUSHER_APP_SECRET (with PUSHER_APP_KEY) does not match the server's app: copy the secret from the server's configuration; until then every private and presence channel is refused"));
    assert_eq!(report.find("event delivery").unwrap().status, Skip);
}

#[tokio::test]
async fn an_unknown_key_is_named() {
    let server = start_server().await;
    let env = TempEnv::new(&laravel_env(
        server.local_addr(),
        "unknown-key",
        "app-secret",
    ));
    let report = run(args(env.path.clone())).await;
    assert_eq!(
        with_status(&report, Fail),
        ["app key known", "HTTP API credentials"],
        "{}",
        report.render()
    );
    let socket = report.find("app key known").unwrap();
    assert!(
        socket
            .detail
            .contains(": app key 'unknown-key' is unknown to the server (pusher:error 4001: "),
        "{}",
        socket.detail
    );
    assert_eq!(socket.fix.as_deref(), Some("set VITE_PUSHER_APP_KEY to the key of an app configured on the server and PUSHER_APP_KEY to the same, then rebuild the frontend"));
    expect(
        &report,
        "HTTP API credentials",
        Fail,
        "GET /apps/app-id/channels was refused with HTTP 401: \"auth_key 'unknown-key' is not the key of app 'app-id'\"; the server points at the key",
        Some("PUSHER_APP_KEY is not the key of app 'app-id' on the server: copy it from the server's app configuration (the id and the key must belong to the same app)"),
    );
}

#[tokio::test]
async fn an_unknown_app_id_is_named() {
    let server = start_server().await;
    let text = laravel_env(server.local_addr(), "app-key", "app-secret")
        .replace("PUSHER_APP_ID=app-id", "PUSHER_APP_ID=42");
    let env = TempEnv::new(&text);
    let report = run(args(env.path.clone())).await;
    expect(
        &report,
        "HTTP API credentials",
        Fail,
        "GET /apps/42/channels was refused with HTTP 404: \"app '42' does not exist on this server\"; the server points at the app id",
        Some("PUSHER_APP_ID='42' is not an app on the server: copy it from the server's app configuration"),
    );
}

#[tokio::test]
async fn nothing_listening_is_explained_and_later_checks_are_skipped() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let env = TempEnv::new(&laravel_env(port, "app-key", "app-secret"));
    let report = run(args(env.path.clone())).await;
    let port = port.port();
    expect(
        &report,
        "backend reachable",
        Fail,
        &format!("http://127.0.0.1:{port}: connection refused: nothing listens on 127.0.0.1:{port}"),
        Some("start the server, or point PUSHER_SCHEME/HOST/PORT at the host and port it listens on; inside a container 127.0.0.1 is the container itself, use the server's service name"),
    );
    // The browser's side gets advice for a browser: never a service name.
    let browser = report
        .checks
        .iter()
        .find(|check| check.name == "browser reachable")
        .expect("a browser reachable check");
    assert_eq!(browser.status, Fail);
    assert_eq!(
        browser.fix.as_deref(),
        Some("start the server, or point VITE_PUSHER_SCHEME/HOST/PORT at the host and port browsers reach it on (localhost with the port published, or the public name; never a docker compose service name)"),
    );
    assert_eq!(
        with_status(&report, Skip),
        [
            "app key known",
            "HTTP API credentials",
            "event delivery",
            "private channel auth"
        ]
    );
}

#[tokio::test]
async fn tls_against_a_plain_port_is_explained() {
    let server = start_server().await;
    let text = laravel_env(server.local_addr(), "app-key", "app-secret")
        .replace("PUSHER_SCHEME=http", "PUSHER_SCHEME=https");
    let env = TempEnv::new(&text);
    let report = run(args(env.path.clone())).await;
    let backend = report.find("backend reachable").unwrap();
    assert_eq!(backend.status, Fail, "{}", report.render());
    assert_eq!(backend.fix.as_deref(), Some("this port speaks plain HTTP: use scheme http for it in PUSHER_SCHEME/HOST/PORT, or the TLS port of your proxy (usually 443)"));
}

#[tokio::test]
async fn backend_and_browser_on_different_servers_lose_the_event() {
    let backend = start_server().await;
    let browser = start_server().await;
    let text = laravel_env(backend.local_addr(), "app-key", "app-secret").replace(
        "VITE_PUSHER_PORT=\"${PUSHER_PORT}\"",
        &format!("VITE_PUSHER_PORT={}", browser.local_addr().port()),
    );
    let env = TempEnv::new(&text);
    let mut args = args(env.path.clone());
    args.timeout = 1;
    let report = run(args).await;
    assert_eq!(
        with_status(&report, Fail),
        ["event delivery"],
        "{}",
        report.render()
    );
    let delivery = report.find("event delivery").unwrap();
    assert!(
        delivery.detail.ends_with("received nothing within 1 s"),
        "{}",
        delivery.detail
    );
    assert_eq!(delivery.fix.as_deref(), Some("the backend and the browser reach different servers or apps: make PUSHER_SCHEME/HOST/PORT and VITE_PUSHER_SCHEME/HOST/PORT lead to the same server (several servers need a shared adapter such as Redis) and the same app"));
}

#[tokio::test]
async fn url_flags_replace_the_env_addresses() {
    let server = start_server().await;
    let addr = server.local_addr();
    let text = laravel_env(addr, "app-key", "app-secret")
        .replace("PUSHER_HOST=127.0.0.1", "PUSHER_HOST=sockwave")
        .replace(
            "VITE_PUSHER_HOST=localhost",
            "VITE_PUSHER_HOST=ws.example.invalid",
        );
    let env = TempEnv::new(&text);
    let mut args = args(env.path.clone());
    args.url = Some(format!("http://{addr}"));
    args.browser_url = Some(format!("ws://{addr}"));
    let report = run(args).await;
    assert!(report.passed(), "{}", report.render());
    expect(&report, "server address", Pass, &format!("the backend side is checked at http://{addr} (--url; PUSHER_SCHEME/HOST/PORT are not used)"), None);
    expect(
        &report,
        "browser reachable",
        Pass,
        "same address as the backend",
        None,
    );
}
