//! The Prometheus endpoint: `GET /metrics` on its own listener (default `127.0.0.1:9601`),
//! apart from the public WebSocket/API port so it is never exposed through the same proxy.
//! Each scrape reads the registry's gauges and the webhook and cluster counters from the
//! context and hands them to `metrics` to render.
//!
//! `server.rs` binds the listener and starts this loop only when metrics are enabled.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::metrics::{AdapterReadings, AppReadings, HistoryReadings, Readings, WebhookReadings};

/// Serves scrapes until `stop` is cancelled. `http` carries the main port's limits (head
/// timeout, which also ends idle keep-alive connections, and head size), so an idle or
/// trickling client cannot hold this listener's connections either.
pub(crate) async fn run(
    listener: TcpListener,
    ctx: Arc<Context>,
    http: http1::Builder,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _peer)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let ctx = ctx.clone();
        let stop = stop.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(answer(&ctx, &request)) }
            });
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

fn answer(ctx: &Context, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => match ctx.metrics.render(&readings(ctx)) {
            Some(text) => (StatusCode::OK, "text/plain; version=0.0.4", text),
            None => (
                StatusCode::NOT_FOUND,
                "text/plain",
                "metrics are disabled".to_string(),
            ),
        },
        (&Method::GET, "/" | "/up") => (StatusCode::OK, "text/plain", "OK".to_string()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "this port serves GET /metrics".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What this scrape reports, read from the registry, the webhook sender and the cluster.
fn readings(ctx: &Context) -> Readings {
    let apps = ctx
        .registry
        .apps()
        .iter()
        .map(|app| AppReadings {
            app_id: app.app_id().clone(),
            connections: app.connection_count(),
            channels: app.channel_count(),
            presence_members: app.presence_member_count(),
        })
        .collect();
    let webhooks = ctx.webhooks.counters();
    let adapter = ctx.cluster.message_counts();
    Readings {
        apps,
        webhooks: WebhookReadings {
            accepted: webhooks.accepted,
            dropped: webhooks.dropped,
            delivered: webhooks.delivered,
            failed: webhooks.failed,
            retries: webhooks.retries,
        },
        adapter: AdapterReadings {
            sent: adapter.sent,
            received: adapter.received,
            dropped: adapter.dropped,
            undecodable: adapter.undecodable,
        },
        engine_up: ctx.cluster.engine_up(),
        history: ctx
            .history
            .stats
            .all()
            .into_iter()
            .map(|(app_id, stats)| {
                let r = stats.reading();
                HistoryReadings {
                    app_id,
                    appended: r.appended,
                    recovered: r.recovered,
                    gaps: r.gaps,
                    replayed: r.replayed,
                    channels: r.channels,
                    events: r.events,
                    bytes: r.bytes,
                }
            })
            .collect(),
    }
}
