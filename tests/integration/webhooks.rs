//! Webhooks end to end, in process: events from real sockets reach a real HTTP receiver,
//! signed, batched per app, delayed on leave, retried, drained at shutdown, and visible in
//! the delivery log.

use std::time::Duration;

use serde_json::{json, Value};
use sockwave::app::App;
use sockwave::app::{ChannelFilter, EventType, WebhookTarget, WebhookUrl};
use sockwave::config::Config;
use sockwave_protocol::auth::signature::verify;

use crate::support::*;
use crate::webhook_receiver::{Receiver, Reply};

fn target(url: String, types: &[EventType]) -> WebhookTarget {
    WebhookTarget {
        url: WebhookUrl::new(url),
        event_types: types.to_vec(),
        filter: ChannelFilter::default(),
        headers: vec![("X-Custom".into(), "custom-value".into())],
    }
}

/// Short window and delay so tests stay fast.
fn fast(config: &mut Config, leave_delay_ms: u64) {
    config.server.webhooks.batch_window = Duration::from_millis(20);
    config.server.webhooks.leave_delay = Duration::from_millis(leave_delay_ms);
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["name"].as_str().unwrap(),
                e["channel"].as_str().unwrap()
            )
        })
        .collect()
}

fn count(events: &[Value], name: &str, channel: &str) -> usize {
    events
        .iter()
        .filter(|e| e["name"] == name && e["channel"] == channel)
        .count()
}

async fn deliveries(addr: std::net::SocketAddr) -> Value {
    let (status, body) = ApiCall::new("GET", &format!("/apps/{APP_ID}/webhooks/deliveries"), None)
        .send(addr)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the delivery log (bounded) until `done` holds.
async fn wait_for_log(
    addr: std::net::SocketAddr,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let log = deliveries(addr).await;
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {}", deliveries(addr).await);
}

#[tokio::test]
async fn every_event_type_arrives_signed_in_pushers_shape() {
    let receiver = Receiver::ok().await;
    let url = receiver.url("/hook");
    let server = start(|c| {
        fast(c, 200);
        c.apps[0].enable_client_messages = true;
        c.apps[0].enable_subscription_count = true;
        c.apps[0].webhooks = vec![target(url, &EventType::ALL)];
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let data = r#"{"user_id":"u1"}"#;
    a.subscribe(
        "presence-room",
        Some(a.auth("presence-room", Some(data))),
        Some(data),
    )
    .await;
    a.subscribe("cache-x", None, None).await;
    a.send(json!({"event": "client-typing", "channel": "presence-room", "data": {"a": 1}}))
        .await;
    let mut b = connect(addr).await;
    b.subscribe("cache-x", None, None).await;
    let events = receiver.wait_for_events(6).await;
    drop(a);
    drop(b);
    receiver
        .wait_until("the leave events", |requests| {
            let events: Vec<Value> = requests.iter().flat_map(|r| r.events()).collect();
            count(&events, "channel_vacated", "cache-x") == 1
                && count(&events, "member_removed", "presence-room") == 1
                && count(&events, "channel_vacated", "presence-room") == 1
        })
        .await;
    let all = receiver.delivered_events();
    assert!(events.len() <= all.len());
    assert_eq!(
        count(&all, "channel_occupied", "presence-room"),
        1,
        "{:?}",
        names(&all)
    );
    assert_eq!(count(&all, "channel_occupied", "cache-x"), 1);
    assert_eq!(
        count(&all, "cache_miss", "cache-x"),
        1,
        "de-duplicated for b"
    );
    assert!(
        all.contains(&json!({"name": "member_added", "channel": "presence-room", "user_id": "u1"}))
    );
    assert!(all
        .contains(&json!({"name": "member_removed", "channel": "presence-room", "user_id": "u1"})));
    assert!(all.contains(
        &json!({"name": "subscription_count", "channel": "cache-x", "subscription_count": 2})
    ));
    assert_eq!(
        count(&all, "subscription_count", "presence-room"),
        0,
        "never for presence"
    );
    let client_event = all.iter().find(|e| e["name"] == "client_event").unwrap();
    assert_eq!(client_event["event"], "client-typing");
    assert_eq!(client_event["data"], r#"{"a":1}"#);
    assert_eq!(client_event["user_id"], "u1");
    assert!(client_event["socket_id"].as_str().unwrap().contains('.'));
    for request in receiver.requests() {
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(request.header("x-pusher-key"), KEY);
        assert_eq!(request.header("x-custom"), "custom-value");
        assert!(verify(
            SECRET,
            &request.body,
            request.header("x-pusher-signature")
        ));
        assert!(request.json["time_ms"].as_u64().unwrap() > 1_600_000_000_000);
    }
}

#[tokio::test]
async fn a_reload_within_the_delay_sends_nothing_and_a_real_leave_sends_the_vacate() {
    let receiver = Receiver::ok().await;
    let url = receiver.url("/hook");
    let server = start(|c| {
        fast(c, 400);
        c.apps[0].webhooks = vec![target(url, &EventType::ALL)];
    })
    .await;
    let mut a = connect(server.local_addr()).await;
    a.subscribe("news", None, None).await;
    receiver.wait_for_events(1).await;
    // A reload: leave and come back well within the 400 ms delay.
    a.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "news"}}))
        .await;
    a.subscribe("news", None, None).await;
    // Then leave for good; its vacate is due 400 ms later, after the reload's would have been.
    let left = std::time::Instant::now();
    a.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "news"}}))
        .await;
    let events = receiver.wait_for_events(2).await;
    // Had the reload produced a pair, it would be here by now: it happened first.
    assert_eq!(
        names(&events),
        ["channel_occupied news", "channel_vacated news"]
    );
    let vacate = receiver.requests().last().unwrap().at;
    assert!(
        vacate >= left + Duration::from_millis(400),
        "held for the delay"
    );
    // subscription_count stays off: the app does not enable counting.
}

