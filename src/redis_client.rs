//! One way to reach Redis, for everything that talks to it (the cluster adapter, the shared
//! rate limits): the URL (`redis://`, or `rediss://` for TLS, with a Redis 6 ACL user and
//! password), for TLS an optional CA and client certificate read from files, and optionally
//! Redis Sentinel, asked for the current master on every (re)connect, or a Redis Cluster.
//!
//! A Redis Cluster forwards every classic `PUBLISH` to all its nodes, so pub/sub needs one
//! connection to any node: the startup nodes are tried in turn, the next one after each
//! failure. Commands on keys (the shared rate limits) go through a cluster client that routes
//! each key to the node owning its slot and follows resharding and failover.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{ClientTlsConfig, IntoConnectionInfo, TlsCertificates, TlsMode};

/// Sentinels that name the master: their `host:port`s, the master's name, their password.
pub struct Sentinels<'a> {
    /// `host:port` of each sentinel.
    pub nodes: &'a [String],
    /// The monitored master's name.
    pub master: &'a str,
    /// The sentinels' own password.
    pub password: Option<&'a str>,
}

/// Where a Redis connection goes.
pub enum Source {
    /// The server in the URL.
    Direct(redis::Client),
    /// Whatever master the sentinels name at connect time.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    /// A Redis Cluster.
    Cluster(ClusterNodes),
}

/// A Redis Cluster's startup nodes, each a client with the URL's credentials and TLS.
pub struct ClusterNodes {
    nodes: Vec<redis::Client>,
    /// The node the next pub/sub connection goes to.
    next: AtomicUsize,
    routed: redis::cluster::ClusterClient,
}

impl ClusterNodes {
    /// A client that routes keyed commands to their slot's node.
    pub fn routed(&self) -> redis::cluster::ClusterClient {
        self.routed.clone()
    }
}

impl Source {
    /// The source for `url`. `ca` replaces the Mozilla roots for a `rediss://` server;
    /// `client` is a certificate chain and key for servers that require one. The files are
    /// read now, so a missing one stops the server at startup, naming it.
    pub fn open(
        url: &str,
        ca: Option<&Path>,
        client: Option<(&Path, &Path)>,
        sentinels: Option<Sentinels<'_>>,
    ) -> Result<Source, String> {
        if let Some(sentinels) = sentinels {
            return sentinel(url, sentinels).map(|client| Source::Sentinel(client.into()));
        }
        let certificates = certificates(ca, client)?;
        match certificates {
            None => redis::Client::open(url),
            Some(certificates) => redis::Client::build_with_tls(url, certificates),
        }
        .map(Source::Direct)
        .map_err(|err| err.to_string())
    }

    /// A Redis Cluster reached through `nodes` (`host:port`) with the credentials, TLS and
    /// certificates of `url`, whose own host is not used.
    pub fn cluster(
        url: &str,
        nodes: &[String],
        ca: Option<&Path>,
        client: Option<(&Path, &Path)>,
    ) -> Result<Source, String> {
        let info = url.into_connection_info().map_err(|err| err.to_string())?;
        let tls = matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. });
        let infos = nodes
            .iter()
            .map(|node| {
                let (host, port) = node
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host.to_string(), port.parse().ok()?)))
                    .ok_or_else(|| format!("'{node}' is not host:port"))?;
                let addr = match tls {
                    true => redis::ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure: false,
                        tls_params: None,
                    },
                    false => redis::ConnectionAddr::Tcp(host, port),
                };
                Ok(info.clone().set_addr(addr))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let certificates = certificates(ca, client)?;
        let node_clients = infos
            .iter()
            .map(|info| match &certificates {
                None => redis::Client::open(info.clone()),
                Some(certificates) => {
                    redis::Client::build_with_tls(info.clone(), copy(certificates))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| err.to_string())?;
        let mut routed = redis::cluster::ClusterClientBuilder::new(infos);
        if let Some(certificates) = certificates {
            routed = routed.certs(certificates);
        }
        Ok(Source::Cluster(ClusterNodes {
            nodes: node_clients,
            next: AtomicUsize::new(0),
            routed: routed.build().map_err(|err| err.to_string())?,
        }))
    }

    /// A client for the server to use now: the URL's, or the master the sentinels name.
    pub async fn client(&self) -> redis::RedisResult<redis::Client> {
        match self {
            Source::Direct(client) => Ok(client.clone()),
            Source::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await,
            // Each call moves on to the next node, so a reconnect after a failure tries
            // another one.
            Source::Cluster(cluster) => {
                let turn = cluster.next.fetch_add(1, Ordering::Relaxed);
                Ok(cluster.nodes[turn % cluster.nodes.len()].clone())
            }
        }
    }
}

/// The CA and client certificate files, read now; `None` when neither is set.
fn certificates(
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<Option<TlsCertificates>, String> {
    if ca.is_none() && client.is_none() {
        return Ok(None);
    }
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    };
    let root_cert = ca.map(read).transpose()?;
    let client_tls = match client {
        Some((cert, key)) => Some(ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        None => None,
    };
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// `TlsCertificates` is not `Clone`.
fn copy(certificates: &TlsCertificates) -> TlsCertificates {
    TlsCertificates {
        client_tls: certificates
            .client_tls
            .as_ref()
            .map(|client| ClientTlsConfig {
                client_cert: client.client_cert.clone(),
                client_key: client.client_key.clone(),
            }),
        root_cert: certificates.root_cert.clone(),
    }
}

/// The URL's user, password, database and TLS apply to the master; the sentinels are
/// reached the same way (plain or TLS) with their own password.
fn sentinel(url: &str, sentinels: Sentinels<'_>) -> Result<SentinelClient, String> {
    let info = url.into_connection_info().map_err(|err| err.to_string())?;
    let tls = url.starts_with("rediss://");
    let scheme = if tls { "rediss" } else { "redis" };
    let auth = sentinels
        .password
        .map(|password| {
            format!(
                ":{}@",
                percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .unwrap_or_default();
    let nodes: Vec<String> = sentinels
        .nodes
        .iter()
        .map(|node| format!("{scheme}://{auth}{node}"))
        .collect();
    let mut master = SentinelNodeConnectionInfo::default()
        .set_redis_connection_info(info.redis_settings().clone());
    if tls {
        master = master.set_tls_mode(TlsMode::Secure);
    }
    SentinelClient::build(
        nodes,
        sentinels.master,
        Some(master),
        SentinelServerType::Master,
    )
    .map_err(|err| err.to_string())
}

/// The source for a cluster's `redis_url`, with its TLS files and its sentinels or Redis
/// Cluster nodes.
pub fn open_for(url: &str, settings: &crate::config::ClusterSettings) -> Result<Source, String> {
    let tls = &settings.redis_tls;
    let client_cert = tls.cert.as_deref().zip(tls.key.as_deref());
    if !settings.redis_cluster_nodes.is_empty() {
        return Source::cluster(
            url,
            &settings.redis_cluster_nodes,
            tls.ca.as_deref(),
            client_cert,
        );
    }
    let sentinel = &settings.redis_sentinel;
    let sentinels = (!sentinel.nodes.is_empty()).then(|| Sentinels {
        nodes: &sentinel.nodes,
        master: &sentinel.master,
        password: sentinel.password.as_deref(),
    });
    Source::open(url, tls.ca.as_deref(), client_cert, sentinels)
}
