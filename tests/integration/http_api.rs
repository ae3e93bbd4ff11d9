//! The HTTP API: publishing, queries, signature checks, limits, health.

use serde_json::{json, Value};

use crate::support::*;

fn events_path() -> String {
    format!("/apps/{APP_ID}/events")
}

fn event(channel: &str) -> Value {
    json!({"name": "e", "channel": channel, "data": "{}"})
}

async fn error_of(call: ApiCall, addr: std::net::SocketAddr) -> (u16, String) {
    let (status, body) = call.send(addr).await;
    (
        status,
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no JSON error in {body}"))
            .to_string(),
    )
}

#[tokio::test]
async fn health_endpoints() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    assert_eq!(
        raw_request(addr, "GET", "/", None).await,
        (200, Value::String("OK".into()))
    );
    assert_eq!(raw_request(addr, "GET", "/up", None).await.0, 200);
    assert_eq!(raw_request(addr, "GET", "/ready", None).await.0, 200);
    let (status, body) = raw_request(addr, "GET", "/nope", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("no route"));
}

#[tokio::test]
async fn publish_responses() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let mut client = connect(addr).await;
    client.subscribe("a", None, None).await;
    let (status, body) = ApiCall::new("POST", &events_path(), Some(event("a")))
        .send(addr)
        .await;
    assert_eq!((status, body), (200, json!({})));

    let with_info =
        json!({"name": "e", "channels": ["a", "b"], "data": "{}", "info": "subscription_count"});
    let (status, body) = ApiCall::new("POST", &events_path(), Some(with_info))
        .send(addr)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"channels": {"a": {"subscription_count": 1}, "b": {"subscription_count": 0}}})
    );

    let batch = json!({"batch": [event("a"), {"name": "f", "channel": "a", "data": "x"}]});
    let (status, body) = ApiCall::new("POST", &format!("/apps/{APP_ID}/batch_events"), Some(batch))
        .send(addr)
        .await;
    assert_eq!((status, body), (200, json!({})));
    client.expect_event("e").await;
    client.expect_event("e").await;
    client.expect_event("e").await;
    client.expect_event("f").await;
}

#[tokio::test]
async fn channel_queries() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let mut client = connect(addr).await;
    client.subscribe("news", None, None).await;
    let data = r#"{"user_id":"1"}"#;
    let auth = client.auth("presence-room", Some(data));
    client
        .subscribe("presence-room", Some(auth), Some(data))
        .await;

    let (status, body) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None)
        .send(addr)
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"channels": {"news": {}, "presence-room": {}}}))
    );

    let (_, body) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None)
        .param("filter_by_prefix", "presence-")
        .param("info", "user_count")
        .send(addr)
        .await;
    assert_eq!(
        body,
        json!({"channels": {"presence-room": {"user_count": 1}}})
    );

    let (status, body) = error_of(
        ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None).param("info", "user_count"),
        addr,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("only allowed with filter_by_prefix=presence-"));

    let (_, body) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/news"), None)
        .param("info", "subscription_count")
        .send(addr)
        .await;
    assert_eq!(body, json!({"occupied": true, "subscription_count": 1}));
    let (_, body) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/empty"), None)
        .send(addr)
        .await;
    assert_eq!(body, json!({"occupied": false, "subscription_count": 0}));
    let (_, body) = ApiCall::new(
        "GET",
        &format!("/apps/{APP_ID}/channels/presence-room"),
        None,
    )
    .param("info", "user_count")
    .send(addr)
    .await;
    assert_eq!(
        body,
        json!({"occupied": true, "subscription_count": 1, "user_count": 1})
    );

    let (status, _) = error_of(
        ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/news/users"), None),
        addr,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn signature_failures_say_what_is_wrong() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();

    let mut wrong_secret = ApiCall::new("POST", &events_path(), Some(event("a")));
    wrong_secret.secret = "not-the-secret".into();
    let (status, error) = error_of(wrong_secret, addr).await;
    assert_eq!(status, 401);
    assert!(
        error.contains("signature mismatch: check the secret for app 'app-id'"),
        "{error}"
    );
    assert!(!error.contains(SECRET));

    let mut stale = ApiCall::new("POST", &events_path(), Some(event("a")));
    stale.timestamp -= 1000;
    let (status, error) = error_of(stale, addr).await;
    assert_eq!(status, 401);
    assert!(error.contains("timestamp expired"), "{error}");

    let (status, error) = error_of(
        ApiCall::new("POST", "/apps/nope/events", Some(event("a"))),
        addr,
    )
    .await;
    assert_eq!(status, 404);
    assert!(error.contains("app 'nope' does not exist"));

    // Tampered body: signed body_md5 no longer matches.
    let (status, body) = raw_request(
        addr,
        "POST",
        &format!(
            "{}?auth_key={KEY}&auth_timestamp={}&auth_version=1.0&body_md5=00&auth_signature=00",
            events_path(),
            now()
        ),
        Some(event("a").to_string()),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("body_md5"));
}

