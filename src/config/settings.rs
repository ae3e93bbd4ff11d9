//! The settings each part of the server runs with, defined here so that `config` never
//! depends on the parts it configures: the cluster adapter, the webhook sender, the metrics
//! listener and the console each read theirs from `ServerConfig`.

use std::time::Duration;

/// Which engine connects the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// One node, no services.
    Local,
    /// Redis pub/sub at this URL (`redis://[:password@]host:port[/db]`).
    Redis {
        /// Connection URL.
        url: String,
    },
    /// NATS servers (`nats://host:port`).
    Nats {
        /// Server URLs.
        servers: Vec<String>,
    },
}

/// Cluster settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The engine.
    pub driver: Driver,
    /// Prefix of the Redis channel / NATS subject, so deployments sharing an engine stay apart.
    pub prefix: String,
    /// How often a node announces itself.
    pub heartbeat_interval: Duration,
    /// Silence after which a node counts as dead and its members are removed.
    pub node_timeout: Duration,
    /// Whether `/ready` answers 503 while the engine is unreachable (off by default: the
    /// node still serves its own sockets, which is usually better than no node at all).
    pub ready_requires_engine: bool,
    /// Certificates for a `rediss://` Redis.
    pub redis_tls: RedisTls,
    /// Sentinels that name the Redis master (empty: `redis_url`'s host is the server).
    pub redis_sentinel: RedisSentinel,
    /// Redis Cluster startup nodes (`host:port`); empty when Redis is one server. The
    /// cluster's other nodes are found from these.
    pub redis_cluster_nodes: Vec<String>,
}

/// Redis Sentinel: the sentinels to ask for the current master of `master`. The master is
/// asked for again on every reconnect, so a failover is followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSentinel {
    /// `host:port` of each sentinel.
    pub nodes: Vec<String>,
    /// The monitored master's name (`sentinel monitor <name> ...`).
    pub master: String,
    /// The sentinels' own password (`requirepass` of the sentinels), if they have one.
    pub password: Option<String>,
}

impl Default for RedisSentinel {
    fn default() -> Self {
        RedisSentinel {
            nodes: Vec::new(),
            master: "mymaster".to_string(),
            password: None,
        }
    }
}

/// The files a `rediss://` connection uses beyond the URL: a CA for a private or managed
/// Redis whose certificate the public roots do not cover, and a client certificate for
/// Redis servers that require one (`tls-auth-clients yes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// PEM CA certificate(s) that sign the Redis server's certificate; `None` trusts the
    /// Mozilla roots.
    pub ca: Option<std::path::PathBuf>,
    /// PEM client certificate chain.
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key of the client certificate.
    pub key: Option<std::path::PathBuf>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            driver: Driver::Local,
            prefix: "sockwave".to_string(),
            heartbeat_interval: Duration::from_secs(2),
            node_timeout: Duration::from_secs(10),
            ready_requires_engine: false,
            redis_tls: RedisTls::default(),
            redis_sentinel: RedisSentinel::default(),
            redis_cluster_nodes: Vec::new(),
        }
    }
}

/// Server-wide webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// How long events for one target are collected before a request goes out.
    pub batch_window: Duration,
    /// Most events in one request.
    pub batch_max_events: usize,
    /// How long `channel_vacated` and `member_removed` are held; zero sends them at once.
    pub leave_delay: Duration,
    /// How long a failing request is retried, counted from when its oldest event happened.
    pub(crate) retry_budget: Duration,
    /// Timeout of one request attempt, connection included.
    pub request_timeout: Duration,
    /// Events the queue holds (and each target's backlog) before new ones are dropped.
    pub queue_capacity: usize,
    /// Recent requests kept per app for the delivery log.
    pub(crate) delivery_log_size: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            batch_window: Duration::from_millis(50),
            batch_max_events: 100,
            leave_delay: Duration::from_secs(3),
            retry_budget: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            queue_capacity: 10_000,
            delivery_log_size: 100,
        }
    }
}

/// Whether and where metrics are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Serve `/metrics` (off by default).
    pub enabled: bool,
    /// Address the metrics listener binds; loopback by default so metrics are not public.
    pub host: String,
    /// Port of the metrics listener (Soketi's 9601 by default); 0 picks a free port.
    pub port: u16,
    /// Prefix of every metric name (`soketi_` keeps Soketi dashboards working).
    pub prefix: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: false,
            host: "127.0.0.1".to_string(),
            port: 9601,
            prefix: "sockwave_".to_string(),
        }
    }
}

/// Console settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Whether `/console` is served at all.
    pub enabled: bool,
    /// Admin token giving access to every app; without it, only app secrets open the console.
    pub token: Option<String>,
}
