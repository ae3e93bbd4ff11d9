//! The `[cluster]` settings: which engine connects the nodes, how to reach it, and how the
//! nodes watch each other. Every source writes `ClusterSetting`s into the draft's
//! `ClusterDraft`; [`ClusterDraft::finish`] checks the result and builds `ClusterSettings`.
//!
//! Engine addresses are URLs with their credentials (`redis://user:pass@host:6379/0`,
//! `nats://user:pass@host:4222`, `nats://token@host:4222`). Soketi spreads the same address
//! over several options (host, port, db, password, ...): each edits its part of the current
//! URL, so a later source still wins part by part. Soketi options that only matter for one
//! engine are refused only when that engine is chosen. This module never connects anywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::draft::{Origin, Origins};
use super::error::ConfigError;
use super::settings::{ClusterSettings, Driver};
use super::show::mask_secret;

/// The Redis address when nothing says otherwise (Soketi's default too).
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// The NATS address when nothing says otherwise (Soketi's default too).
pub(crate) const DEFAULT_NATS_SERVER: &str = "nats://127.0.0.1:4222";

/// The engine, before its address is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverKind {
    Local,
    Redis,
    Nats,
}

impl DriverKind {
    /// `local`, `redis` or `nats`, any case.
    pub(crate) fn parse(text: &str) -> Option<DriverKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "local" => Some(DriverKind::Local),
            "redis" => Some(DriverKind::Redis),
            "nats" => Some(DriverKind::Nats),
            _ => None,
        }
    }
}

/// One part of the Redis address, as Soketi's `database.redis.*` options give it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RedisPart {
    Host(String),
    Port(u16),
    Db(u64),
    Username(String),
    Password(String),
    /// ioredis' `tls: {}`: TLS with the system's roots (`rediss://`).
    Tls,
}

/// Soketi's NATS credentials, embedded into the server URLs that carry none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NatsCredential {
    User(String),
    Password(String),
    Token(String),
}

/// Whether a Soketi option sockwave does not implement is in effect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EngineOptionState {
    /// Its value changes nothing (a later source may withdraw an earlier refusal this way).
    Harmless,
    /// Refused if its engine is chosen; `accepted` is the value that would be fine.
    Unsupported { accepted: Option<&'static str> },
}

/// One cluster setting, already in the units `ClusterSettings` uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClusterSetting {
    Driver(DriverKind),
    RedisUrl(String),
    RedisPart(RedisPart),
    NatsServers(Vec<String>),
    NatsCredential(NatsCredential),
    Prefix(String),
    /// Soketi's per-engine prefix (`adapter.redis.prefix`, `adapter.nats.prefix`): used only
    /// when that engine is chosen.
    EnginePrefix(DriverKind, String),
    HeartbeatInterval(Duration),
    NodeTimeout(Duration),
    ReadyRequiresEngine(bool),
    /// Redis Cluster startup nodes (`host:port`), sockwave's `redis_cluster_nodes`: a
    /// non-empty list turns cluster mode on.
    RedisClusterNodes(Vec<String>),
    /// Soketi's `adapter.redis.clusterMode`: whether `SoketiClusterNodes` are used.
    SoketiClusterMode(bool),
    /// Soketi's `database.redis.clusterNodes`, used only in Soketi's cluster mode.
    SoketiClusterNodes(Vec<String>),
    /// A Soketi option that matters only with `driver`, named by `option`.
    EngineOption {
        option: String,
        driver: DriverKind,
        state: EngineOptionState,
    },
}

impl ClusterSetting {
    /// The TOML key under `[cluster]` this setting shows up as.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ClusterSetting::Driver(_) => "driver",
            ClusterSetting::RedisUrl(_) | ClusterSetting::RedisPart(_) => "redis_url",
            ClusterSetting::NatsServers(_) | ClusterSetting::NatsCredential(_) => "nats_servers",
            ClusterSetting::Prefix(_) | ClusterSetting::EnginePrefix(..) => "prefix",
            ClusterSetting::HeartbeatInterval(_) => "heartbeat_interval",
            ClusterSetting::NodeTimeout(_) => "node_timeout",
            ClusterSetting::ReadyRequiresEngine(_) => "ready_requires_engine",
            ClusterSetting::RedisClusterNodes(_)
            | ClusterSetting::SoketiClusterMode(_)
            | ClusterSetting::SoketiClusterNodes(_) => "redis_cluster_nodes",
            ClusterSetting::EngineOption { .. } => "driver",
        }
    }
}

