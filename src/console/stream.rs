//! One console stream: the app's tap events as Server-Sent Events, a `stats` line every
//! second, and new webhook deliveries from the delivery log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::Body;
use crate::app::App;
use crate::context::Context;
use crate::tap::now_ms;

/// Chunks queued for the page before the stream counts them as not shown.
const STREAM_CAPACITY: usize = 256;

/// Starts streaming the app's events.
pub(super) fn open(ctx: Arc<Context>, app: Arc<App>) -> Response<Body> {
    let (sender, receiver) = mpsc::channel::<Bytes>(STREAM_CAPACITY);
    tokio::spawn(pump(ctx, app, sender));
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| {
            (
                Ok::<_, std::convert::Infallible>(Frame::data(chunk)),
                receiver,
            )
        })
    });
    let mut response = Response::new(StreamBody::new(chunks).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies must not buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn sse(json: &str) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

async fn pump(ctx: Arc<Context>, app: Arc<App>, sender: mpsc::Sender<Bytes>) {
    let mut tap = ctx.console_tap.subscribe();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut not_shown: u64 = 0;
    let mut last_messages = ctx.console_tap.messages(&app.id);
    let mut last_webhook_ms = now_ms();
    tracing::info!(app_id = %app.id, "console stream opened");
    loop {
        let chunk = tokio::select! {
            _ = ctx.close_sockets.cancelled() => break,
            _ = sender.closed() => break,
            event = tap.recv() => match event {
                Ok(event) if event.app_id == app.id => sse(&event.json),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    not_shown += n;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = ticker.tick() => {
                for delivery in new_webhook_deliveries(&ctx, &app, &mut last_webhook_ms) {
                    if sender.try_send(sse(&delivery)).is_err() {
                        not_shown += 1;
                    }
                }
                let messages = ctx.console_tap.messages(&app.id);
                let stats = json!({
                    "kind": "stats",
                    "time_ms": now_ms(),
                    "app_id": app.id,
                    "connections": ctx.registry.app(&app.id).connection_count()
                        + ctx.cluster.lock().remote_connections(&app.id),
                    "channels": ctx.cluster.lock().channel_count(&app.id),
                    "messages_per_second": messages.saturating_sub(last_messages),
                    "not_shown": not_shown,
                });
                last_messages = messages;
                sse(&stats.to_string())
            }
        };
        // The page reads slower than events come: drop and count rather than wait.
        if sender.try_send(chunk).is_err() {
            if sender.is_closed() {
                break;
            }
            not_shown += 1;
        }
    }
    tracing::info!(app_id = %app.id, "console stream closed");
}

/// Webhook deliveries logged since the last look, as `webhook` events (oldest first).
fn new_webhook_deliveries(ctx: &Context, app: &App, since_ms: &mut u64) -> Vec<String> {
    let report = ctx.webhooks.recent_deliveries(&app.id);
    let Some(deliveries) = report["deliveries"].as_array() else {
        return Vec::new();
    };
    let mut fresh: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["time_ms"].as_u64().is_some_and(|t| t > *since_ms))
        .collect();
    fresh.sort_by_key(|d| d["time_ms"].as_u64());
    if let Some(newest) = fresh.last().and_then(|d| d["time_ms"].as_u64()) {
        *since_ms = newest;
    }
    fresh
        .into_iter()
        .map(|d| {
            json!({
                "kind": "webhook", "time_ms": d["time_ms"], "app_id": app.id,
                "url": d["url"], "status": d["status"], "attempts": d["attempts"],
                "outcome": d["outcome"], "events": d["events"],
            })
            .to_string()
        })
        .collect()
}