#[tokio::test]
async fn limits_are_enforced() {
    let server = start(|c| c.server.max_request_body_bytes = 512 * 1024).await;
    let addr = server.local_addr();
    let big = json!({"name": "e", "channel": "a", "data": "x".repeat(100 * 1024 + 1)});
    let (status, error) = error_of(ApiCall::new("POST", &events_path(), Some(big)), addr).await;
    assert_eq!(status, 413);
    assert!(error
        .starts_with("The data content of this event exceeds the allowed maximum (102400 bytes)"));

    let huge = json!({"name": "e", "channel": "a", "data": "x".repeat(600 * 1024)});
    let (status, error) = error_of(ApiCall::new("POST", &events_path(), Some(huge)), addr).await;
    assert_eq!(status, 413);
    assert!(error.contains("server limit of 524288 bytes"));

    let channels: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    let many = json!({"name": "e", "channels": channels, "data": "x"});
    let (status, _) = error_of(ApiCall::new("POST", &events_path(), Some(many)), addr).await;
    assert_eq!(status, 400);

    let batch = json!({"batch": vec![event("a"); 11]});
    let (status, _) = error_of(
        ApiCall::new("POST", &format!("/apps/{APP_ID}/batch_events"), Some(batch)),
        addr,
    )
    .await;
    assert_eq!(status, 400);

    let (status, error) = error_of(
        ApiCall::new("POST", &events_path(), Some(json!({"nope": 1}))),
        addr,
    )
    .await;
    assert_eq!(status, 400);
    assert!(error.contains("expected name"));
}

#[tokio::test]
async fn disabled_apps_are_refused() {
    let server = start(|c| c.apps[0].enabled = false).await;
    let (status, _) = error_of(
        ApiCall::new("POST", &events_path(), Some(event("a"))),
        server.local_addr(),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn cors_is_off_by_default_and_configurable() {
    let allow = |headers: &hyper::HeaderMap| {
        headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let closed = start(|_| {}).await;
    let (status, headers) = preflight(closed.local_addr(), "https://app.test").await;
    assert_eq!(
        (status, allow(&headers)),
        (204, None),
        "no CORS without configuration"
    );

    let open = start(|c| c.server.cors_allowed_origins = vec!["https://app.test".into()]).await;
    let (_, headers) = preflight(open.local_addr(), "https://app.test").await;
    assert_eq!(allow(&headers).as_deref(), Some("https://app.test"));
    let (_, headers) = preflight(open.local_addr(), "https://evil.test").await;
    assert_eq!(
        allow(&headers),
        None,
        "only the configured origin is allowed"
    );
}

/// An `OPTIONS` preflight for the events endpoint from `origin`.
async fn preflight(addr: std::net::SocketAddr, origin: &str) -> (u16, hyper::HeaderMap) {
    use http_body_util::Full;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method("OPTIONS")
        .uri(events_path())
        .header("host", addr.to_string())
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    (response.status().as_u16(), response.headers().clone())
}