/// `cluster.{key}`, how origins of cluster settings are keyed.
pub(crate) fn cluster_field(key: &str) -> String {
    format!("cluster.{key}")
}

/// Cluster settings as the sources leave them, checked by [`ClusterDraft::finish`].
#[derive(Debug)]
pub(crate) struct ClusterDraft {
    driver: DriverKind,
    redis_url: String,
    /// A Soketi Redis option that could not be applied to the URL, reported if Redis is chosen.
    redis_part_error: Option<ConfigError>,
    nats_servers: Vec<String>,
    nats_user: Option<(String, Origin)>,
    nats_password: Option<String>,
    nats_token: Option<(String, Origin)>,
    prefix: String,
    engine_prefixes: Vec<(DriverKind, String, Origin)>,
    heartbeat_interval: Duration,
    node_timeout: Duration,
    ready_requires_engine: bool,
    redis_cluster_nodes: Vec<String>,
    /// Where Soketi's cluster mode was turned on, if it is.
    soketi_cluster_mode: Option<Origin>,
    soketi_cluster_nodes: Option<(Vec<String>, Origin)>,
    unsupported: BTreeMap<String, (DriverKind, Origin, Option<&'static str>)>,
}

impl Default for ClusterDraft {
    fn default() -> Self {
        let defaults = ClusterSettings::default();
        ClusterDraft {
            driver: DriverKind::Local,
            redis_url: DEFAULT_REDIS_URL.to_string(),
            redis_part_error: None,
            nats_servers: vec![DEFAULT_NATS_SERVER.to_string()],
            nats_user: None,
            nats_password: None,
            nats_token: None,
            prefix: defaults.prefix,
            engine_prefixes: Vec::new(),
            heartbeat_interval: defaults.heartbeat_interval,
            node_timeout: defaults.node_timeout,
            ready_requires_engine: defaults.ready_requires_engine,
            redis_cluster_nodes: Vec::new(),
            soketi_cluster_mode: None,
            soketi_cluster_nodes: None,
            unsupported: BTreeMap::new(),
        }
    }
}

impl ClusterDraft {
    /// Applies one setting; a later call wins. Records the origin of what it changed.
    pub(crate) fn apply(&mut self, setting: ClusterSetting, origin: Origin, origins: &mut Origins) {
        let field = cluster_field(setting.key());
        match setting {
            ClusterSetting::Driver(driver) => self.driver = driver,
            ClusterSetting::RedisUrl(url) => {
                self.redis_url = url;
                self.redis_part_error = None;
            }
            ClusterSetting::RedisPart(part) => match edit_redis_url(&self.redis_url, &part) {
                Ok(url) => self.redis_url = url,
                Err(reason) => {
                    self.redis_part_error = Some(ConfigError::Invalid {
                        origin,
                        value: part.shown(),
                        reason,
                    });
                    return;
                }
            },
            ClusterSetting::NatsServers(servers) => self.nats_servers = servers,
            ClusterSetting::NatsCredential(credential) => {
                match credential {
                    NatsCredential::User(user) => self.nats_user = Some((user, origin)),
                    NatsCredential::Password(password) => self.nats_password = Some(password),
                    NatsCredential::Token(token) => self.nats_token = Some((token, origin)),
                }
                // The servers' origin stays: the credentials only complete their URLs.
                return;
            }
            ClusterSetting::Prefix(prefix) => {
                self.prefix = prefix;
                // A later source's prefix beats an earlier Soketi per-engine one.
                self.engine_prefixes.clear();
            }
            ClusterSetting::EnginePrefix(driver, prefix) => {
                self.engine_prefixes.retain(|(kind, ..)| *kind != driver);
                self.engine_prefixes.push((driver, prefix, origin));
                return;
            }
            ClusterSetting::HeartbeatInterval(interval) => self.heartbeat_interval = interval,
            ClusterSetting::NodeTimeout(timeout) => self.node_timeout = timeout,
            ClusterSetting::ReadyRequiresEngine(on) => self.ready_requires_engine = on,
            ClusterSetting::RedisClusterNodes(nodes) => self.redis_cluster_nodes = nodes,
            // Soketi's pair only counts together, and only if sockwave's own list is empty;
            // `finish` decides and records the origin then.
            ClusterSetting::SoketiClusterMode(on) => {
                self.soketi_cluster_mode = on.then_some(origin);
                return;
            }
            ClusterSetting::SoketiClusterNodes(nodes) => {
                self.soketi_cluster_nodes = Some((nodes, origin));
                return;
            }
            ClusterSetting::EngineOption {
                option,
                driver,
                state,
            } => {
                match state {
                    EngineOptionState::Harmless => self.unsupported.remove(&option),
                    EngineOptionState::Unsupported { accepted } => {
                        self.unsupported.insert(option, (driver, origin, accepted))
                    }
                };
                return;
            }
        }
        origins.insert(field, origin);
    }