#[tokio::test]
async fn a_channel_filter_limits_what_is_sent() {
    let receiver = Receiver::ok().await;
    let mut filtered = target(receiver.url("/beta"), &[EventType::ChannelOccupied]);
    filtered.filter = ChannelFilter {
        starts_with: Some("beta-".into()),
        ends_with: Some("-app".into()),
    };
    let server = start(|c| {
        fast(c, 0);
        c.apps[0].webhooks = vec![filtered];
    })
    .await;
    let mut a = connect(server.local_addr()).await;
    for channel in [
        "chat-room",
        "beta-chat-room",
        "chat-room-app",
        "beta-chat-room-app",
    ] {
        a.subscribe(channel, None, None).await;
    }
    let events = receiver.wait_for_events(1).await;
    assert_eq!(names(&events), ["channel_occupied beta-chat-room-app"]);
}

#[tokio::test]
async fn failures_are_retried_until_every_event_arrives_once() {
    let receiver = Receiver::start(|n| Reply::Status(if n < 2 { 503 } else { 200 })).await;
    let url = receiver.url("/hook");
    let server = start(|c| {
        fast(c, 0);
        c.apps[0].webhooks = vec![target(url, &[EventType::ChannelOccupied])];
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    a.subscribe("news", None, None).await;
    let events = receiver.wait_for_events(1).await;
    assert_eq!(names(&events), ["channel_occupied news"]);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests.iter().all(|r| r.body == requests[0].body),
        "retries resend the same body"
    );
    let log = wait_for_log(addr, "a delivered record", |log| {
        log["deliveries"][0]["outcome"] == "delivered"
    })
    .await;
    let record = &log["deliveries"][0];
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["status"], 200);
    assert_eq!(record["events"], json!(["channel_occupied"]));
    assert_eq!(log["counters"]["retries"], 2);
    assert_eq!(log["counters"]["delivered"], 1);
    assert_eq!(
        log["targets"][0]["event_types"],
        json!(["channel_occupied"])
    );
    assert!(
        log["targets"][0].get("headers").is_none(),
        "headers may hold credentials"
    );
}

