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
use crate::app::{AppStore, StaticAppStore};
use crate::config::AppManager;
use crate::config::Config;
use crate::context::Context;
use crate::sql_apps::{Change, SqlAppStore};
use crate::webhooks::Webhooks;
use crate::{connection, console, http_api};

/// A running server.
pub struct Server {
    ctx: Arc<Context>,
    stop_cluster: CancellationToken,
    local_addr: SocketAddr,
    stop_accepting: CancellationToken,
    close_http: CancellationToken,
    http_connections: TaskTracker,
    accept_loop: tokio::task::JoinHandle<()>,
    metrics_addr: Option<SocketAddr>,
}

impl Server {
    /// Binds the listener and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener = listen(&addr).with_context(|| format!("cannot listen on {addr}"))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let sql_apps = match config.server.app_manager {
            AppManager::Static => None,
            _ => Some(Arc::new(
                SqlAppStore::new(&config).context("setting up the apps database")?,
            )),
        };
        let apps: Arc<dyn AppStore> = match &sql_apps {
            Some(store) => store.clone(),
            None => Arc::new(StaticAppStore::new(config.apps)),
        };
        let webhooks = Webhooks::spawn(config.server.webhooks.clone())
            .context("starting the webhook sender")?;
        let stop_cluster = CancellationToken::new();
        let (cluster, cluster_events) =
            Cluster::start(config.server.cluster.clone(), &stop_cluster)
                .map_err(|err| anyhow::anyhow!(err))
                .context("starting the cluster adapter")?;
        let mut context = Context::new(config.server, apps, webhooks, cluster);
        let operations = Operations::build(&context.config, local_addr.port())?;
        context.metrics = operations.metrics;
        context.rate_limits = operations.rate_limits;
        context.tls = operations.tls;
        if let Some(history) = operations.history {
            context.history = history;
        }
        let ctx = Arc::new(context);
        if let Some(events) = cluster_events {
            tokio::spawn(crate::peers::run(ctx.clone(), events, stop_cluster.clone()));
        }
        let stop_accepting = CancellationToken::new();
        let close_http = CancellationToken::new();
        let http_connections = TaskTracker::new();
        tokio::spawn(sweep_caches(ctx.clone(), stop_accepting.clone()));
        if let Some(store) = sql_apps {
            tokio::spawn(refresh_sql_apps(ctx.clone(), store, stop_accepting.clone()));
        }
        tokio::spawn(connection::watchdog::run(
            ctx.clone(),
            stop_accepting.clone(),
        ));
        let metrics_addr = spawn_metrics(&ctx, stop_accepting.clone()).await?;
        if let Some(tls) = &ctx.tls {
            tokio::spawn(crate::tls::watch(tls.clone(), stop_accepting.clone()));
        }
        if let Some(after) = ctx.config.idle_app_warning {
            tokio::spawn(watch_idle_apps(ctx.clone(), after, stop_accepting.clone()));
        }
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
            metrics_addr,
        })
    }

    /// Where `/metrics` is served, when metrics are enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
        // Tell: every socket closes with 4200 (a socket registering after this walk sees
        // the cancelled token).
        self.ctx.close_sockets.cancel();
        for registry in self.ctx.registry.apps() {
            registry.for_each_socket(|socket| {
                socket.request_close(crate::outbox::CloseRequest::Shutdown);
            });
        }
        // Wait until every socket task has sent its close, while /ready still answers 503.
        self.ctx.socket_tasks.close();
        let _ = tokio::time::timeout_at(deadline, self.ctx.socket_tasks.wait()).await;
        // The sockets' departures went out as deltas; the goodbye lets the other nodes drop
        // anything left at once. Stopping the transport flushes what is queued.
        crate::peers::say_goodbye(&self.ctx);
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
            let c = self.ctx.webhooks.counters();
            tracing::warn!(
                accepted = c.accepted,
                delivered = c.delivered,
                failed = c.failed,
                dropped = c.dropped,
                retries = c.retries,
                "grace period over with webhooks still pending"
            );
        }
        let left = self.ctx.registry.total_connections();
        if left > 0 {
            tracing::warn!(sockets = left, "grace period over with sockets still open");
        }
    }
}