    /// Checks the settings and builds them; errors name the source of the offending value.
    pub(crate) fn finish(self, origins: &mut Origins) -> Result<ClusterSettings, ConfigError> {
        let origin = |origins: &Origins, key: &str| {
            origins
                .get(&cluster_field(key))
                .cloned()
                .unwrap_or(Origin::Default)
        };
        let invalid =
            |origins: &Origins, key: &str, value: String, reason: &str| ConfigError::Invalid {
                origin: origin(origins, key),
                value,
                reason: reason.to_string(),
            };
        let driver = self.driver;
        if let Some((_, origin, accepted)) = self.unsupported.values().find(|(d, ..)| *d == driver)
        {
            return Err(ConfigError::Unsupported {
                origin: origin.clone(),
                accepted: accepted.map(String::from),
            });
        }

        let mut prefix = self.prefix;
        if let Some((_, engine_prefix, source)) = self
            .engine_prefixes
            .into_iter()
            .find(|(kind, ..)| *kind == driver)
        {
            prefix = engine_prefix;
            origins.insert(cluster_field("prefix"), source);
        }
        if prefix.is_empty() || prefix.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
        {
            let reason = "must be non-empty, without whitespace, '*' or '>'";
            return Err(invalid(origins, "prefix", format!("'{prefix}'"), reason));
        }

        if self.heartbeat_interval.is_zero() {
            let reason = "must be more than 0 seconds";
            return Err(invalid(origins, "heartbeat_interval", "0".into(), reason));
        }
        if self.node_timeout <= self.heartbeat_interval * 2 {
            let reason = format!(
                "must be more than twice heartbeat_interval ({} s), or one lost heartbeat would \
                 count a live node as dead",
                secs(self.heartbeat_interval)
            );
            let value = secs(self.node_timeout);
            return Err(invalid(origins, "node_timeout", value, &reason));
        }

        let mut redis_cluster_nodes = Vec::new();
        let driver = match driver {
            DriverKind::Local => Driver::Local,
            DriverKind::Redis => {
                if let Some(err) = self.redis_part_error {
                    return Err(err);
                }
                if let Err(reason) = check_redis_url(&self.redis_url) {
                    let value = format!("'{}'", mask_url(&self.redis_url, false));
                    return Err(invalid(origins, "redis_url", value, &reason));
                }
                redis_cluster_nodes = match (self.redis_cluster_nodes, self.soketi_cluster_mode) {
                    (nodes, _) if !nodes.is_empty() => nodes,
                    (_, None) => Vec::new(),
                    (_, Some(mode_origin)) => match self.soketi_cluster_nodes {
                        Some((nodes, nodes_origin)) if !nodes.is_empty() => {
                            origins.insert(cluster_field("redis_cluster_nodes"), nodes_origin);
                            nodes
                        }
                        _ => {
                            return Err(ConfigError::Invalid {
                                origin: mode_origin,
                                value: "true".into(),
                                reason: "Redis Cluster needs its nodes: set \
                                         database.redis.clusterNodes \
                                         (SOKETI_DB_REDIS_CLUSTER_NODES), e.g. \
                                         [{\"host\": \"10.0.0.1\", \"port\": 6379}]"
                                    .into(),
                            })
                        }
                    },
                };
                if let Err((node, reason)) =
                    check_cluster_nodes(&redis_cluster_nodes, &self.redis_url)
                {
                    return Err(invalid(origins, "redis_cluster_nodes", node, &reason));
                }
                Driver::Redis {
                    url: self.redis_url,
                }
            }
            DriverKind::Nats => {
                let credentials =
                    nats_userinfo(self.nats_user, self.nats_password, self.nats_token)?;
                let servers: Vec<String> = self
                    .nats_servers
                    .iter()
                    .map(|server| match &credentials {
                        Some((user, password)) if userinfo_of(server).is_none() => {
                            with_userinfo(server, user, password.as_deref())
                        }
                        _ => server.clone(),
                    })
                    .collect();
                if let Err((server, reason)) = check_nats_servers(&servers) {
                    let value = format!("'{}'", mask_url(&server, true));
                    return Err(invalid(origins, "nats_servers", value, &reason));
                }
                Driver::Nats { servers }
            }
        };
        Ok(ClusterSettings {
            driver,
            prefix,
            heartbeat_interval: self.heartbeat_interval,
            node_timeout: self.node_timeout,
            ready_requires_engine: self.ready_requires_engine,
            // Filled in by validation from the `redis_tls_*` settings.
            redis_tls: Default::default(),
            redis_sentinel: Default::default(),
            redis_cluster_nodes,
        })
    }
}

impl RedisPart {
    /// The value for an error message; a password is never shown.
    fn shown(&self) -> String {
        match self {
            RedisPart::Host(host) => format!("'{host}'"),
            RedisPart::Port(port) => port.to_string(),
            RedisPart::Db(db) => db.to_string(),
            RedisPart::Username(user) => format!("'{user}'"),
            RedisPart::Password(_) => "(hidden)".to_string(),
            RedisPart::Tls => "{}".to_string(),
        }
    }
}

fn secs(duration: Duration) -> String {
    format!("{}", duration.as_secs_f64())
}

/// Replaces one part of a Redis URL (values are percent-encoded as needed).
fn edit_redis_url(current: &str, part: &RedisPart) -> Result<String, String> {
    let Some(mut url) = redis::parse_redis_url(current) else {
        return Err(format!(
            "cannot be applied to the Redis URL '{}', which is not valid",
            mask_url(current, false)
        ));
    };
    let edited = match part {
        RedisPart::Host(host) if host.trim().is_empty() => Err(()),
        RedisPart::Host(host) => url.set_host(Some(host.trim())).map_err(|_| ()),
        RedisPart::Port(port) => url.set_port(Some(*port)),
        RedisPart::Db(db) => {
            url.set_path(&format!("/{db}"));
            Ok(())
        }
        RedisPart::Username(user) => url.set_username(user),
        RedisPart::Password(password) => url.set_password(Some(password)),
        RedisPart::Tls => url.set_scheme("rediss"),
    };
    match edited {
        Ok(()) => Ok(url.to_string()),
        Err(()) => Err(match part {
            RedisPart::Host(_) => "expected a host name or IP address".to_string(),
            _ => "cannot be set on the Redis URL".to_string(),
        }),
    }
}

/// A Redis URL sockwave can connect with: `redis://` or `rediss://`, a host, a numeric db.
fn check_redis_url(url: &str) -> Result<(), String> {
    const SHAPE: &str = "expected a URL like redis://[user:password@]host:6379/0";
    let parsed = redis::parse_redis_url(url).ok_or(SHAPE)?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(SHAPE.to_string());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("has no host; {SHAPE}"));
    }
    let db = parsed.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("the path must be a database number; {SHAPE}"));
    }
    redis::IntoConnectionInfo::into_connection_info(url)
        .map(|_| ())
        .map_err(|err| format!("{err}"))
}

