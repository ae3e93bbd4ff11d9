//! The composition root: builds every component from `Config`, binds the listener, serves
//! HTTP and WebSocket on one port, and shuts down gracefully.
//!
//! Shutdown runs in three steps: decide (stop admitting: `/ready` answers 503, upgrades are
//! refused), tell (every socket gets `pusher:error` 4200 and a 4200 close so clients reconnect
//! elsewhere), wait (for sockets, then for pending webhooks and in-flight HTTP requests, all
//! within the grace period). Webhooks drain after the sockets close because closing sockets
//! is what produces the last `channel_vacated` and `member_removed` events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapter::Cluster;
use crate::app::StaticAppStore;
use crate::config::Config;
use crate::context::Context;
use crate::webhooks::Webhooks;
use crate::{connection, http_api};

/// A running server.
pub struct Server {
    ctx: Arc<Context>,
    stop_cluster: CancellationToken,
    local_addr: SocketAddr,
    stop_accepting: CancellationToken,
    close_http: CancellationToken,
    http_connections: TaskTracker,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds the listener and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let apps = Arc::new(StaticAppStore::new(config.apps));
        let webhooks = Webhooks::spawn(config.server.webhooks.clone())
            .context("starting the webhook sender")?;
        let stop_cluster = CancellationToken::new();
        let (cluster, cluster_events) =
            Cluster::start(config.server.cluster.clone(), &stop_cluster)
                .map_err(|err| anyhow::anyhow!(err))
                .context("starting the cluster adapter")?;
        let ctx = Arc::new(Context::new(config.server, apps, webhooks, cluster));
        if let Some(events) = cluster_events {
            tokio::spawn(crate::adapter::node::run(
                ctx.clone(),
                events,
                stop_cluster.clone(),
            ));
        }
        let stop_accepting = CancellationToken::new();
        let close_http = CancellationToken::new();
        let http_connections = TaskTracker::new();
        tokio::spawn(sweep_caches(ctx.clone(), stop_accepting.clone()));
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            ctx.clone(),
            stop_accepting.clone(),
            close_http.clone(),
            http_connections.clone(),
        ));
        Ok(Server {
            ctx,
            stop_cluster,
            local_addr,
            stop_accepting,
            close_http,
            http_connections,
            accept_loop,
        })
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state, for tests and diagnostics.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Graceful shutdown; returns when everything closed or the grace period ran out.
    pub async fn shutdown(self) {
        let deadline = Instant::now() + self.ctx.config.shutdown_grace_period;
        // Decide: readiness fails, upgrades are refused.
        self.ctx.start_draining();
        // Tell: every socket closes with 4200.
        self.ctx.close_sockets.cancel();
        // Wait until every socket task has sent its close, while /ready still answers 503.
        self.ctx.socket_tasks.close();
        let _ = tokio::time::timeout_at(deadline, self.ctx.socket_tasks.wait()).await;
        // The sockets' departures went out as deltas; the goodbye lets the other nodes drop
        // anything left at once. Stopping the transport flushes what is queued.
        crate::adapter::node::say_goodbye(&self.ctx);
        self.stop_cluster.cancel();
        self.stop_accepting.cancel();
        let _ = self.accept_loop.await;
        self.close_http.cancel();
        self.http_connections.close();
        // Held leave events go out now instead of after their delay; both waits share the
        // grace period.
        let (webhooks_settled, _) = tokio::join!(
            self.ctx.webhooks.drain(deadline),
            tokio::time::timeout_at(deadline, self.http_connections.wait()),
        );
        if !webhooks_settled {
            let counters = self.ctx.webhooks.counters();
            tracing::warn!(?counters, "grace period over with webhooks still pending");
        }
        let left = self.ctx.registry.total_connections();
        if left > 0 {
            tracing::warn!(sockets = left, "grace period over with sockets still open");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Context>,
    stop_accepting: CancellationToken,
    close_http: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop_accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, _peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let close_http = close_http.clone();
        tracker.spawn(async move {
            let service = service_fn(move |request| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(dispatch(ctx, request).await) }
            });
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = close_http.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

/// Expired cache-channel events are dropped lazily on read; this sweep bounds the memory of
/// channels nobody reads again.
async fn sweep_caches(ctx: Arc<Context>, stop: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            now = every.tick() => ctx.registry.sweep_caches(now),
        }
    }
}

/// Sends `/app/{key}` to the WebSocket upgrade and everything else to the HTTP API.
async fn dispatch(
    ctx: Arc<Context>,
    request: Request<Incoming>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let full_path = request.uri().path().to_string();
    let prefix = ctx.config.path_prefix.as_str();
    // Accept paths with and without the prefix: proxies often strip it.
    let path = if prefix.is_empty() {
        full_path.as_str()
    } else {
        full_path
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(&full_path)
    };
    if let Some(app_key) = path.strip_prefix("/app/") {
        let app_key = app_key.to_string();
        return connection::upgrade(ctx, request, &app_key);
    }
    let path = path.to_string();
    http_api::handle(ctx, request, &path).await
}

/// Runs the server until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    if config.uses_default_credentials {
        tracing::warn!(
            "default app credentials are in use (app-id / app-key / app-secret): anyone can publish; set your own app id, key and secret before exposing this server"
        );
    }
    let n_apps = config.apps.len();
    let server = Server::start(config).await?;
    tracing::info!(addr = %server.local_addr(), apps = n_apps, "sockwave listening (WebSocket /app/{{key}}, HTTP API /apps/{{id}})");
    wait_for_signal().await?;
    tracing::info!("shutting down: closing sockets with 4200");
    server.shutdown().await;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
