//! One way to reach Redis, for everything that talks to it (the cluster adapter, the shared
//! rate limits): the URL (`redis://`, or `rediss://` for TLS, with a Redis 6 ACL user and
//! password), for TLS an optional CA and client certificate read from files, and optionally
//! Redis Sentinel, asked for the current master on every (re)connect.

use std::path::Path;

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
        if ca.is_none() && client.is_none() {
            return redis::Client::open(url)
                .map(Source::Direct)
                .map_err(|err| err.to_string());
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
        redis::Client::build_with_tls(
            url,
            TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map(Source::Direct)
        .map_err(|err| err.to_string())
    }

    /// A client for the server to use now: the URL's, or the master the sentinels name.
    pub async fn client(&self) -> redis::RedisResult<redis::Client> {
        match self {
            Source::Direct(client) => Ok(client.clone()),
            Source::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await,
        }
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

/// The source for a cluster's `redis_url`, with its TLS files and sentinels.
pub fn open_for(url: &str, settings: &crate::config::ClusterSettings) -> Result<Source, String> {
    let tls = &settings.redis_tls;
    let client_cert = tls.cert.as_deref().zip(tls.key.as_deref());
    let sentinel = &settings.redis_sentinel;
    let sentinels = (!sentinel.nodes.is_empty()).then(|| Sentinels {
        nodes: &sentinel.nodes,
        master: &sentinel.master,
        password: sentinel.password.as_deref(),
    });
    Source::open(url, tls.ca.as_deref(), client_cert, sentinels)
}