/// Each node is `host:port`, and the URL's database is 0, the only one Redis Cluster has.
fn check_cluster_nodes(nodes: &[String], url: &str) -> Result<(), (String, String)> {
    for node in nodes {
        let port_ok = node
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            let reason = "expected host:port for each Redis Cluster node".to_string();
            return Err((format!("'{node}'"), reason));
        }
    }
    let db = redis::parse_redis_url(url)
        .map(|parsed| parsed.path().trim_start_matches('/').to_string())
        .unwrap_or_default();
    if !nodes.is_empty() && !matches!(db.as_str(), "" | "0") {
        let reason =
            format!("Redis Cluster has only database 0, but redis_url selects database {db}");
        return Err((format!("'{}'", nodes.join(",")), reason));
    }
    Ok(())
}

/// Every server must be a `nats://` URL, and all must carry the same credentials (the client
/// authenticates the same way with each).
fn check_nats_servers(servers: &[String]) -> Result<(), (String, String)> {
    let Some(first) = servers.first() else {
        return Err((
            String::new(),
            "expected at least one nats:// URL".to_string(),
        ));
    };
    for server in servers {
        let parsed = server
            .strip_prefix("nats://")
            .filter(|rest| !rest.is_empty())
            .and_then(|_| server.parse::<async_nats::ServerAddr>().ok());
        if parsed.is_none() {
            let reason = "expected a URL like nats://[user:password@]host:4222".to_string();
            return Err((server.clone(), reason));
        }
        if userinfo_of(server) != userinfo_of(first) {
            let reason = "every NATS server URL must carry the same credentials".to_string();
            return Err((server.clone(), reason));
        }
    }
    Ok(())
}

