//! Prometheus metrics: values after a scripted scenario (connect, subscribe, refused
//! subscription, publish, disconnect), the prefix, and the separate port.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use sockwave::server::Server;

use crate::support::*;

async fn start_with_metrics(prefix: &str) -> Server {
    let prefix = prefix.to_string();
    start(move |c| {
        c.server.metrics.enabled = true;
        c.server.metrics.host = "127.0.0.1".into();
        c.server.metrics.port = 0;
        c.server.metrics.prefix = prefix;
    })
    .await
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, text) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of the series `name{labels...}` (other labels ignored), if present.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let matches = labels.iter().all(|(key, expected)| {
                label_text
                    .split(',')
                    .any(|pair| pair == format!("{key}=\"{expected}\""))
            });
            if matches {
                number.parse().ok()
            } else {
                None
            }
        })
}

fn app_value(text: &str, name: &str) -> f64 {
    value(text, name, &[("app_id", APP_ID)]).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// The frame `Client::subscribe` sends, to know the received byte count.
fn subscribe_frame(channel: &str, auth: &str, channel_data: Option<&str>) -> String {
    let mut data = json!({"channel": channel, "auth": auth});
    if let Some(channel_data) = channel_data {
        data["channel_data"] = channel_data.into();
    }
    json!({"event": "pusher:subscribe", "data": data}).to_string()
}

async fn wait_for_no_sockets(server: &Server) {
    for _ in 0..200 {
        if server.context().registry.total_connections() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sockets still open after 2 s");
}

#[tokio::test]
async fn counters_and_gauges_follow_a_scripted_scenario() {
    let server = start_with_metrics("sockwave_").await;
    let addr = server.local_addr();
    let metrics_addr = server.metrics_addr().expect("metrics are on");

    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    a.subscribe("news", None, None).await;
    let member = r#"{"user_id":"u1","user_info":{"name":"One"}}"#;
    let auth = b.auth("presence-room", Some(member));
    let joined = b
        .subscribe("presence-room", Some(auth.clone()), Some(member))
        .await;
    assert_eq!(joined["event"], "pusher_internal:subscription_succeeded");
    let refused = a
        .subscribe("private-x", Some(format!("{KEY}:bad")), None)
        .await;
    assert_eq!(refused["event"], "pusher:subscription_error");
    let received_bytes = subscribe_frame("news", "", None).len()
        + subscribe_frame("presence-room", &auth, Some(member)).len()
        + subscribe_frame("private-x", &format!("{KEY}:bad"), None).len();

    let during = scrape(metrics_addr).await;
    assert_eq!(app_value(&during, "sockwave_connected"), 2.0);
    assert_eq!(app_value(&during, "sockwave_new_connections_total"), 2.0);
    assert_eq!(app_value(&during, "sockwave_channels"), 2.0);
    assert_eq!(app_value(&during, "sockwave_presence_members"), 1.0);
    assert_eq!(
        value(
            &during,
            "sockwave_subscription_failures_total",
            &[("app_id", APP_ID), ("reason", "auth")]
        ),
        Some(1.0)
    );
    assert_eq!(
        app_value(&during, "sockwave_ws_messages_received_total"),
        3.0
    );
    assert_eq!(
        app_value(&during, "sockwave_socket_received_bytes"),
        received_bytes as f64
    );
    // Two connection_established, two subscription_succeeded, one subscription_error.
    assert_eq!(app_value(&during, "sockwave_ws_messages_sent_total"), 5.0);
    let sent_bytes_before = app_value(&during, "sockwave_socket_transmitted_bytes");
    assert_eq!(
        app_value(&during, "sockwave_http_calls_received_total"),
        0.0
    );

    publish(addr, "news", "greeting", "hello", None).await;
    let event = a.expect_event("greeting").await;
    let body = json!({"name": "greeting", "channel": "news", "data": "hello"}).to_string();

    let published = scrape(metrics_addr).await;
    assert_eq!(
        app_value(&published, "sockwave_http_calls_received_total"),
        1.0
    );
    assert_eq!(
        app_value(&published, "sockwave_http_received_bytes"),
        body.len() as f64
    );
    assert_eq!(
        app_value(&published, "sockwave_http_transmitted_bytes"),
        2.0,
        "{{}}"
    );
    assert_eq!(
        app_value(&published, "sockwave_ws_messages_sent_total"),
        6.0
    );
    assert_eq!(event["data"], "hello");
    assert!(app_value(&published, "sockwave_socket_transmitted_bytes") > sent_bytes_before);
    assert_eq!(
        app_value(&published, "sockwave_publish_enqueue_seconds_count"),
        1.0
    );

    drop(a);
    drop(b);
    wait_for_no_sockets(&server).await;
    let after = scrape(metrics_addr).await;
    assert_eq!(app_value(&after, "sockwave_connected"), 0.0);
    assert_eq!(app_value(&after, "sockwave_channels"), 0.0);
    assert_eq!(app_value(&after, "sockwave_presence_members"), 0.0);
    assert_eq!(app_value(&after, "sockwave_new_connections_total"), 2.0);
    assert_eq!(app_value(&after, "sockwave_new_disconnections_total"), 2.0);
    assert_eq!(
        value(&after, "sockwave_adapter_engine_up", &[]),
        Some(1.0),
        "a node alone has no engine to lose"
    );
    assert_eq!(
        value(
            &after,
            "sockwave_webhook_events_total",
            &[("outcome", "accepted")]
        ),
        Some(0.0)
    );
    assert!(after.contains(&format!("port=\"{}\"", addr.port())));
}

#[tokio::test]
async fn rejections_are_counted_by_reason_and_unknown_apps_make_no_series() {
    let server = start_with_metrics("sockwave_").await;
    let addr = server.local_addr();
    let (status, _) = ApiCall::new("POST", &format!("/apps/{APP_ID}/events"), Some(json!({})))
        .send(addr)
        .await;
    assert_eq!(status, 400);
    let mut call = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None);
    call.secret = "wrong".into();
    assert_eq!(call.send(addr).await.0, 401);
    let (status, _) = ApiCall::new("GET", "/apps/nope/channels", None)
        .send(addr)
        .await;
    assert_eq!(status, 404);
    let text = scrape(server.metrics_addr().unwrap()).await;
    let rejected = |app: &str, reason: &str| {
        value(
            &text,
            "sockwave_http_rejections_total",
            &[("app_id", app), ("reason", reason)],
        )
    };
    assert_eq!(rejected(APP_ID, "bad_request"), Some(1.0));
    assert_eq!(rejected(APP_ID, "auth"), Some(1.0));
    assert_eq!(rejected("", "app_not_found"), Some(1.0));
    assert!(!text.contains("app_id=\"nope\""), "{text}");
}

#[tokio::test]
async fn soketi_prefix_and_separate_port() {
    let server = start_with_metrics("soketi_").await;
    let _client = connect(server.local_addr()).await;
    let text = scrape(server.metrics_addr().unwrap()).await;
    assert_eq!(
        value(&text, "soketi_connected", &[("app_id", APP_ID)]),
        Some(1.0)
    );
    assert!(text.contains("# TYPE soketi_new_connections_total counter"));
    assert!(
        text.contains("soketi_process_resident_memory_bytes"),
        "{text}"
    );
    assert!(!text.contains("sockwave_"));
    let (status, _) = http_get(server.local_addr(), "/metrics").await;
    assert_eq!(status, 404, "metrics are not served on the public port");
}

#[tokio::test]
async fn disabled_metrics_serve_nothing() {
    let server = start(|_| {}).await;
    assert!(server.metrics_addr().is_none());
    assert!(!server.context().metrics.is_enabled());
}