#[tokio::test]
async fn a_4xx_is_a_permanent_failure_logged_once() {
    let receiver = Receiver::start(|_| Reply::Status(404)).await;
    let url = receiver.url("/gone");
    let server = start(|c| {
        fast(c, 0);
        c.apps[0].webhooks = vec![target(url, &[EventType::ChannelOccupied])];
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    a.subscribe("news", None, None).await;
    let log = wait_for_log(addr, "a failed record", |log| {
        log["deliveries"][0]["outcome"] == "failed"
    })
    .await;
    let record = &log["deliveries"][0];
    assert_eq!(
        (record["status"].clone(), record["attempts"].clone()),
        (json!(404), json!(1))
    );
    assert_eq!(record["error"], "receiver answered 404");
    assert_eq!(log["counters"]["failed"], 1);
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(server.context().webhooks.counters().failed, 1);
}

#[tokio::test]
async fn a_full_backlog_drops_and_counts_instead_of_growing() {
    let receiver = Receiver::start(|_| Reply::Hang).await;
    let url = receiver.url("/slow");
    let server = start(|c| {
        fast(c, 0);
        c.server.webhooks.queue_capacity = 2;
        c.server.webhooks.batch_max_events = 1;
        c.server.webhooks.request_timeout = Duration::from_secs(60);
        c.apps[0].webhooks = vec![target(url, &[EventType::ChannelOccupied])];
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    // One request hangs in flight, two events wait behind it, the rest must be dropped.
    a.subscribe("c0", None, None).await;
    receiver
        .wait_until("the first request", |r| r.len() == 1)
        .await;
    for n in 1..6 {
        a.subscribe(&format!("c{n}"), None, None).await;
    }
    let log = wait_for_log(addr, "three drops", |log| log["counters"]["dropped"] == 3).await;
    let dropped = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outcome"] == "dropped")
        .unwrap();
    assert_eq!(
        dropped["events"],
        json!(["channel_occupied", "channel_occupied", "channel_occupied"])
    );
    assert_eq!(dropped["status"], Value::Null);
    assert_eq!(server.context().webhooks.counters().dropped, 3);
    // Sockets are unaffected: publishing still reaches the subscriber at once.
    publish(addr, "c5", "ping", "{}", None).await;
    assert_eq!(a.expect_event("ping").await["channel"], "c5");
}

#[tokio::test]
async fn apps_are_never_batched_together() {
    let receiver = Receiver::ok().await;
    let url = receiver.url("/hook");
    let server = start(|c| {
        fast(c, 0);
        c.server.webhooks.batch_window = Duration::from_millis(300);
        c.apps[0].webhooks = vec![target(url.clone(), &[EventType::ChannelOccupied])];
        let mut other = App::default_dev();
        other.id = "other-id".into();
        other.key = "other-key".into();
        other.secret = "other-secret".into();
        other.webhooks = vec![target(url, &[EventType::ChannelOccupied])];
        c.apps.push(other);
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let ws = connect_raw(addr, "/app/other-key?protocol=7&client=js&version=8.4.0").await;
    let mut b = Client::from_stream(ws);
    b.expect_event("pusher:connection_established").await;
    for n in 0..3 {
        a.subscribe(&format!("a-{n}"), None, None).await;
        b.subscribe(&format!("b-{n}"), None, None).await;
    }
    receiver.wait_for_events(6).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one batch per app: {requests:#?}");
    for request in &requests {
        let (key, secret, prefix) = match request.header("x-pusher-key") {
            "app-key" => (KEY, SECRET, "a-"),
            _ => ("other-key", "other-secret", "b-"),
        };
        assert_eq!(request.header("x-pusher-key"), key);
        assert!(verify(
            secret,
            &request.body,
            request.header("x-pusher-signature")
        ));
        let events = request.events();
        assert_eq!(events.len(), 3);
        assert!(events
            .iter()
            .all(|e| e["channel"].as_str().unwrap().starts_with(prefix)));
    }
}

#[tokio::test]
async fn shutdown_sends_held_leaves_at_once() {
    let receiver = Receiver::ok().await;
    let url = receiver.url("/hook");
    let server = start(|c| {
        fast(c, 60_000);
        c.server.shutdown_grace_period = Duration::from_secs(2);
        c.apps[0].webhooks = vec![target(url, &[EventType::ChannelVacated])];
    })
    .await;
    let mut a = connect(server.local_addr()).await;
    a.subscribe("news", None, None).await;
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(a.expect_close().await, 4200);
    tokio::time::timeout(Duration::from_secs(3), shutdown)
        .await
        .expect("shutdown within the grace period")
        .unwrap();
    // The vacate was held for 60 s; shutdown flushed it before returning.
    assert_eq!(
        names(&receiver.delivered_events()),
        ["channel_vacated news"]
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_delivery_log_is_signed_like_the_api() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let path = format!("/apps/{APP_ID}/webhooks/deliveries");
    let (status, _) = raw_request(addr, "GET", &path, None).await;
    assert_eq!(status, 401);
    let mut wrong = ApiCall::new("GET", &path, None);
    wrong.secret = "not-the-secret".into();
    assert_eq!(wrong.send(addr).await.0, 401);
    let log = deliveries(addr).await;
    assert_eq!(log["deliveries"], json!([]));
    assert_eq!(log["targets"], json!([]));
    assert_eq!(log["counters"]["accepted"], 0);
}