/// Soketi's NATS user and password, or token (a user alone), if any.
fn nats_userinfo(
    user: Option<(String, Origin)>,
    password: Option<String>,
    token: Option<(String, Origin)>,
) -> Result<Option<(String, Option<String>)>, ConfigError> {
    match (user, token) {
        (Some((_, origin)), Some(_)) => Err(ConfigError::Invalid {
            origin,
            value: "(user)".to_string(),
            reason: "set either a NATS token or a user and password, not both".to_string(),
        }),
        (Some((user, origin)), None) => match password {
            Some(password) => Ok(Some((user, Some(password)))),
            None => Err(ConfigError::Invalid {
                origin,
                value: format!("'{user}'"),
                reason: "a NATS user needs a password".to_string(),
            }),
        },
        (None, Some((token, _))) => Ok(Some((token, None))),
        (None, None) => Ok(None),
    }
}

/// The user and password a URL carries, decoded; `None` without a user.
fn userinfo_of(url: &str) -> Option<(String, Option<String>)> {
    let parsed = url::Url::parse(url).ok()?;
    let decoded = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    (!parsed.username().is_empty() || parsed.password().is_some())
        .then(|| (decoded(parsed.username()), parsed.password().map(decoded)))
}

/// The URL with this user and password (percent-encoded as needed).
fn with_userinfo(url: &str, user: &str, password: Option<&str>) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    match parsed.set_username(user).and(parsed.set_password(password)) {
        Ok(()) => parsed.to_string(),
        Err(()) => url.to_string(),
    }
}

/// The URL with its password masked (at most a quarter of the decoded secret shows); with
/// `user_is_secret` (NATS, where a user alone is a token) a user without a password is
/// masked too.
pub(crate) fn mask_url(url: &str, user_is_secret: bool) -> String {
    match userinfo_of(url) {
        Some((user, Some(password))) => with_userinfo(url, &user, Some(&mask_secret(&password))),
        Some((user, None)) if user_is_secret => with_userinfo(url, &mask_secret(&user), None),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