/// Re-reads the apps in use from their database every TTL; the sockets of an app that was
/// disabled or removed are closed with 4003.
async fn refresh_sql_apps(ctx: Arc<Context>, store: Arc<SqlAppStore>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(store.ttl());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for change in store.refresh().await {
            let (what, id) = match &change {
                Change::Disabled(id) => ("disabled", id),
                Change::Removed(id) => ("removed", id),
            };
            let Some(registry) = ctx
                .registry
                .apps()
                .into_iter()
                .find(|registry| registry.app_id().as_str() == id.as_str())
            else {
                continue;
            };
            let mut closed = 0;
            registry.for_each_socket(|socket| {
                socket.request_close(crate::outbox::CloseRequest::AppDisabled);
                closed += 1;
            });
            tracing::warn!(app_id = %id, sockets = closed, change = %what, "app no longer enabled in the apps table: its sockets are closed with 4003");
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
    let http = http_builder(&ctx.config);
    let sessions = Arc::new(connection::xhr::Sessions::default());
    loop {
        let accepted = tokio::select! {
            _ = stop_accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
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
        let http = http.clone();
        let sessions = sessions.clone();
        tracker.spawn(async move {
            // TLS handshake on the TLS port, and a precise hint when a client speaks the wrong
            // protocol for the port.
            // Bounded by the handshake timeout too, so a client that connects and stays silent
            // is dropped as soon as the configured limit says, TLS or not.
            let prepare = crate::tls::accept::prepare(ctx.tls.as_deref(), stream, peer);
            let Ok(Some(stream)) =
                tokio::time::timeout(ctx.config.handshake_timeout, prepare).await
            else {
                return;
            };
            let service = service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(crate::http::Peer(peer));
                let ctx = ctx.clone();
                let sessions = sessions.clone();
                async move { Ok::<_, Infallible>(dispatch(ctx, sessions, request).await) }
            });
            let connection = http
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

/// HTTP/1.1 settings for every accepted connection. The header read timeout runs from the
/// moment hyper waits for a request head, so it also drops a client that connects and says
/// nothing, one that trickles headers forever, and a keep-alive connection idle between
/// requests. The head size limit answers 431; the read buffer is capped at the same size
/// (hyper's floor is 8 KiB) so an endless header line cannot grow it.
fn http_builder(config: &crate::config::ServerConfig) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(config.handshake_timeout)
        .max_header_size(config.max_header_bytes)
        .max_buf_size(config.max_header_bytes.max(8 * 1024));
    builder
}

/// Backlog of connections the kernel completes before `accept`. tokio's default (128)
/// overflows during a reconnect storm and makes the overflowing clients wait for the 1 s SYN
/// retransmit; the kernel caps the value at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(addr)?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "address resolves to nothing",
            )
        })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // Like std's listener: restart on a port left in TIME_WAIT by a previous run.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Expired cache-channel events and in-memory history are dropped lazily on use; this sweep
/// bounds the memory of channels nobody uses again.
async fn sweep_caches(ctx: Arc<Context>, stop: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            now = every.tick() => {
                ctx.registry.sweep_caches(now);
                if let crate::history::Store::Memory(store) = &ctx.history.store {
                    store.sweep(now, &ctx.history.stats);
                }
            }
        }
    }
}

/// Warns about apps with connected clients and no publishes (see `hints`).
async fn watch_idle_apps(ctx: Arc<Context>, after: std::time::Duration, stop: CancellationToken) {
    let started = Instant::now();
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30).min(after));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            now = every.tick() => {
                let sources = (&ctx.registry, &ctx.cluster, &ctx.console_tap);
                ctx.hints.check_idle(sources, started, after, now);
            }
        }
    }
}

/// Sends `/app/{key}` to the WebSocket upgrade, pusher-js's HTTP transport URLs
/// (`[/pusher]/app/{key}/{server}/{session}/xhr…`) to their sessions, and everything else to
/// the HTTP API.
async fn dispatch(
    ctx: Arc<Context>,
    sessions: Arc<connection::xhr::Sessions>,
    request: Request<Incoming>,
) -> hyper::Response<console::Body> {
    use http_body_util::BodyExt;
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
    if connection::xhr::path::looks_like_transport(path) {
        return connection::xhr::route(ctx, sessions, request, path).await;
    }
    if let Some(app_key) = path.strip_prefix("/app/") {
        let app_key = app_key.to_string();
        return connection::upgrade(ctx, request, &app_key).map(|body| body.boxed());
    }
    let path = path.to_string();
    if path == "/console" || path.starts_with("/console/") {
        return console::handle(ctx, request, &path).await;
    }
    http_api::handle(ctx, request, &path)
        .await
        .map(|body| body.boxed())
}

/// Runs the server until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    if config.uses_default_credentials {
        tracing::warn!(
            "default app credentials are in use (app-id / app-key / app-secret): anyone can publish; set your own app id, key and secret before exposing this server"
        );
    }
    let n_apps = config.apps.len();
    let apps_from = match config.server.app_manager {
        AppManager::Static => None,
        manager => Some(format!(
            "{} table {} at {}",
            if manager == AppManager::Mysql {
                "MySQL"
            } else {
                "PostgreSQL"
            },
            config.server.app_manager_table,
            crate::config::masked_url(&config.server.app_manager_url),
        )),
    };
    // The number of configured apps; a SQL app manager's apps are counted nowhere up front.
    let static_apps = apps_from.is_none().then_some(n_apps);
    let server = Server::start(config).await?;
    if let Some(from) = apps_from {
        let ttl_secs = server.context().config.app_manager_cache_ttl.as_secs_f64();
        tracing::info!(ttl_secs, "apps are read from the {from}");
    }
    tracing::info!(addr = %server.local_addr(), apps = static_apps, "sockwave listening (WebSocket /app/{{key}}, HTTP API /apps/{{id}})");
    match &server.context().tls {
        Some(tls) => tracing::info!("TLS on, {}", tls.summary()),
        None => tracing::info!("TLS off: serving plain ws/http (terminate TLS at a proxy, or set tls_cert and tls_key)"),
    }
    match server.metrics_addr() {
        Some(addr) => tracing::info!(%addr, "metrics on: GET http://{addr}/metrics"),
        None => tracing::info!("metrics off (set metrics_enabled to serve /metrics)"),
    }
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

/// The operational components `server.rs` picks from the configuration.
struct Operations {
    /// History in Redis when the cluster runs on Redis (else the context's in-memory one).
    history: Option<crate::history::History>,
    metrics: crate::metrics::Metrics,
    rate_limits: crate::rate_limit::RateLimits,
    tls: Option<Arc<crate::tls::Tls>>,
}

impl Operations {
    fn build(config: &crate::config::ServerConfig, port: u16) -> anyhow::Result<Operations> {
        use crate::rate_limit::{IpLimits, LocalLimiter, RateLimiter, RateLimits, RedisLimiter};
        let metrics = if config.metrics.enabled {
            crate::metrics::Metrics::new(&config.metrics.prefix, port)
                .context("setting up metrics")?
        } else {
            crate::metrics::Metrics::disabled()
        };
        // Limits are shared when the nodes already share a Redis; otherwise each node counts
        // its own requests.
        let api: Arc<dyn RateLimiter> = match &config.cluster.driver {
            crate::config::Driver::Redis { url } => {
                let source = crate::redis_client::open_for(url, &config.cluster)
                    .map_err(|err| anyhow::anyhow!(err))
                    .context("setting up Redis rate limits")?;
                match source {
                    crate::redis_client::Source::Direct(client) => Arc::new(
                        RedisLimiter::new(client, &config.cluster.prefix)
                            .context("setting up Redis rate limits")?,
                    ),
                    crate::redis_client::Source::Cluster(nodes) => Arc::new(RedisLimiter::cluster(
                        nodes.routed(),
                        &config.cluster.prefix,
                    )),
                    // A connection manager stays on one server and cannot follow a failover,
                    // so with Sentinel each node counts its own requests.
                    crate::redis_client::Source::Sentinel(_) => {
                        tracing::info!(
                            "HTTP API rate limits are counted per node with Redis Sentinel"
                        );
                        Arc::new(LocalLimiter::new())
                    }
                }
            }
            _ => Arc::new(LocalLimiter::new()),
        };
        let rate_limits = RateLimits {
            api,
            ip: IpLimits::new(
                config.ws_connections_per_ip,
                config.ws_new_connections_per_ip_per_second,
            ),
            console_failures: crate::rate_limit::FailureThrottle::default(),
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = crate::tls::Tls::load(cert, key).map_err(|err| {
                    anyhow::anyhow!("{}", crate::tls::error_chain(&err))
                        .context("loading the TLS certificate")
                })?;
                Some(Arc::new(tls))
            }
            _ => None,
        };
        // History lives where the nodes meet, so a client recovers on any node.
        let history = match &config.cluster.driver {
            crate::config::Driver::Redis { url } => {
                let source = crate::redis_client::open_for(url, &config.cluster)
                    .map_err(|err| anyhow::anyhow!(err))
                    .context("setting up channel history in Redis")?;
                let prefix = &config.cluster.prefix;
                let bus = crate::adapter::redis::channel_name(prefix);
                Some(crate::history::History::redis(
                    crate::history::RedisStore::new(source, prefix, bus),
                ))
            }
            _ => None,
        };
        Ok(Operations {
            history,
            metrics,
            rate_limits,
            tls,
        })
    }
}

/// Binds the metrics listener and serves it, when metrics are enabled.
async fn spawn_metrics(
    ctx: &Arc<Context>,
    stop: CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    if !ctx.metrics.is_enabled() {
        return Ok(None);
    }
    let settings = &ctx.config.metrics;
    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("reading the metrics address")?;
    let http = http_builder(&ctx.config);
    tokio::spawn(crate::exporter::run(listener, ctx.clone(), http, stop));
    Ok(Some(bound))
}
